/**
 * Iterative magnitude pruning, the baseline pruning papers compare with: deterministically keep
 * the round(F * live) largest |w| of the parent's live synapses over the whole network (global
 * scope) or per layer (layer scope), then remove units left without input or output. Uses no
 * random draw; with --init inherit the survivors keep their trained weights.
 */
import type { Network } from '../../models/network';
import { countOnes } from '../clusters';
import { liveUnits, pruneDeadUnits } from '../../models/masks';
import type { Encoding } from './encoding';

/** Keeps the `keep` largest |w| among the live synapses of `group`; ties go to the lower layer, then index. */
export function keepLargest(parent: Network, masks: Uint8Array[], group: number[], keep: number): void {
  const live: { l: number; k: number; w: number }[] = [];
  for (const l of group) {
    const { kernel } = parent.params[l];
    const m = masks[l];
    for (let k = 0; k < m.length; k++) if (m[k]) live.push({ l, k, w: Math.abs(kernel[k]) });
  }
  live.sort((a, b) => b.w - a.w || a.l - b.l || a.k - b.k);
  for (let i = keep; i < live.length; i++) masks[live[i].l][live[i].k] = 0;
}

export const magnitudeEncoding: Encoding = {
  description: 'magnitude pruning: keep the largest |w| to the same synapse budget, deterministically',
  usesClusters: false,
  sample(parent, options) {
    const { layers } = parent;
    const masks = parent.params.map((p) => p.mask.slice());
    const groups = options.scope === 'global' ? [layers.map((_, l) => l)] : layers.map((_, l) => [l]);
    let expectedSynapses = 0;
    for (const group of groups) {
      const keep = Math.round(options.synapseFactor * group.reduce((a, l) => a + countOnes(masks[l]), 0));
      keepLargest(parent, masks, group, keep);
      expectedSynapses += keep;
    }
    pruneDeadUnits(layers, masks);
    return {
      masks,
      units: liveUnits(layers, masks),
      clusterProbabilities: layers.map(() => new Float64Array(0)),
      synapseProbabilities: masks.map((m) => Float64Array.from(m)),
      expectedSynapses,
      capped: false,
    };
  },
};
