/**
 * Architectures as plain data: a name, an input shape and a list of layers (models/layers.ts).
 * Tensors are NHWC; a conv kernel is [kh, kw, cin, cout] and a dense kernel [in, out], so in
 * both the output unit is the last axis and the input unit the one before it.
 */

import { type ActivationShape, type LayerSpec, kindOf } from './layers';

export type { Activation, LayerSpec } from './layers';

export interface Architecture {
  name: string;
  /** One line for --help and the README. */
  description?: string;
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

/** Walks the layer list once, tracking the activation shape, to describe every weighted layer. */
export function weightedLayers(arch: Architecture): WeightedLayer[] {
  const [h, w, c] = arch.inputShape;
  let shape: ActivationShape = { h, w, c, flat: false };
  let prevUnits = 0;
  const out: WeightedLayer[] = [];
  for (const spec of arch.layers) {
    const kind = kindOf(spec);
    const next = kind.outShape(spec, shape, arch.name);
    if (kind.weighted) {
      const isConv = kind.weighted.kind === 'conv';
      const k = isConv ? (spec as { kernelSize: number }).kernelSize : 1;
      const outUnits = kind.weighted.units(spec);
      out.push({
        index: out.length,
        name: spec.name,
        kind: kind.weighted.kind,
        kernelShape: isConv ? [k, k, shape.c, outUnits] : [shape.c, outUnits],
        inUnits: shape.c,
        outUnits,
        spatial: k * k,
        outHeight: isConv ? next.h : 1,
        outWidth: isConv ? next.w : 1,
        prevUnits,
        isOutput: false,
      });
      prevUnits = outUnits;
    }
    shape = next;
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
