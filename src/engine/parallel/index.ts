/**
 * Data-parallel training across worker_threads: each worker owns a WASM backend and a copy of the
 * network, computes the gradient of its slice of every batch, and all of them apply the same
 * summed update (see ./worker.ts and ./protocol.ts). Same contract as trainNetwork.
 */
import { Network } from '../../models/network';
import type { Random } from '../../random';
import { Split } from '../../data/dataset';
import { trainNetwork } from '../train';
import { ParallelTrainOptions, TrainingPool } from './pool';
import { nativeKernelsActive, setNativeThreads } from '../kernels/native';

export { TrainingPool } from './pool';
export type { ParallelTrainOptions, PoolProfile } from './pool';
export type { WorkerProfile, FaultInjection } from './protocol';

let pool: TrainingPool | null = null;

/**
 * Trains `net` in place exactly as trainNetwork(net, data, options, rng) does (same batch order
 * from `rng`, masks held, onBatch per batch, resolves to the last epoch's mean loss), with each
 * batch split across `workers` threads. workers <= 1 runs trainNetwork on the current backend.
 * The same seed and worker count give bit-identical weights; against trainNetwork they differ
 * only by float summation order. Workers are kept in a module-level pool for the next call;
 * closeTrainingPool() ends them (idle workers never keep the process alive).
 *
 * With the native kernels (./kernels/native) the threads work inside each kernel instead, in
 * this thread: as fast as the workers for LeNet-5 and faster for small networks, and the
 * results are the same for any thread count.
 */
export async function trainNetworkParallel(
  net: Network, data: Split, options: ParallelTrainOptions, rng: Random, workers: number,
): Promise<number> {
  if (nativeKernelsActive()) {
    setNativeThreads(workers);
    return trainNetwork(net, data, options, rng);
  }
  // The workers know neither weight decay nor input transforms: such training stays in this thread.
  if (!(workers > 1) || options.weightDecay || data.input) return trainNetwork(net, data, options, rng);
  const n = Math.floor(workers);
  if (!pool || pool.size !== n) {
    // A different worker count: the old pool finishes what it was given, then closes.
    const old = pool;
    pool = new TrainingPool(n);
    if (old) void old.idle().then(() => old.close());
  }
  return pool.train(net, data, options, rng);
}

/** The module-level pool trainNetworkParallel uses, if any (e.g. for its lastProfile). */
export function trainingPool(): TrainingPool | null {
  return pool;
}

export async function closeTrainingPool(): Promise<void> {
  const p = pool;
  pool = null;
  await p?.close();
}
