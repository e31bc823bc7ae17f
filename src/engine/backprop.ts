/**
 * One training step's loss and gradients without tfjs's gradient tape. tf.variableGrads records
 * every op, clones every tensor a gradient keeps (27 kernels a LeNet-5 step), then walks the tape;
 * for a small compacted offspring that bookkeeping was about a tenth of its step. Here each
 * layer's forward pass keeps what its backward pass reads (layerOps `train`), and the backward
 * pass runs the kernels tfjs's gradient functions run, on the same tensors: the same floats as
 * tf.variableGrads of tfjs's softmaxCrossEntropy with the weight decay term (test/backprop.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../models/network';
import { kindOf } from '../models/layers';
import { type Trained, opsOf } from './layerOps';
import { decayGradient, softmaxCrossEntropyAndGradient, withDecay } from './loss';

export interface StepGradients {
  loss: tf.Scalar;
  /** Per weighted layer, in the network's order. */
  kernels: tf.Tensor[];
  biases: tf.Tensor[];
}

/** The training step's loss and its gradients for every kernel and bias, for a batch `x` with one-hot `labels`. */
export function lossAndGradients(
  net: Network,
  kernels: tf.Tensor[],
  biases: tf.Tensor[],
  x: tf.Tensor4D,
  labels: tf.Tensor2D,
  weightDecay = 0,
): StepGradients {
  const layers: { trained: Trained; weighted: number | null }[] = [];
  let h: tf.Tensor = x;
  let l = 0;
  for (const spec of net.arch.layers) {
    const weighted = kindOf(spec).weighted ? l++ : null;
    const trained =
      weighted === null ? opsOf(spec).train(spec, h) : opsOf(spec).train(spec, h, kernels[weighted], biases[weighted]);
    layers.push({ trained, weighted });
    h = trained.output;
  }
  const { loss, dLogits } = softmaxCrossEntropyAndGradient(labels, h as tf.Tensor2D);
  const grads: StepGradients = {
    loss: withDecay(loss, kernels, weightDecay),
    kernels: new Array(l),
    biases: new Array(l),
  };
  // Layers before the first weighted one get no gradient: nothing there is trained.
  const first = layers.findIndex((layer) => layer.weighted !== null);
  let dy: tf.Tensor = dLogits;
  for (let i = layers.length - 1; i >= first && first >= 0; i--) {
    const g = layers[i].trained.backward(dy, i > first);
    const w = layers[i].weighted;
    if (w !== null && g.dKernel && g.dBias) {
      grads.kernels[w] = g.dKernel;
      grads.biases[w] = g.dBias;
    }
    if (g.dx) dy = g.dx;
  }
  // The tape adds a kernel's two gradients as add(decay's, the layer's): the decay's ops come later on it.
  if (weightDecay > 0) grads.kernels = grads.kernels.map((g, w) => tf.add(decayGradient(kernels[w], weightDecay), g));
  return grads;
}
