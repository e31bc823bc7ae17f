/**
 * What the main thread and the training workers share: the one message that starts a call, the
 * messages that end it, and the layout of the shared control words.
 *
 * Per step there is no message: worker k writes the gradient of its slice of the batch into its
 * own region of a SharedArrayBuffer, publishes the step in `ctrl[DONE + k]` (Atomics.store +
 * notify) and waits (Atomics.wait) until every worker has published it. Regions are double
 * buffered by step parity, so one barrier per step suffices: a worker can only write step s+2
 * into the buffer step s used after every worker has published step s+1, i.e. finished reading s.
 */
import { Architecture, WeightedLayer } from '../../models/architecture';
import { OptimizerName } from '../train';
import { OptimizerState } from '../optimizerState';

/** ctrl[ABORT] != 0: stop at the next barrier (a worker failed, or the main thread gave up). */
export const ABORT = 0;
/** ctrl[DONE + k]: how many steps worker k has published (its gradient region is written). */
export const DONE = 1;

/** Test hook: worker `worker` throws when it reaches global step `step` (epoch * batches + batch). */
export interface FaultInjection {
  worker: number;
  step: number;
}

export interface TrainRequest {
  type: 'train';
  id: number;
  worker: number;
  workers: number;
  arch: Architecture;
  layers: WeightedLayer[];
  params: { kernel: Float32Array; bias: Float32Array; mask: Uint8Array }[];
  options: { epochs: number; batchSize: number; learningRate: number; optimizer: OptimizerName };
  /** Epochs already done (a resumed training): start at this one, with `optimizerState`. */
  startEpoch: number;
  optimizerState?: OptimizerState;
  /** Post an 'epoch' reply with the weights and optimizer state after each epoch but the last. */
  epochSnapshots: boolean;
  count: number;
  /** SharedArrayBuffer-backed: count * H * W * C bytes, count labels, epochs * count batch order. */
  images: Uint8Array;
  labels: Uint8Array;
  orders: Uint32Array;
  /** [ABORT, DONE_0 .. DONE_{W-1}] */
  ctrl: Int32Array;
  /** 2 (step parity) x workers regions of `paramCount` floats, in the order kernels..., biases.... */
  grads: SharedArrayBuffer;
  paramCount: number;
  /** losses[step * workers + k]: worker k's slice mean loss, weighted by its share of the batch. */
  losses: Float64Array;
  /** Send the trained weights back (worker 0 always; all of them when replicas are checked). */
  returnParams: boolean;
  fault?: FaultInjection;
}

/** Where one worker's time went during a call (milliseconds), and whether it leaked tensors. */
export interface WorkerProfile {
  /** Binding variables, masks and the optimizer. */
  setupMs: number;
  /** Forward + backward of its slice, including copying the gradient into its region. */
  gradientMs: number;
  /** Blocked at the barrier waiting for the other workers. */
  waitMs: number;
  /** Summing every region (fixed order) and applying the masked update. */
  applyMs: number;
  steps: number;
  /** Tensors alive after the call minus before it (0 unless something leaks). */
  leakedTensors: number;
}

export type WorkerReply =
  | { type: 'epoch'; id: number; worker: number; epochsDone: number; params: { kernel: Float32Array; bias: Float32Array }[]; optimizer: OptimizerState }
  | { type: 'done'; id: number; worker: number; params?: { kernel: Float32Array; bias: Float32Array }[]; profile: WorkerProfile }
  | { type: 'error'; id: number; worker: number; message: string; stack?: string; aborted: boolean };
