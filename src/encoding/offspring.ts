/**
 * Offspring synthesis: a pure function of the parent's trained weights and mask, the encoding
 * options and a seeded random stream (docs/method.md). Which encoding draws the offspring is
 * `options.kind`; the encodings live in ./encodings/, one file each.
 */
import type { Network } from '../models/network';
import type { Random } from '../random';
import type { OffspringGenome, SamplingOptions } from './types';
import { type EncodingName, encodings } from './encodings';

export { clusterProbabilities } from './stages';
export type { EncodingName } from './encodings';
export type { Normalisation, OffspringGenome, SamplingOptions, Scope } from './types';

/** The run's encoding options: which encoding draws the offspring, and what it samples with. */
export interface EncodingOptions extends SamplingOptions {
  /** Which encoding draws the offspring (default cluster: the cluster-driven encoding). */
  kind?: EncodingName;
}

/** Samples one offspring's mask from the parent's DNA. Consumes `rng` in a fixed order. */
export function sampleOffspring(parent: Network, options: EncodingOptions, rng: Random): OffspringGenome {
  return encodings[options.kind ?? 'cluster'].sample(parent, options, rng);
}
