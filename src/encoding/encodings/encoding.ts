/** What every encoding provides: a pure sampler from the parent's DNA to an offspring's genome. */
import type { Network } from '../../models/network';
import type { Random } from '../../random';
import type { OffspringGenome, SamplingOptions } from '../types';

export interface Encoding {
  /** One line for --help and the docs. */
  description: string;
  /** Whether the cluster factors act (the record carries them only then). */
  usesClusters: boolean;
  sample(parent: Network, options: SamplingOptions, rng: Random): OffspringGenome;
}
