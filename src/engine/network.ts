/** A network bound to the backend: its kernels and biases as variables, its masks, its forward pass. */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../models/network';
import { liveUnits } from '../models/masks';
import { kindOf } from '../models/layers';
import { opsOf } from './layerOps';

/** A network's variables and masks on the current backend. */
export interface Bound {
  kernels: tf.Variable[];
  biases: tf.Variable[];
  kernelMasks: tf.Tensor[];
  biasMasks: tf.Tensor[];
}

export function bind(net: Network): Bound {
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  return {
    // tidy disposes the initial-value tensors; the variables survive it.
    kernels: net.params.map((p, l) => tf.tidy(() => tf.variable(tf.tensor(p.kernel, net.layers[l].kernelShape), true))),
    biases: net.params.map((p, l) =>
      tf.tidy(() => tf.variable(tf.tensor1d(p.bias.map((b, u) => (units[l][u] ? b : 0))), true)),
    ),
    kernelMasks: net.params.map((p, l) => tf.tensor(Float32Array.from(p.mask), net.layers[l].kernelShape)),
    biasMasks: units.map((u) => tf.tensor1d(Float32Array.from(u))),
  };
}

export function unbind(b: Bound): void {
  tf.dispose([...b.kernels, ...b.biases, ...b.kernelMasks, ...b.biasMasks]);
}

/** The forward pass of the architecture, as tfjs ops over the bound variables. */
export function forward(net: Network, kernels: tf.Tensor[], biases: tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  let h: tf.Tensor = x;
  let l = 0;
  for (const spec of net.arch.layers) {
    if (kindOf(spec).weighted) {
      h = opsOf(spec).forward(spec, h, kernels[l], biases[l]);
      l++;
    } else {
      h = opsOf(spec).forward(spec, h);
    }
  }
  return h as tf.Tensor2D;
}
