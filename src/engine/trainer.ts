/** How networks are trained: the engine picks threads, native kernels or worker_threads (temporary shim). */
import { Network } from '../models/network';
import type { Random } from '../random';
import { Split } from '../data/dataset';
import { measure } from '../metrics/measure';
import { ParallelTrainOptions, closeTrainingPool, trainNetworkParallel } from './parallel';
import { nativeKernelsActive } from './kernels/native';

export type TrainOptions = ParallelTrainOptions;
let threads = 1;
/** The training threads the user asked for (--workers, resolved by the CLI). */
export function setTrainingThreads(n: number): void { threads = n; }
/** Trains `net` in place; resolves to the last epoch's mean loss. */
export async function trainMasked(net: Network, data: Split, options: TrainOptions, rng: Random): Promise<number> {
  const macs = measure(net.layers, net.params.map((p) => p.mask)).macs;
  return trainNetworkParallel(net, data, options, rng, nativeKernelsActive() || macs >= 1e6 ? threads : 1);
}
export function closeTraining(): Promise<void> { return closeTrainingPool(); }
