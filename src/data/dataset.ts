// In-memory image classification datasets as raw bytes; conversion to tensors happens elsewhere.

/**
 * How a split's bytes become a network's input beyond x / 255: per-channel normalisation with
 * the training split's statistics, and (training only) seeded augmentation.
 */
export interface InputTransform {
  normalise?: { mean: number[]; std: number[] };
  /** Random crop from the image zero-padded by `pad` pixels, and a horizontal flip with p = 1/2. */
  augment?: { pad: number; flip: boolean };
}

/** `count` samples; images are count*H*W*C bytes in row-major NHWC order, labels one byte each. */
export interface Split {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Absent: x / 255 only. */
  input?: InputTransform;
}

export interface Dataset {
  name: string;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  classes: number;
  train: Split;
  validation: Split;
  test: Split;
}

function sampleSize(split: Split): number {
  return split.count === 0 ? 0 : split.images.length / split.count;
}

/** Copies the samples at `indices` (in that order) into a new split. */
export function subset(split: Split, indices: Uint32Array | number[]): Split {
  const size = sampleSize(split);
  const n = indices.length;
  const images = new Uint8Array(n * size);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < split.count && Number.isInteger(j))) {
      throw new RangeError(`subset: index ${j} out of range 0..${split.count - 1}`);
    }
    images.set(split.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = split.labels[j];
  }
  return { images, labels, count: n };
}

/** The first min(n, count) samples, as views into `split` (no copy). */
export function firstN(split: Split, n: number): Split {
  const count = Math.max(0, Math.min(Math.floor(n), split.count));
  const size = sampleSize(split);
  return {
    images: split.images.subarray(0, count * size),
    labels: split.labels.subarray(0, count),
    count,
  };
}
