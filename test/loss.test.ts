// The training loss and its gradient are tfjs's softmax cross-entropy's, float for float.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { selectBackend } from '../src/engine/backend';
import { softmaxCrossEntropyAndGradient } from '../src/engine/loss';

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);

/** tfjs's loss and its gradient for the logits (by the tape), as bytes. */
function stock(y: tf.Tensor2D, x: tf.Tensor2D): Buffer[] {
  return tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad((logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, logits))(x);
    return [value, grad].map(bytes);
  });
}

test('the loss and gradient are tfjs losses.softmaxCrossEntropy floats, on wasm and cpu', async () => {
  const rng = seedrandom('loss');
  for (const backend of ['wasm', 'cpu'] as const) {
    await selectBackend(backend);
    for (const [n, classes, scale] of [
      [64, 10, 3],
      [7, 10, 40],
      [3, 5, 0.01],
    ]) {
      const x = tf.tensor2d(
        Float32Array.from({ length: n * classes }, () => (rng() - 0.5) * scale),
        [n, classes],
      );
      const labels = Int32Array.from({ length: n }, () => Math.floor(rng() * classes));
      const y = tf.cast(tf.oneHot(labels, classes), 'float32');
      const reference = stock(y as tf.Tensor2D, x);
      const ours = tf.tidy(() => {
        const { loss, dLogits } = softmaxCrossEntropyAndGradient(y as tf.Tensor2D, x);
        return [loss, dLogits].map(bytes);
      });
      assert.ok(ours[0].equals(reference[0]), `${backend} ${n}x${classes}: the loss differs`);
      assert.ok(ours[1].equals(reference[1]), `${backend} ${n}x${classes}: the gradient differs`);
      tf.dispose([x, y]);
    }
  }
});

test('the loss refuses labels of another shape', async () => {
  await selectBackend('cpu');
  tf.tidy(() => {
    assert.throws(
      () => softmaxCrossEntropyAndGradient(tf.zeros([4, 3]), tf.zeros([4, 10])),
      /labels 4,3 against logits 4,10/,
    );
  });
});
