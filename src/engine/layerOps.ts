/**
 * The engine's half of the layer-kind table (models/layers.ts): each kind's tfjs ops for the
 * forward pass and its tfjs-layers layer for saving and exporting. A new kind is one entry here.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerKindName, LayerSpec } from '../models/layers';

type SpecOf<K extends LayerKindName> = Extract<LayerSpec, { kind: K }>;

interface LayerOps<S extends LayerSpec> {
  /** The layer's output for `h`; weighted kinds get their kernel and bias. */
  forward(spec: S, h: tf.Tensor, kernel?: tf.Tensor, bias?: tf.Tensor): tf.Tensor;
  /** The same layer as a plain tfjs-layers layer (`first` carries the input shape for the first). */
  layer(spec: S, first: { inputShape?: number[] }): tfl.layers.Layer;
}

function activate(h: tf.Tensor, activation: 'linear' | 'relu'): tf.Tensor {
  return activation === 'relu' ? tf.relu(h) : h;
}

const ops: { [K in LayerKindName]: LayerOps<SpecOf<K>> } = {
  conv: {
    forward: (s, h, k, b) =>
      activate(tf.add(tf.conv2d(h as tf.Tensor4D, k as tf.Tensor4D, s.stride, s.padding), b!), s.activation),
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
    forward: (s, h) => tf.maxPool(h as tf.Tensor4D, s.size, s.stride ?? s.size, s.padding ?? 'valid'),
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
    layer: (s, first) => tfl.layers.flatten({ ...first, name: s.name }),
  },
  dense: {
    forward: (s, h, k, b) => activate(tf.add(tf.matMul(h as tf.Tensor2D, k as tf.Tensor2D), b!), s.activation),
    layer: (s, first) => tfl.layers.dense({ ...first, name: s.name, units: s.units, activation: s.activation }),
  },
};

/** The ops for a spec's kind. */
export function opsOf<S extends LayerSpec>(spec: S): LayerOps<S> {
  return ops[spec.kind] as unknown as LayerOps<S>;
}
