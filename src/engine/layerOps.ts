/**
 * The engine's half of the layer-kind table (models/layers.ts): each kind's tfjs ops for the
 * forward pass and its tfjs-layers layer for saving and exporting. A new kind is one entry here.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerKindName, LayerSpec } from '../models/layers';

type SpecOf<K extends LayerKindName> = Extract<LayerSpec, { kind: K }>;

/** What a layer's backward pass gives for the gradient at its output (./backprop). */
export interface LayerGradients {
  /** The input's gradient, null when not asked for (nothing before the layer is trained). */
  dx: tf.Tensor | null;
  dKernel?: tf.Tensor;
  dBias?: tf.Tensor;
}

/** A layer's output in a training step, and its backward pass. */
export interface Trained {
  output: tf.Tensor;
  backward(dy: tf.Tensor, needInput: boolean): LayerGradients;
}

interface LayerOps<S extends LayerSpec> {
  /** The layer's output for `h`; weighted kinds get their kernel and bias. */
  forward(spec: S, h: tf.Tensor, kernel?: tf.Tensor, bias?: tf.Tensor): tf.Tensor;
  /**
   * `forward` for a training step, keeping what its backward pass reads. The backward pass runs
   * the kernels tfjs's gradient functions run for these ops, so it gives tfjs's floats.
   */
  train(spec: S, h: tf.Tensor, kernel?: tf.Tensor, bias?: tf.Tensor): Trained;
  /** The same layer as a plain tfjs-layers layer (`first` carries the input shape for the first). */
  layer(spec: S, first: { inputShape?: number[] }): tfl.layers.Layer;
}

function activate(h: tf.Tensor, activation: 'linear' | 'relu'): tf.Tensor {
  return activation === 'relu' ? tf.relu(h) : h;
}

/** tfjs's gradient of `activate` at `pre`: dy * step(pre) for relu (its cast to float32 is a copy). */
function activationGradient(dy: tf.Tensor, pre: tf.Tensor, activation: 'linear' | 'relu'): tf.Tensor {
  return activation === 'relu' ? tf.mul(dy, tf.step(pre)) : dy;
}

/** A kernel called as tfjs's gradient functions call it (the ops behind them are not exported). */
function kernel(name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

function convPre(s: SpecOf<'conv'>, h: tf.Tensor, k: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.add(tf.conv2d(h as tf.Tensor4D, k as tf.Tensor4D, s.stride, s.padding), b);
}

function trainConv(s: SpecOf<'conv'>, h: tf.Tensor, k: tf.Tensor, b: tf.Tensor): Trained {
  const pre = convPre(s, h, k, b);
  return {
    output: activate(pre, s.activation),
    backward(dy, needInput) {
      const d = activationGradient(dy, pre, s.activation);
      const attrs = { strides: s.stride, pad: s.padding, dataFormat: 'NHWC', dimRoundingMode: undefined };
      return {
        dKernel: kernel('Conv2DBackpropFilter', { x: h, dy: d }, { ...attrs, filterShape: k.shape }),
        dBias: tf.sum(d, [0, 1, 2]),
        dx: needInput ? kernel('Conv2DBackpropInput', { dy: d, filter: k }, { ...attrs, inputShape: h.shape }) : null,
      };
    },
  };
}

function densePre(h: tf.Tensor, k: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.add(tf.matMul(h as tf.Tensor2D, k as tf.Tensor2D), b);
}

function trainDense(s: SpecOf<'dense'>, h: tf.Tensor, k: tf.Tensor, b: tf.Tensor): Trained {
  const pre = densePre(h, k, b);
  return {
    output: activate(pre, s.activation),
    backward(dy, needInput) {
      const d = activationGradient(dy, pre, s.activation);
      return {
        dKernel: tf.matMul(h as tf.Tensor2D, d as tf.Tensor2D, true, false),
        dBias: tf.sum(d, [0]),
        dx: needInput ? tf.matMul(d as tf.Tensor2D, k as tf.Tensor2D, false, true) : null,
      };
    },
  };
}

function poolOf(s: SpecOf<'maxpool'>) {
  return { filterSize: s.size, strides: s.stride ?? s.size, pad: s.padding ?? 'valid' };
}

function trainPool(s: SpecOf<'maxpool'>, h: tf.Tensor): Trained {
  const p = poolOf(s);
  const output = tf.maxPool(h as tf.Tensor4D, p.filterSize, p.strides, p.pad);
  return {
    output,
    backward: (dy) => ({ dx: kernel('MaxPoolGrad', { dy, input: h, output }, { ...p, dimRoundingMode: undefined }) }),
  };
}

const ops: { [K in LayerKindName]: LayerOps<SpecOf<K>> } = {
  conv: {
    forward: (s, h, k, b) => activate(convPre(s, h, k!, b!), s.activation),
    train: (s, h, k, b) => trainConv(s, h, k!, b!),
    layer: (s, first) =>
      tfl.layers.conv2d({
        ...first,
        name: s.name,
        filters: s.filters,
        kernelSize: s.kernelSize,
        strides: s.stride,
        padding: s.padding,
        activation: s.activation,
      }),
  },
  maxpool: {
    forward: (s, h) => {
      const p = poolOf(s);
      return tf.maxPool(h as tf.Tensor4D, p.filterSize, p.strides, p.pad);
    },
    train: trainPool,
    layer: (s, first) =>
      tfl.layers.maxPooling2d({
        ...first,
        name: s.name,
        poolSize: s.size,
        strides: s.stride ?? s.size,
        padding: s.padding ?? 'valid',
      }),
  },
  flatten: {
    forward: (_s, h) => tf.reshape(h, [h.shape[0], -1]),
    train: (_s, h) => ({
      output: tf.reshape(h, [h.shape[0], -1]),
      backward: (dy) => ({ dx: tf.reshape(dy, h.shape) }),
    }),
    layer: (s, first) => tfl.layers.flatten({ ...first, name: s.name }),
  },
  dense: {
    forward: (s, h, k, b) => activate(densePre(h, k!, b!), s.activation),
    train: (s, h, k, b) => trainDense(s, h, k!, b!),
    layer: (s, first) => tfl.layers.dense({ ...first, name: s.name, units: s.units, activation: s.activation }),
  },
};

/** The ops for a spec's kind. */
export function opsOf<S extends LayerSpec>(spec: S): LayerOps<S> {
  return ops[spec.kind] as unknown as LayerOps<S>;
}
