/** Top-1 accuracy of a network over a split. */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../models/network';
import type { Split } from '../data/dataset';
import { imageBatch } from './batches';
import { bind, forward, unbind } from './network';

/** Top-1 accuracy over a split, in large batches. */
export async function evaluate(net: Network, data: Split, batchSize = 1000): Promise<number> {
  if (data.count === 0) return NaN;
  const b = bind(net);
  let correct = 0;
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const predicted = tf.tidy(() =>
        tf.argMax(forward(net, b.kernels, b.biases, imageBatch(data, null, start, end, net.arch.inputShape)), 1),
      );
      const p = await predicted.data();
      predicted.dispose();
      for (let i = start; i < end; i++) if (p[i - start] === data.labels[i]) correct++;
    }
  } finally {
    unbind(b);
  }
  return correct / data.count;
}
