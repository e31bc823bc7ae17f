/**
 * A pool of training workers (worker_threads), reused across calls so each worker pays its WASM
 * start-up (~0.3 s) once. One call trains one network; calls on the same pool run one at a time.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { performance } from 'perf_hooks';
import { Network } from '../../models/network';
import type { Random } from '../../random';
import { Split } from '../../data/dataset';
import { EpochState, TrainOptions, firstEpoch, shuffledIndices } from '../train';
import { ABORT, DONE, FaultInjection, TrainRequest, WorkerProfile, WorkerReply } from './protocol';
import { currentWasmKernels } from '../backend';

export interface ParallelTrainOptions extends TrainOptions {
  /** Testing: every worker returns its weights and the call fails unless they are bit-identical. */
  checkReplicas?: boolean;
  /** Testing: make one worker throw at one step. */
  fault?: FaultInjection;
}

export interface PoolProfile {
  /** Wall time of the call, from request to weights copied back (ms). */
  wallMs: number;
  /** Copying the data set into shared memory and drawing the batch orders (ms). */
  prepareMs: number;
  /** Per worker. */
  workers: WorkerProfile[];
}

/** One call in flight: collects replies; the first failure wins. */
interface Call {
  id: number;
  ctrl: Int32Array;
  replies: (Extract<WorkerReply, { type: 'done' }> | undefined)[];
  pending: number;
  /** Worker 0's end-of-epoch states by epochs done, and who waits for one. */
  epochStates: Map<number, Omit<EpochState, 'loss'>>;
  epochWaiter?: { epochsDone: number; resolve: (s: Omit<EpochState, 'loss'>) => void };
  failure?: Error;
  resolveDone: () => void;
  rejectDone: (e: Error) => void;
}

function shared(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const out = new Uint8Array(new SharedArrayBuffer(Math.max(1, bytes.length)), 0, bytes.length);
  out.set(bytes);
  return out;
}

