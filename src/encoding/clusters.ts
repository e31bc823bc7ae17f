/**
 * Synaptic clusters (docs/method.md, "Objects"). `filter` granularity: the synapses feeding one
 * output unit. `kernel` granularity: one kh x kw slice for a (cin, cout) pair of a conv layer;
 * dense layers keep neuron clusters either way.
 */
import { type WeightedLayer, inIndexOf, outUnitOf } from '../models/architecture';

export const granularities = ['filter', 'kernel'] as const;
export type Granularity = (typeof granularities)[number];

export function clusterCount(layer: WeightedLayer, granularity: Granularity): number {
  return granularity === 'kernel' && layer.kind === 'conv' ? layer.inUnits * layer.outUnits : layer.outUnits;
}

/** The cluster of kernel entry `k`. Kernel clusters are numbered cin * cout + cout. */
export function clusterOf(layer: WeightedLayer, granularity: Granularity, k: number): number {
  const out = outUnitOf(layer, k);
  return granularity === 'kernel' && layer.kind === 'conv' ? inIndexOf(layer, k) * layer.outUnits + out : out;
}

/**
 * The cluster of the first entry of kernel row `r` (entries r * outUnits to (r + 1) * outUnits - 1,
 * one per output unit): entry o of the row is in cluster rowCluster + o, as clusterOf says.
 */
export function rowCluster(layer: WeightedLayer, granularity: Granularity, r: number): number {
  return granularity === 'kernel' && layer.kind === 'conv' ? (r % layer.inUnits) * layer.outUnits : 0;
}

/** 1 where a cluster still has at least one live synapse. */
export function liveClusters(layer: WeightedLayer, mask: Uint8Array, granularity: Granularity): Uint8Array {
  const live = new Uint8Array(clusterCount(layer, granularity));
  for (let k = 0; k < mask.length; k++) if (mask[k]) live[clusterOf(layer, granularity, k)] = 1;
  return live;
}

export function countOnes(a: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += a[i];
  return n;
}

/**
 * The layers whose clusters the cluster efficiency counts, and which share the cluster target:
 * the conv layers (the paper's conv kernels); a network without conv layers counts its hidden
 * dense layers instead.
 */
export function clusterLayers(layers: WeightedLayer[]): boolean[] {
  const anyConv = layers.some((layer) => layer.kind === 'conv');
  return layers.map((layer) => !layer.isOutput && (anyConv ? layer.kind === 'conv' : true));
}
