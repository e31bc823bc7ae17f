/**
 * Offspring synthesis: a pure function of the parent's trained weights and mask, the encoding
 * options and a seeded random stream (docs/method.md). Which encoding draws the offspring is
 * `options.kind`; the encodings live in ./encodings/, one file each.
 */
import type { Network } from '../models/network';
import type { Random } from '../random';
import type { Granularity } from './clusters';
import { type EncodingName, encodings } from './encodings';

export { clusterProbabilities } from './stages';
export type { EncodingName } from './encodings';

export type Normalisation = 'calibrated' | 'max';
export type Scope = 'global' | 'layer';

export interface EncodingOptions {
  /** Which encoding draws the offspring (default cluster: the cluster-driven encoding). */
  kind?: EncodingName;
  /** F: expected fraction of the parent's live synapses an offspring keeps. */
  synapseFactor: number;
  /** Fc: expected fraction of each cluster layer's live clusters an offspring keeps. */
  clusterFactor: number;
  /**
   * Per weighted layer, its cluster factor, or null for no cluster stage (see evolution/budget.ts).
   * Without it, every hidden layer draws its clusters with Fc.
   */
  layerClusterFactors?: (number | null)[];
  /** Truncation threshold, as a fraction of the layer's largest live |w|. */
  tau: number;
  normalisation: Normalisation;
  scope: Scope;
  granularity: Granularity;
}

export interface OffspringGenome {
  masks: Uint8Array[];
  units: Uint8Array[];
  /** Per layer p_c (layers with a cluster stage; empty for the others). */
  clusterProbabilities: Float64Array[];
  /** Per layer p_k for the synapses that reached stage 3 (0 elsewhere). */
  synapseProbabilities: Float64Array[];
  /** Expected survivors of stage 3: F times the parent's live synapses unless the budget was exceeded. */
  expectedSynapses: number;
  /**
   * The cluster draws (with the units dying with them) alone would have left fewer synapses than
   * the budget F allows (the cluster encoding's cap then revived clusters), or stage 3 had fewer
   * live synapses than its budget.
   */
  budgetExceeded: boolean;
}

/** Samples one offspring's mask from the parent's DNA. Consumes `rng` in a fixed order. */
export function sampleOffspring(parent: Network, options: EncodingOptions, rng: Random): OffspringGenome {
  return encodings[options.kind ?? 'cluster'].sample(parent, options, rng);
}
