/**
 * Compaction (docs/method.md, "Development and selection"): a masked network with its dead hidden units
 * removed, as a smaller dense network that computes exactly the same function, and the way back.
 *
 * A hidden unit is dead when it has no live input (`liveUnits`); evolve holds a dead unit's bias
 * at 0, so with a linear or relu activation it outputs exactly 0 and every synapse reading from it
 * contributes nothing. Removing the unit, its incoming synapses and the input rows/channels of the
 * next layer that read from it therefore changes no output. Output units and the data's
 * channels/pixels are never removed. Pure typed-array code: no tensor library.
 */
import { type Architecture, type LayerSpec, type WeightedLayer, kernelSize, weightedLayers } from './architecture';
import { kindOf } from './layers';
import type { LayerParams, Network } from './network';
import { liveUnits } from './masks';

export interface CompactNetwork {
  /** The smaller network: same layer list, fewer filters/units in the hidden weighted layers. */
  net: Network;
  /** Per weighted layer, the original indices of the units kept, ascending. */
  kept: Int32Array[];
}

const SUFFIX = '-compact';

/** The compacted architecture: the same layers with `filters`/`units` set to the kept counts. */
function compactArchitecture(arch: Architecture, kept: Int32Array[]): Architecture {
  let l = 0;
  const layers = arch.layers.map((spec): LayerSpec => {
    const weighted = kindOf(spec).weighted;
    return weighted ? weighted.withUnits(spec, kept[l++].length) : { ...spec };
  });
  return {
    name: arch.name.endsWith(SUFFIX) ? arch.name : arch.name + SUFFIX,
    inputShape: [...arch.inputShape] as [number, number, number],
    layers,
  };
}

/**
 * For the small layer `small` compacted from `full`: the full-size input index each small input
 * index reads. Inputs are the previous weighted layer's units, repeated per spatial position when
 * a flatten of an NHWC conv output lies between (row = position * C + channel).
 */
export function inputMap(full: WeightedLayer, small: WeightedLayer, keptPrev: Int32Array | undefined): Int32Array {
  if (full.prevUnits === 0 || !keptPrev) {
    // The first weighted layer reads the data, which is never compacted.
    if (small.inUnits !== full.inUnits) throw new Error(`${full.name}: input size ${small.inUnits} != ${full.inUnits}`);
    return Int32Array.from({ length: full.inUnits }, (_, i) => i);
  }
  if (full.inUnits % full.prevUnits !== 0) {
    throw new Error(
      `${full.name}: ${full.inUnits} inputs are not a whole number of positions of ${full.prevUnits} units`,
    );
  }
  const positions = full.inUnits / full.prevUnits;
  const c = keptPrev.length;
  if (small.inUnits !== positions * c)
    throw new Error(`${full.name}: compacted input size ${small.inUnits} != ${positions} x ${c}`);
  const map = new Int32Array(positions * c);
  for (let p = 0; p < positions; p++) for (let j = 0; j < c; j++) map[p * c + j] = p * full.prevUnits + keptPrev[j];
  return map;
}

/**
 * Calls `visit(smallIndex, fullIndex)` for every kernel entry of the small layer. Kernels are
 * row-major [spatial..., in, out]: entry (s, i, o) is at (s * in + i) * out + o.
 */
function forEachEntry(
  full: WeightedLayer,
  small: WeightedLayer,
  inMap: Int32Array,
  outMap: Int32Array,
  visit: (smallIndex: number, fullIndex: number) => void,
): void {
  const spatial = full.spatial;
  if (small.spatial !== spatial) throw new Error(`${full.name}: kernel size changed`);
  for (let s = 0; s < spatial; s++) {
    for (let i = 0; i < small.inUnits; i++) {
      const fullRow = (s * full.inUnits + inMap[i]) * full.outUnits;
      const smallRow = (s * small.inUnits + i) * small.outUnits;
      for (let o = 0; o < small.outUnits; o++) visit(smallRow + o, fullRow + outMap[o]);
    }
  }
}

/**
 * Removes every dead hidden unit (conv filter or dense neuron) and the inputs that read from it.
 * Kernel entries keep their mask; masked entries are 0 in the result. A hidden layer with no live
 * unit keeps one dead, all-zero unit (its first) so every shape stays valid.
 */
export function compactNetwork(net: Network): CompactNetwork {
  const live = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  const kept = net.layers.map((layer, l) => {
    const idx: number[] = [];
    for (let u = 0; u < layer.outUnits; u++) if (live[l][u]) idx.push(u);
    if (idx.length === 0) idx.push(0); // only a hidden layer can be empty: output units always live
    return Int32Array.from(idx);
  });
  const arch = compactArchitecture(net.arch, kept);
  const layers = weightedLayers(arch);
  if (layers.length !== net.layers.length) throw new Error(`${arch.name}: weighted layers changed`);
  const params = layers.map((small, l): LayerParams => {
    const full = net.layers[l];
    const src = net.params[l];
    const inMap = inputMap(full, small, l > 0 ? kept[l - 1] : undefined);
    const outMap = kept[l];
    if (small.outUnits !== outMap.length)
      throw new Error(`${full.name}: ${small.outUnits} units, kept ${outMap.length}`);
    const n = kernelSize(small);
    const kernel = new Float32Array(n);
    const mask = new Uint8Array(n);
    forEachEntry(full, small, inMap, outMap, (s, f) => {
      if (src.mask[f]) {
        mask[s] = 1;
        kernel[s] = src.kernel[f];
      }
    });
    const bias = new Float32Array(outMap.length);
    for (let o = 0; o < outMap.length; o++) if (live[l][outMap[o]]) bias[o] = src.bias[outMap[o]];
    return { kernel, bias, mask };
  });
  return { net: { arch, layers, params }, kept };
}

/**
 * Scatters a compacted network back into the index space of the full-size `template` (its
 * architecture; its values are not read): kept entries get the compact weights, biases and mask,
 * everything else is 0 and masked. expandNetwork(compactNetwork(net), net) equals `net` when net's
 * masked weights and its dead units' biases are 0.
 */
export function expandNetwork(compact: CompactNetwork, template: Network): Network {
  const { net: small, kept } = compact;
  if (small.layers.length !== template.layers.length || kept.length !== template.layers.length) {
    throw new Error(
      `${small.arch.name} does not fit ${template.arch.name}: ` +
        `${small.layers.length} vs ${template.layers.length} weighted layers`,
    );
  }
  const params = template.layers.map((full, l): LayerParams => {
    const s = small.layers[l];
    const outMap = kept[l];
    if (outMap.length !== s.outUnits || outMap.some((u) => u < 0 || u >= full.outUnits)) {
      throw new Error(
        `${full.name}: kept units do not fit (${outMap.length} of ${full.outUnits}, compact layer has ${s.outUnits})`,
      );
    }
    const inMap = inputMap(full, s, l > 0 ? kept[l - 1] : undefined);
    const n = kernelSize(full);
    const kernel = new Float32Array(n);
    const mask = new Uint8Array(n);
    const src = small.params[l];
    forEachEntry(full, s, inMap, outMap, (si, fi) => {
      kernel[fi] = src.kernel[si];
      mask[fi] = src.mask[si];
    });
    const bias = new Float32Array(full.outUnits);
    for (let o = 0; o < outMap.length; o++) bias[outMap[o]] = src.bias[o];
    return { kernel, bias, mask };
  });
  return { arch: template.arch, layers: template.layers, params };
}
