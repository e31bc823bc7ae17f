/**
 * What each generation reports (docs/method.md, "What each generation reports"), computed from
 * masks alone: synapses, clusters at both granularities, live dense neurons, and the size and
 * MACs of the compacted network.
 */
import type { WeightedLayer } from '../models/architecture';
import { countOnes, liveClusters } from '../encoding/clusters';
import { liveUnits } from '../models/masks';

export interface LayerMeasure {
  name: string;
  kind: 'conv' | 'dense';
  synapses: number;
  /** Live output units (filters or neurons). */
  units: number;
  totalUnits: number;
  /** conv only: live kh x kw kernels (cin, cout pairs with a live synapse). */
  kernels: number;
  /** The compacted layer's fan-in: input channels (conv) or rows (dense) read from live units. */
  inputs: number;
  /** Multiply-accumulates of the compacted dense layer per sample. */
  macs: number;
  /** Weights plus biases of the compacted layer. */
  params: number;
}

export interface NetworkMeasure {
  synapses: number;
  filters: number;
  kernels: number;
  denseNeurons: number;
  macs: number;
  params: number;
  layers: LayerMeasure[];
}

/**
 * Compaction removes dead units and what reads from them, nothing else: the first layer keeps
 * every data input, and a dense layer after a flatten keeps every position of a live channel.
 */
function compactInputs(layer: WeightedLayer, liveBefore: number): number {
  return layer.prevUnits === 0 ? layer.inUnits : (layer.inUnits / layer.prevUnits) * liveBefore;
}

export function measure(layers: WeightedLayer[], masks: Uint8Array[]): NetworkMeasure {
  const units = liveUnits(layers, masks);
  const perLayer = layers.map((layer, l): LayerMeasure => {
    const live = countOnes(units[l]);
    const inputs = compactInputs(layer, l === 0 ? 0 : countOnes(units[l - 1]));
    const positions = layer.outHeight * layer.outWidth;
    return {
      name: layer.name,
      kind: layer.kind,
      synapses: countOnes(masks[l]),
      units: live,
      totalUnits: layer.outUnits,
      kernels: layer.kind === 'conv' ? countOnes(liveClusters(layer, masks[l], 'kernel')) : 0,
      inputs,
      macs: positions * layer.spatial * inputs * live,
      params: layer.spatial * inputs * live + live,
    };
  });
  const sum = (f: (m: LayerMeasure) => number, only?: (m: LayerMeasure, l: number) => boolean): number =>
    perLayer.reduce((a, m, l) => a + (only && !only(m, l) ? 0 : f(m)), 0);
  return {
    synapses: sum((m) => m.synapses),
    filters: sum(
      (m) => m.units,
      (m) => m.kind === 'conv',
    ),
    kernels: sum(
      (m) => m.kernels,
      (m) => m.kind === 'conv',
    ),
    denseNeurons: sum(
      (m) => m.units,
      (m, l) => m.kind === 'dense' && !layers[l].isOutput,
    ),
    macs: sum((m) => m.macs),
    params: sum((m) => m.params),
    layers: perLayer,
  };
}
