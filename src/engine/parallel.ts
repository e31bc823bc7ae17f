/**
 * Transitional: the entry points of the removed worker_threads pool, for the two callers not yet
 * moved to ./trainer (src/evolution/lineage.ts, src/cli/evolveCommand.ts). Delete this file once
 * they call trainMasked and closeTraining. Trains exactly as the pool's entry point did on every
 * path a run reached: native kernels on `workers` threads, otherwise this thread.
 */
import type { Network } from '../models/network';
import type { Random } from '../random';
import type { Split } from '../data/dataset';
import { type TrainOptions, closeTraining, setTrainingThreads, trainMasked } from './trainer';

export async function trainNetworkParallel(
  net: Network,
  data: Split,
  options: TrainOptions,
  rng: Random,
  workers: number,
): Promise<number> {
  setTrainingThreads(workers);
  return trainMasked(net, data, options, rng);
}

export const closeTrainingPool = closeTraining;
