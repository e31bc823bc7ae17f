/**
 * The encoding's shared types, apart from the modules that use them (so the encodings, their
 * stages and the entry point import them without importing each other).
 */
import type { Granularity } from './clusters';

export const normalisations = ['calibrated', 'max'] as const;
export type Normalisation = (typeof normalisations)[number];
export const scopes = ['global', 'layer'] as const;
export type Scope = (typeof scopes)[number];

/** What an encoding needs to draw an offspring: the factors, the threshold, how |w| is normalised. */
export interface SamplingOptions {
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
  capped: boolean;
}
