/**
 * Ancestor architectures as plain data (shared/method.md, "Ancestor architectures").
 * Tensors are NHWC; a conv kernel is [kh, kw, cin, cout] and a dense kernel [in, out], so in
 * both the output unit is the last axis and the input unit the one before it.
 */

export type Activation = 'linear' | 'relu';

export type LayerSpec =
  | { kind: 'conv'; name: string; kernelSize: number; filters: number; stride: number; padding: 'valid' | 'same'; activation: Activation }
  | { kind: 'maxpool'; name: string; size: number }
  | { kind: 'flatten'; name: string }
  | { kind: 'dense'; name: string; units: number; activation: Activation };

export interface Architecture {
  name: string;
  /** [height, width, channels] of one input sample. */
  inputShape: [number, number, number];
  layers: LayerSpec[];
}

/** A layer that owns synapses: its kernel shape and where its inputs come from. */
export interface WeightedLayer {
  index: number;
  name: string;
  kind: 'conv' | 'dense';
  /** conv: [kh, kw, cin, cout]; dense: [in, out]. */
  kernelShape: number[];
  inUnits: number;
  outUnits: number;
  /** Spatial positions per input unit slice: kh*kw for conv, 1 for dense. */
  spatial: number;
  /** conv only: the output's height and width (for MACs). */
  outHeight: number;
  outWidth: number;
  /** Units of the previous weighted layer, or 0 for the first (which reads the data). */
  prevUnits: number;
  isOutput: boolean;
}

// Caffe's LeNet as used across the pruning literature: no activation on the conv layers.
export const lenet5: Architecture = {
  name: 'lenet5',
  inputShape: [28, 28, 1],
  layers: [
    { kind: 'conv', name: 'conv1', kernelSize: 5, filters: 20, stride: 1, padding: 'valid', activation: 'linear' },
    { kind: 'maxpool', name: 'pool1', size: 2 },
    { kind: 'conv', name: 'conv2', kernelSize: 5, filters: 50, stride: 1, padding: 'valid', activation: 'linear' },
    { kind: 'maxpool', name: 'pool2', size: 2 },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc1', units: 500, activation: 'relu' },
    { kind: 'dense', name: 'fc2', units: 10, activation: 'linear' },
  ],
};

export const lenet300: Architecture = {
  name: 'lenet300',
  inputShape: [28, 28, 1],
  layers: [
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc1', units: 300, activation: 'relu' },
    { kind: 'dense', name: 'fc2', units: 100, activation: 'relu' },
    { kind: 'dense', name: 'fc3', units: 10, activation: 'linear' },
  ],
};

export const architectures: Record<string, Architecture> = { lenet5, lenet300 };

/** Walks the layer list once, tracking the activation shape, to describe every weighted layer. */
export function weightedLayers(arch: Architecture): WeightedLayer[] {
  let [h, w, c] = arch.inputShape;
  let flat = 0; // > 0 once flattened
  let prevUnits = 0;
  const out: WeightedLayer[] = [];
  for (const spec of arch.layers) {
    switch (spec.kind) {
      case 'conv': {
        if (flat) throw new Error(`${arch.name}: conv layer ${spec.name} after flatten`);
        const k = spec.kernelSize;
        const oh = spec.padding === 'same' ? Math.ceil(h / spec.stride) : Math.floor((h - k) / spec.stride) + 1;
        const ow = spec.padding === 'same' ? Math.ceil(w / spec.stride) : Math.floor((w - k) / spec.stride) + 1;
        out.push({
          index: out.length, name: spec.name, kind: 'conv', kernelShape: [k, k, c, spec.filters],
          inUnits: c, outUnits: spec.filters, spatial: k * k, outHeight: oh, outWidth: ow, prevUnits, isOutput: false,
        });
        [h, w, c] = [oh, ow, spec.filters];
        prevUnits = spec.filters;
        break;
      }
      case 'maxpool':
        h = Math.floor(h / spec.size);
        w = Math.floor(w / spec.size);
        break;
      case 'flatten':
        flat = h * w * c;
        break;
      case 'dense': {
        const inUnits = flat || c;
        out.push({
          index: out.length, name: spec.name, kind: 'dense', kernelShape: [inUnits, spec.units],
          inUnits, outUnits: spec.units, spatial: 1, outHeight: 1, outWidth: 1, prevUnits, isOutput: false,
        });
        flat = 0;
        c = spec.units;
        h = w = 1;
        prevUnits = spec.units;
        break;
      }
    }
  }
  if (out.length === 0) throw new Error(`${arch.name}: no weighted layers`);
  out[out.length - 1].isOutput = true;
  return out;
}

export function kernelSize(layer: WeightedLayer): number {
  return layer.kernelShape.reduce((a, b) => a * b, 1);
}

/** Output unit of kernel entry `k` (last axis). */
export function outUnitOf(layer: WeightedLayer, k: number): number {
  return k % layer.outUnits;
}

/** Input index of kernel entry `k` (conv: input channel; dense: input row). */
export function inIndexOf(layer: WeightedLayer, k: number): number {
  return Math.floor(k / layer.outUnits) % layer.inUnits;
}

/**
 * The unit of the previous weighted layer that feeds input index `i`. Flatten is NHWC, so the
 * channel is the innermost axis: row r of a dense layer after a conv with C channels reads channel r % C.
 */
export function feedingUnit(layer: WeightedLayer, inIndex: number): number {
  return inIndex % layer.prevUnits;
}
