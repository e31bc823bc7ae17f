/** The optimizers training can use, and tfjs's optimizer for each. */
import * as tf from '@tensorflow/tfjs-core';
import { sgdLearningRateScalar } from './tfjsInternals';

export const optimizerChoices = ['sgd', 'momentum', 'adam'] as const;
export type OptimizerName = (typeof optimizerChoices)[number];

/** The momentum of --optimizer momentum. */
export const MOMENTUM = 0.9;

export function makeOptimizer(o: { optimizer: OptimizerName; learningRate: number }): tf.Optimizer {
  switch (o.optimizer) {
    case 'sgd':
      return tf.train.sgd(o.learningRate);
    case 'momentum':
      return tf.train.momentum(o.learningRate, MOMENTUM);
    case 'adam':
      return tf.train.adam(o.learningRate);
  }
}

/**
 * tfjs 4.22's MomentumOptimizer.dispose() skips its parent's learning-rate scalar (one tensor
 * leaked per offspring), so dispose that too.
 */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  const c = sgdLearningRateScalar(optimizer);
  optimizer.dispose();
  if (c && !c.isDisposed) c.dispose();
}
