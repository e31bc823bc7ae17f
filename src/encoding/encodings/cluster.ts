/**
 * The synaptic cluster-driven encoding (docs/method.md): stage 1 draws clusters with p_c, stage 2
 * removes what dead units fed, stage 3 draws the remaining synapses with p_k, stage 4 removes
 * units left without input or output. M'_k = M_k * Bernoulli(p_c) * Bernoulli(p_k).
 */
import { liveUnits } from '../../models/masks';
import { clusterStage, synapseStage } from '../stages';
import type { Encoding } from './encoding';

export const clusterEncoding: Encoding = {
  description: 'cluster-driven: a draw per synaptic cluster (conv filter or kernel), then per synapse',
  usesClusters: true,
  sample(parent, options, rng) {
    const masks = parent.params.map((p) => p.mask.slice());
    const clusters = clusterStage(parent, masks, options, rng);
    const synapses = synapseStage(parent, masks, options, rng);
    return {
      masks,
      units: liveUnits(parent.layers, masks),
      clusterProbabilities: clusters.probabilities,
      synapseProbabilities: synapses.probabilities,
      expectedSynapses: synapses.expected,
      capped: clusters.exceeded || synapses.exceeded,
    };
  },
};
