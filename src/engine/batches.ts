/** A training or evaluation batch on the backend: images as floats, labels one-hot, epochs' orders. */
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import type { Random } from '../random';
import type { Split } from '../data/dataset';
import { byteTable, fillBatch } from '../data/preprocess';
import { nativeImageBatch } from './kernels/native';

/**
 * A batch of images as floats, NHWC: x / 255, normalised as the split says; augmented when
 * `augment` is given (training only). `indices` null means samples start..end in order. Without
 * augmentation the native kernels gather it straight into the WASM heap (the same floats).
 */
export function imageBatch(
  split: Split,
  indices: ArrayLike<number> | null,
  start: number,
  end: number,
  shape: number[],
  augment?: Random,
): tf.Tensor4D {
  const crop = split.input?.augment;
  if (!(crop && augment) && (indices === null || indices instanceof Uint32Array)) {
    const table = byteTable(shape[2], split.input?.normalise);
    const batch = nativeImageBatch({ images: split.images, indices, start, end, shape, table });
    if (batch) return batch;
  }
  const out = new Float32Array((end - start) * shape[0] * shape[1] * shape[2]);
  fillBatch(
    {
      split,
      indices,
      start,
      end,
      inputShape: shape,
      normalise: split.input?.normalise,
      augment: crop && augment ? { ...crop, rng: augment } : undefined,
    },
    out,
  );
  return tf.tensor4d(out, [end - start, shape[0], shape[1], shape[2]]);
}

/**
 * An epoch's augmentation stream: one draw from the training stream names it, taken only when the
 * split is augmented, so runs without augmentation draw exactly as before and a resumed training
 * (which redraws the skipped epochs' orders) gets the same streams.
 */
export function augmentStream(split: Split, rng: Random): Random | undefined {
  return split.input?.augment ? seedrandom(`augment:${rng()}`) : undefined;
}

/**
 * The batch's labels one-hot, as floats: the 0s and 1s tf.oneHot's int32 tensor is cast to in
 * the loss, built here without the upload of the labels, the OneHot kernel and the cast.
 */
export function oneHotBatch(
  split: Split,
  indices: ArrayLike<number>,
  start: number,
  end: number,
  classes: number,
): tf.Tensor2D {
  const out = new Float32Array((end - start) * classes);
  for (let i = start; i < end; i++) out[(i - start) * classes + split.labels[indices[i]]] = 1;
  return tf.tensor2d(out, [end - start, classes]);
}

/** Fisher-Yates with the given stream, so the seed fixes the batch order. */
export function shuffledIndices(n: number, rng: Random): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
