// The training loss is tfjs's softmax cross-entropy, float for float, without the labels' gradient.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { selectBackend } from '../src/engine/backend';
import { softmaxCrossEntropy } from '../src/engine/loss';

/** The loss and its gradient for the logits, as bytes. */
function lossAndGradient(
  loss: (y: tf.Tensor2D, x: tf.Tensor2D) => tf.Scalar,
  y: tf.Tensor2D,
  x: tf.Tensor2D,
): Buffer[] {
  return tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad((logits: tf.Tensor) => loss(y, logits as tf.Tensor2D))(x);
    return [value, grad].map((t) => Buffer.from((t.dataSync() as Float32Array).buffer));
  });
}

test('softmaxCrossEntropy gives tfjs losses.softmaxCrossEntropy floats and gradient, on wasm and cpu', async () => {
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
      const stock = lossAndGradient((a, b) => tf.losses.softmaxCrossEntropy(a, b) as tf.Scalar, y as tf.Tensor2D, x);
      const ours = lossAndGradient(softmaxCrossEntropy, y as tf.Tensor2D, x);
      assert.ok(ours[0].equals(stock[0]), `${backend} ${n}x${classes}: the loss differs`);
      assert.ok(ours[1].equals(stock[1]), `${backend} ${n}x${classes}: the gradient differs`);
      tf.dispose([x, y]);
    }
  }
});

test('softmaxCrossEntropy refuses labels of another shape', async () => {
  await selectBackend('cpu');
  tf.tidy(() => {
    assert.throws(() => softmaxCrossEntropy(tf.zeros([4, 3]), tf.zeros([4, 10])), /labels 4,3 against logits 4,10/);
  });
});
