/**
 * How a network is trained, evaluated and run forward: the engine's entry point for everything
 * outside it, and the one place that decides on threads, so the evolution loop only asks for a
 * network to be trained or scored. The CLI says once how many threads training may use
 * (`setTrainingThreads`, the resolved `--workers`).
 *
 * With the native kernels (./kernels/native) the threads split every kernel call, in this thread,
 * and the floats do not depend on their number. Without them (addon not built, EVOLVE_NATIVE=0)
 * training runs on one thread: worker_threads splitting each batch measured no faster on a shared
 * machine (docs/backends.md, "Threads").
 */
import type { Network } from '../models/network';
import type { Random } from '../random';
import type { Split } from '../data/dataset';
import { nativeKernelsActive, setNativeThreads } from './kernels/native';
import { type TrainOptions, trainNetwork } from './train';
import { evaluate as evaluateOnBackend } from './evaluate';

export type { TrainOptions };
export { type Bound, bind, forward, unbind } from './network';
export { parallelTrainings } from './fused';

let threads = 1;

/** The threads training may use from now on; with the native kernels, evaluation uses them too. */
export function setTrainingThreads(n: number): void {
  threads = Math.max(1, Math.floor(n));
  if (nativeKernelsActive()) setNativeThreads(threads);
}

/** Trains `net` in place, masks held (see ./train), and resolves to the last epoch's mean loss. */
export async function trainMasked(net: Network, data: Split, options: TrainOptions, rng: Random): Promise<number> {
  // Set on every call: the backend (and with it the kernels) may have changed since setTrainingThreads.
  if (nativeKernelsActive()) setNativeThreads(threads);
  return trainNetwork(net, data, options, rng);
}

/** Top-1 accuracy of `net` over `data`, on the threads set (see ./evaluate). */
export async function evaluate(net: Network, data: Split, batchSize?: number): Promise<number> {
  if (nativeKernelsActive()) setNativeThreads(threads);
  return evaluateOnBackend(net, data, batchSize);
}
