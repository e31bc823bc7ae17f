/**
 * The training loss: tfjs's `tf.losses.softmaxCrossEntropy(labels, logits)` (mean over the batch
 * of -sum(labels * logSoftmax(logits))), op for op, so its value and its gradient are the same
 * floats. What differs is the bookkeeping: tfjs's custom gradient takes the labels as an input, so
 * every backward pass also computed their gradient (five kernels), which nothing reads; here the
 * labels are a constant, and the two casts of float32 tensors to float32 (copies) are left out.
 */
import * as tf from '@tensorflow/tfjs-core';

export function softmaxCrossEntropy(labels: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  const [n, classes] = logits.shape;
  if (labels.shape[0] !== n || labels.shape[1] !== classes) {
    throw new Error(`softmaxCrossEntropy: labels ${labels.shape} against logits ${logits.shape}`);
  }
  const perSample = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const logResult = tf.sub(x, tf.logSumExp(x, [1], true));
    save([logResult]);
    const value = tf.sum(tf.neg(tf.mul(logResult, labels)), [1]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.mul(tf.reshape(dy, [n, 1]), tf.sub(tf.exp(saved[0]), labels));
    return { value, gradFunc };
  });
  return tf.div(tf.sum(perSample(logits)), tf.scalar(n)) as tf.Scalar;
}
