/**
 * How a network is trained: the one place that decides on threads, native kernels or workers,
 * so the evolution loop only asks for a network to be trained. The CLI says once how many
 * threads it may use (`setTrainingThreads`, the resolved `--workers`).
 */
import { Network } from '../models/network';
import type { Random } from '../random';
import { Split } from '../data/dataset';
import { measure } from '../metrics/measure';
import { nativeKernelsActive, setNativeThreads } from './kernels/native';
import { trainNetwork } from './train';
import { ParallelTrainOptions, closeTrainingPool, trainNetworkParallel } from './parallel';

export type TrainOptions = ParallelTrainOptions;

/**
 * Below this many multiply-accumulates per sample a training step is too short to pay for
 * exchanging gradients between workers (docs/performance.md). The native kernels' threads split
 * single kernels instead and need no such bound.
 */
const PARALLEL_MIN_MACS = 1e6;

let threads = 1;

/** The threads training may use from now on; with the native kernels, evaluation uses them too. */
export function setTrainingThreads(n: number): void {
  threads = Math.max(1, Math.floor(n));
  if (nativeKernelsActive()) setNativeThreads(threads);
}

/**
 * Trains `net` in place (masks held; see ./train) and resolves to the last epoch's mean loss.
 * With the native kernels every kernel call splits its work across the threads, and the floats
 * do not depend on their number; without them, large enough networks split each batch across a
 * pool of workers, and small ones train in this thread.
 */
export async function trainMasked(net: Network, data: Split, options: TrainOptions, rng: Random): Promise<number> {
  if (nativeKernelsActive()) {
    setNativeThreads(threads);
    return trainNetwork(net, data, options, rng);
  }
  const macs = measure(net.layers, net.params.map((p) => p.mask)).macs;
  return trainNetworkParallel(net, data, options, rng, macs >= PARALLEL_MIN_MACS ? threads : 1);
}

/** Ends what training keeps between calls (idle workers never keep the process alive). */
export function closeTraining(): Promise<void> {
  return closeTrainingPool();
}
