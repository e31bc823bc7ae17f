/**
 * Offspring synthesis: the two-stage sampling of shared/method.md ("Genetic encoding" and
 * "Environmental factor"). A pure function of the parent's trained weights and mask, the
 * encoding options and a seeded random stream.
 */
import { Network, Random } from '../models/network';
import { Granularity, clusterCount, clusterOf, countOnes, liveClusters } from './clusters';
import { calibrateAlpha, clusterStrengths, encodingProbability, normaliser } from './probabilities';
import { liveUnits, pruneDeadUnits } from './units';

export type Normalisation = 'calibrated' | 'max';
export type Scope = 'global' | 'layer';

export interface EncodingOptions {
  /** F: expected fraction of the parent's live synapses an offspring keeps. */
  synapseFactor: number;
  /** Fc: expected fraction of each hidden layer's live clusters an offspring keeps. */
  clusterFactor: number;
  /** Truncation threshold, as a fraction of the layer's largest live |w|. */
  tau: number;
  normalisation: Normalisation;
  scope: Scope;
  granularity: Granularity;
}

export interface OffspringGenome {
  masks: Uint8Array[];
  units: Uint8Array[];
  /** Per layer p_c (hidden layers; empty for the output layer). */
  clusterProbabilities: Float64Array[];
  /** Per layer p_k for the synapses that reached stage 3 (0 elsewhere). */
  synapseProbabilities: Float64Array[];
  /** Expected survivors of stage 3: F times the parent's live synapses unless the budget was exceeded. */
  expectedSynapses: number;
  /** Stages 1-2 alone already left fewer synapses than the budget F allows. */
  budgetExceeded: boolean;
}

/** Stage 1's p_c for one hidden layer. */
export function clusterProbabilities(
  T: Float64Array, live: Uint8Array, options: EncodingOptions,
): Float64Array {
  let maxT = 0;
  for (let c = 0; c < T.length; c++) if (live[c]) maxT = Math.max(maxT, T[c]);
  const p = new Float64Array(T.length);
  const fill = (alpha: number, scale: number): number => {
    const Z = normaliser(alpha, maxT);
    let sum = 0;
    for (let c = 0; c < T.length; c++) {
      p[c] = live[c] ? scale * encodingProbability(T[c], Z) : 0;
      sum += p[c];
    }
    return sum;
  };
  if (options.normalisation === 'max') {
    fill(1, options.clusterFactor);
  } else {
    const alpha = calibrateAlpha((a) => fill(a, 1), options.clusterFactor * countOnes(live));
    fill(alpha, 1);
  }
  return p;
}

/** Stage 3's p_k over a group of layers (the whole network, or one layer). */
function synapseProbabilitiesFor(
  group: number[], parent: Network, masks: Uint8Array[], out: Float64Array[], options: EncodingOptions,
): { expected: number; exceeded: boolean } {
  let parentLive = 0;
  let alive = 0;
  let maxW = 0;
  for (const l of group) {
    parentLive += countOnes(parent.params[l].mask);
    const { kernel } = parent.params[l];
    const m = masks[l];
    for (let k = 0; k < m.length; k++) if (m[k]) { alive++; maxW = Math.max(maxW, Math.abs(kernel[k])); }
  }
  const target = options.synapseFactor * parentLive;
  const fill = (alpha: number, scale: number, all: boolean): number => {
    const Z = normaliser(alpha, maxW);
    let sum = 0;
    for (const l of group) {
      const { kernel } = parent.params[l];
      const m = masks[l];
      const p = out[l];
      for (let k = 0; k < m.length; k++) {
        p[k] = m[k] ? (all ? 1 : scale * encodingProbability(Math.abs(kernel[k]), Z)) : 0;
        sum += p[k];
      }
    }
    return sum;
  };
  if (options.normalisation === 'max') return { expected: fill(1, options.synapseFactor, false), exceeded: false };
  if (alive <= target) return { expected: fill(1, 1, true), exceeded: alive < target };
  const alpha = calibrateAlpha((a) => fill(a, 1, false), target);
  return { expected: fill(alpha, 1, false), exceeded: false };
}

/** Samples one offspring's mask from the parent's DNA. Consumes `rng` in a fixed order. */
export function sampleOffspring(parent: Network, options: EncodingOptions, rng: Random): OffspringGenome {
  const { layers } = parent;
  const masks = parent.params.map((p) => p.mask.slice());

  // Stage 1: one draw per live cluster of every hidden layer; the most probable one always survives.
  const clusterP = layers.map((layer, l) => {
    if (layer.isOutput) return new Float64Array(0);
    const g: Granularity = options.granularity;
    const { kernel } = parent.params[l];
    const live = liveClusters(layer, masks[l], g);
    const p = clusterProbabilities(clusterStrengths(layer, kernel, masks[l], g, options.tau), live, options);
    const survives = new Uint8Array(clusterCount(layer, g));
    let best = -1;
    for (let c = 0; c < survives.length; c++) {
      if (!live[c]) continue;
      survives[c] = rng() < p[c] ? 1 : 0;
      if (best < 0 || p[c] > p[best]) best = c;
    }
    if (best >= 0 && countOnes(survives) === 0) survives[best] = 1;
    const m = masks[l];
    for (let k = 0; k < m.length; k++) if (m[k] && !survives[clusterOf(layer, g, k)]) m[k] = 0;
    return p;
  });

  // Stage 2: dead units take their outgoing synapses with them.
  pruneDeadUnits(layers, masks);

  // Stage 3: one draw per remaining synapse, calibrated against the parent's live count.
  const synapseP = masks.map((m) => new Float64Array(m.length));
  const groups = options.scope === 'global' ? [layers.map((_, l) => l)] : layers.map((_, l) => [l]);
  let expectedSynapses = 0;
  let budgetExceeded = false;
  for (const group of groups) {
    const r = synapseProbabilitiesFor(group, parent, masks, synapseP, options);
    expectedSynapses += r.expected;
    budgetExceeded ||= r.exceeded;
  }
  for (let l = 0; l < layers.length; l++) {
    const m = masks[l];
    const p = synapseP[l];
    for (let k = 0; k < m.length; k++) if (m[k] && !(rng() < p[k])) m[k] = 0;
  }

  // Stage 4: units left without input (or output) die, and stage 2 applies again.
  pruneDeadUnits(layers, masks);
  return {
    masks, units: liveUnits(layers, masks), clusterProbabilities: clusterP, synapseProbabilities: synapseP,
    expectedSynapses, budgetExceeded,
  };
}
