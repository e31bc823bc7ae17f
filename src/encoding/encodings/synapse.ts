/**
 * The predecessor's synapse-only encoding (Shafiee, Mishra, Wong, arXiv:1606.04393): no cluster
 * stage, one draw per synapse with p_k under the same synapse budget F; units left without input
 * or output die as in every encoding.
 */
import { liveUnits } from '../../models/masks';
import { synapseStage } from '../stages';
import type { Encoding } from './encoding';

export const synapseEncoding: Encoding = {
  description: 'synapse-only (the predecessor paper): a draw per synapse, no cluster stage',
  usesClusters: false,
  sample(parent, options, rng) {
    const masks = parent.params.map((p) => p.mask.slice());
    const synapses = synapseStage(parent, masks, options, rng);
    return {
      masks,
      units: liveUnits(parent.layers, masks),
      clusterProbabilities: parent.layers.map(() => new Float64Array(0)),
      synapseProbabilities: synapses.probabilities,
      expectedSynapses: synapses.expected,
      capped: synapses.exceeded,
    };
  },
};
