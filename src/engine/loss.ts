/**
 * The training loss, tfjs's `tf.losses.softmaxCrossEntropy(labels, logits)` (mean over the batch
 * of -sum(labels * logSoftmax(logits))), and its gradient for the logits, op for op as tfjs's tape
 * computes them, so they are the same floats (test/loss.test.ts). Without the tape: tfjs's custom
 * gradient also computed a gradient for the labels (five kernels) that nothing read, and cast two
 * float32 tensors to float32 (copies).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Per sample, -sum(labels * logSoftmax): tfjs's ops; `logResult` is logSoftmax, which the gradient reads. */
function perSampleLoss(labels: tf.Tensor, logits: tf.Tensor): { value: tf.Tensor; logResult: tf.Tensor } {
  const logResult = tf.sub(logits, tf.logSumExp(logits, [1], true));
  return { value: tf.sum(tf.neg(tf.mul(logResult, labels)), [1]), logResult };
}

/** The gradient of the per-sample losses for the logits, given theirs (`dy`, [n]): tfjs's custom gradient's. */
function perSampleGradient(dy: tf.Tensor, logResult: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  return tf.mul(tf.reshape(dy, [dy.shape[0], 1]), tf.sub(tf.exp(logResult), labels));
}

function checkShapes(labels: tf.Tensor2D, logits: tf.Tensor2D): void {
  const [n, classes] = logits.shape;
  if (labels.shape[0] !== n || labels.shape[1] !== classes) {
    throw new Error(`softmaxCrossEntropy: labels ${labels.shape} against logits ${logits.shape}`);
  }
}

/**
 * The loss and its gradient for the logits, with the ops tfjs's backward pass runs: d loss = 1;
 * through the division by n, 1 / n; through the sum, that for every sample; then the custom
 * gradient's.
 */
export function softmaxCrossEntropyAndGradient(
  labels: tf.Tensor2D,
  logits: tf.Tensor2D,
): { loss: tf.Scalar; dLogits: tf.Tensor2D } {
  checkShapes(labels, logits);
  const n = logits.shape[0];
  const { value, logResult } = perSampleLoss(labels, logits);
  const loss = tf.div(tf.sum(value), tf.scalar(n)) as tf.Scalar;
  const dValue = tf.mul(tf.reshape(tf.div(tf.ones([]), tf.scalar(n)), [1]), tf.ones([n]));
  return { loss, dLogits: perSampleGradient(dValue, logResult, labels) as tf.Tensor2D };
}

/**
 * The loss with weight decay: (weightDecay / 2) * the sum of squared kernel weights added, as
 * tfjs ops (the tape differentiates this form). Its gradient adds weightDecay * w to each
 * kernel's, which the mask then zeroes for dead synapses, so they stay exactly 0. Biases are not
 * decayed.
 */
export function withDecay(loss: tf.Scalar, kernels: tf.Tensor[], weightDecay = 0): tf.Scalar {
  if (!(weightDecay > 0)) return loss;
  const squares = tf.addN(kernels.map((k) => tf.sum(tf.square(k))));
  return tf.add(loss, tf.mul(squares, weightDecay / 2));
}

/**
 * The decay term's gradient for one kernel, as tfjs's tape computes it: through the addition 1,
 * through the product weightDecay / 2 (as a float32), through the sum that for every weight, and
 * through the square, times (w * 2).
 */
export function decayGradient(kernel: tf.Tensor, weightDecay: number): tf.Tensor {
  return tf.mul(tf.scalar(weightDecay / 2), tf.mul(kernel, 2));
}
