/**
 * Mating: one offspring's DNA and starting weights from several parents (docs/method.md,
 * "Several parents"). This is evolve's design, not the paper's (which has one parent):
 * - the candidates are the union of the parents' live synapses;
 * - a synapse's strength in the DNA is the mean of |w| over all parents, a parent in which it is
 *   dead counting 0: a synapse every parent kept keeps its strength, one kept by one parent of M
 *   has 1/M of it, so the offspring favours what the parents agree on;
 * - each inherited weight (and bias) comes from the fittest parent in which it is alive.
 * With one parent both are that parent. A pure function of the parents, fittest first.
 */
import type { LayerParams, Network } from '../models/network';
import { unitsWithInput } from '../models/masks';

export interface Mating {
  /** What the encoding samples from: the union of the parents' masks, each weight its mean strength. */
  dna: Network;
  /** What --init inherit starts from: the union's weights, each from the fittest parent holding it. */
  inherit: Network;
}

/** Layer l of the mated DNA and inheritance, from the parents' layer l (fittest first). */
function mateLayer(parents: Network[], l: number): { dna: LayerParams; inherit: LayerParams } {
  const layer = parents[0].layers[l];
  const n = parents[0].params[l].kernel.length;
  const mask = new Uint8Array(n);
  const strength = new Float32Array(n);
  const kernel = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let from = -1;
    for (let p = 0; p < parents.length; p++) {
      const q = parents[p].params[l];
      if (!q.mask[i]) continue;
      sum += Math.abs(q.kernel[i]);
      if (from < 0) from = p;
    }
    if (from < 0) continue;
    mask[i] = 1;
    strength[i] = sum / parents.length;
    kernel[i] = parents[from].params[l].kernel[i];
  }
  const bias = new Float32Array(layer.outUnits);
  const alive = parents.map((p) => (layer.isOutput ? null : unitsWithInput(layer, p.params[l].mask)));
  for (let u = 0; u < bias.length; u++) {
    const from = alive.findIndex((a) => a === null || a[u] === 1);
    if (from >= 0) bias[u] = parents[from].params[l].bias[u];
  }
  return { dna: { kernel: strength, bias: bias.slice(), mask: mask.slice() }, inherit: { kernel, bias, mask } };
}

/** The mated DNA and inheritance of `parents`, fittest first. */
export function mate(parents: Network[]): Mating {
  if (parents.length === 0) throw new Error('mating needs at least one parent');
  if (parents.length === 1) return { dna: parents[0], inherit: parents[0] };
  const { arch, layers } = parents[0];
  const mated = layers.map((_, l) => mateLayer(parents, l));
  return {
    dna: { arch, layers, params: mated.map((m) => m.dna) },
    inherit: { arch, layers, params: mated.map((m) => m.inherit) },
  };
}