type WaitAsync = (a: Int32Array, index: number, value: number, timeout?: number) =>
  { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class TrainingPool {
  readonly size: number;
  /** Where the time went in the last successful call. */
  lastProfile?: PoolProfile;
  private workers: Worker[] | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private call: Call | null = null;
  private closed = false;
  private nextId = 1;

  constructor(workers: number) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
    this.size = workers;
  }

  /**
   * trainNetwork's contract (src/engine/train.ts): trains `net` in place, batch order from `rng`,
   * calls options.onBatch per batch, resolves to the last epoch's mean loss.
   */
  train(net: Network, data: Split, options: ParallelTrainOptions, rng: Random): Promise<number> {
    const run = this.chain.then(() => this.run(net, data, options, rng));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every call queued so far has settled. */
  async idle(): Promise<void> {
    await this.chain;
  }

  /** Terminates the workers; a call in flight rejects, and so does any later train(). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.call) this.fail(this.call, new Error('training pool closed'));
    await this.terminate();
  }

  private spawn(): Worker[] {
    const file = path.join(__dirname, 'worker.js');
    return Array.from({ length: this.size }, (_, k) => {
      // Workers compute with the kernels this thread chose (the JS ones; see trainNetworkParallel).
      const w = new Worker(file, { workerData: { kernels: currentWasmKernels() } });
      w.unref(); // idle workers never keep the process alive; a call refs them while it runs
      w.on('message', (m: WorkerReply) => this.onReply(k, m));
      w.on('error', (e: Error) => this.onWorkerGone(w, e));
      w.on('exit', (code: number) => this.onWorkerGone(w, new Error(`training worker ${k} exited (code ${code})`)));
      return w;
    });
  }

  private async terminate(): Promise<void> {
    const ws = this.workers;
    this.workers = null;
    if (ws) await Promise.all(ws.map((w) => w.terminate()));
  }

  private onWorkerGone(w: Worker, e: Error): void {
    // Only a worker of the current set matters; terminated ones report their exit too.
    if (!this.workers?.includes(w)) return;
    if (this.call) this.fail(this.call, e);
    else void this.terminate(); // died while idle: start afresh next call
  }

  private onReply(k: number, m: WorkerReply): void {
    const call = this.call;
    if (!call || m.id !== call.id) return;
    if (m.type === 'epoch') {
      const state = { epochsDone: m.epochsDone, params: m.params, optimizer: m.optimizer };
      if (call.epochWaiter?.epochsDone === m.epochsDone) call.epochWaiter.resolve(state);
      else call.epochStates.set(m.epochsDone, state);
      return;
    }
    if (m.type === 'error') {
      if (m.aborted) return; // a peer's failure (or ours) stopped it; that failure is the message
      const e = new Error(m.message);
      if (m.stack) e.stack = `${m.stack}\n    in training worker ${k}`;
      this.fail(call, e);
      return;
    }
    call.replies[k] = m;
    if (--call.pending === 0) call.resolveDone();
  }

  private fail(call: Call, e: Error): void {
    if (call.failure) return;
    call.failure = e;
    Atomics.store(call.ctrl, ABORT, 1);
    for (let i = 0; i < call.ctrl.length; i++) Atomics.notify(call.ctrl, i);
    call.rejectDone(e);
  }

  private async run(net: Network, data: Split, options: ParallelTrainOptions, rng: Random): Promise<number> {
    if (this.closed) throw new Error('training pool closed');
    const t0 = performance.now();
    const W = this.size;
    const { epochs, batchSize } = options;
    const count = data.count;
    const batches = Math.ceil(count / batchSize);
    const first = firstEpoch(options);
    // The same draws, in the same order, as trainNetwork's one shuffledIndices per epoch.
    const orders = new Uint32Array(new SharedArrayBuffer(4 * Math.max(1, epochs * count)), 0, epochs * count);
    for (let e = 0; e < epochs; e++) orders.set(shuffledIndices(count, rng), e * count);
    const images = shared(data.images);
    const labels = shared(data.labels);
    const paramCount = net.params.reduce((s, p) => s + p.kernel.length + p.bias.length, 0);
    const ctrl = new Int32Array(new SharedArrayBuffer(4 * (DONE + W)));
    const grads = new SharedArrayBuffer(4 * Math.max(1, 2 * W * paramCount));
    const losses = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, epochs * batches * W)));
    const prepareMs = performance.now() - t0;

    let resolveDone!: () => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => { resolveDone = res; rejectDone = rej; });
    done.catch(() => undefined);
    const call: Call = {
      id: this.nextId++, ctrl, replies: new Array(W).fill(undefined), pending: W, resolveDone, rejectDone, epochStates: new Map(),
    };
    const failed = done.then(() => new Promise<never>(() => undefined)); // rejects only on failure
    failed.catch(() => undefined);

    const workers = (this.workers ??= this.spawn());
    this.call = call;
    for (const w of workers) w.ref();
    try {
      const plainOptions = { epochs, batchSize, learningRate: options.learningRate, optimizer: options.optimizer };
      workers.forEach((w, k) => {
        const req: TrainRequest = {
          type: 'train', id: call.id, worker: k, workers: W, arch: net.arch, layers: net.layers,
          params: net.params.map((p) => ({ kernel: p.kernel, bias: p.bias, mask: p.mask })),
          options: plainOptions, count, images, labels, orders, ctrl, grads, paramCount, losses,
          startEpoch: first, optimizerState: options.resume?.optimizer, epochSnapshots: k === 0 && Boolean(options.onEpochEnd),
          returnParams: k === 0 || Boolean(options.checkReplicas), fault: options.fault,
        };
        w.postMessage(req);
      });

      let lastLoss = NaN;
      for (let epoch = first; epoch < epochs; epoch++) {
        let sum = 0;
        for (let batch = 0; batch < batches; batch++) {
          const step = epoch * batches + batch;
          await Promise.race([this.published(call, step + 1), failed]);
          let l = 0;
          for (let k = 0; k < W; k++) l += losses[step * W + k];
          sum += l;
          try {
            options.onBatch?.({ epoch, epochs, batch, batches, loss: l });
          } catch (e) {
            this.fail(call, e instanceof Error ? e : new Error(String(e)));
            throw e;
          }
        }
        lastLoss = sum / batches;
        if (options.onEpochEnd && epoch < epochs - 1) {
          const state = await Promise.race([this.epochState(call, epoch + 1), failed]);
          try {
            await options.onEpochEnd({ ...state, loss: lastLoss });
          } catch (e) {
            this.fail(call, e instanceof Error ? e : new Error(String(e)));
            throw e;
          }
        }
      }
      await done;

      const replies = call.replies as Extract<WorkerReply, { type: 'done' }>[];
      const trained = replies[0].params!;
      if (options.checkReplicas) {
        for (let k = 1; k < W; k++) {
          replies[k].params!.forEach((p, l) => {
            if (!bitEqual(p.kernel, trained[l].kernel) || !bitEqual(p.bias, trained[l].bias)) {
              throw new Error(`worker ${k}'s layer ${l} differs from worker 0's`);
            }
          });
        }
      }
      trained.forEach((p, l) => {
        net.params[l].kernel = p.kernel;
        net.params[l].bias = p.bias;
      });
      this.lastProfile = { wallMs: performance.now() - t0, prepareMs, workers: replies.map((r) => r.profile) };
      return lastLoss;
    } catch (e) {
      if (!call.failure) this.fail(call, e instanceof Error ? e : new Error(String(e)));
      // After a failure the workers' state is unknown: start afresh next call.
      await this.terminate();
      throw call.failure ?? e;
    } finally {
      this.call = null;
      if (this.workers) for (const w of this.workers) w.unref();
    }
  }

  /** Worker 0's state after `epochsDone` epochs, once it has sent it. */
  private epochState(call: Call, epochsDone: number): Promise<Omit<EpochState, 'loss'>> {
    const ready = call.epochStates.get(epochsDone);
    if (ready) {
      call.epochStates.delete(epochsDone);
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => { call.epochWaiter = { epochsDone, resolve }; });
  }

  /** Resolves once every worker has published `target` steps (or the call failed). */
  private async published(call: Call, target: number): Promise<void> {
    for (let k = 0; k < this.size; k++) {
      for (;;) {
        if (call.failure) return;
        const v = Atomics.load(call.ctrl, DONE + k);
        if (v >= target) break;
        const r = waitAsync(call.ctrl, DONE + k, v, 1000);
        if (r.async) await r.value;
      }
    }
  }
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
