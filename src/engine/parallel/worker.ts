/**
 * A training worker: its own WASM backend, its own copy of the variables, masks and optimizer
 * state. Per step it computes the gradient of its contiguous slice of the batch, publishes it in
 * shared memory, waits for the others, sums all slices in worker order and applies the same
 * masked update as src/engine/train.ts. Every worker sums the same floats in the same order, so
 * all copies stay bit-identical.
 */
import { parentPort, workerData } from 'worker_threads';
import { performance } from 'perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
// Type-only: importing the package for real is backend.ts's job.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmKernels, selectBackend } from '../backend';
import { bind, disposeOptimizer, forward, makeOptimizer, unbind } from '../train';
import { restoreOptimizerState, saveOptimizerState } from '../optimizerState';
import { Network } from '../../models/network';
import { ABORT, DONE, TrainRequest, WorkerProfile, WorkerReply } from './protocol';

class Aborted extends Error {}

const port = parentPort;
if (!port) throw new Error('src/engine/parallel/worker.js must run in a worker thread');

const ready = selectBackend('wasm', { kernels: (workerData as { kernels?: WasmKernels } | null)?.kernels });
ready.catch(() => undefined); // reported by the first request instead of as an uncaught rejection

let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: TrainRequest) => {
  queue = queue.then(() => handle(msg));
});

async function handle(req: TrainRequest): Promise<void> {
  let reply: WorkerReply;
  const transfer: ArrayBuffer[] = [];
  try {
    await ready;
    const { params, profile } = await train(req);
    if (params) for (const p of params) transfer.push(p.kernel.buffer as ArrayBuffer, p.bias.buffer as ArrayBuffer);
    reply = { type: 'done', id: req.id, worker: req.worker, params, profile };
  } catch (e) {
    const aborted = e instanceof Aborted;
    if (!aborted) {
      // Tell the others to stop waiting for this worker's gradients.
      Atomics.store(req.ctrl, ABORT, 1);
      for (let i = 0; i < req.ctrl.length; i++) Atomics.notify(req.ctrl, i);
    }
    const err = e instanceof Error ? e : new Error(String(e));
    reply = { type: 'error', id: req.id, worker: req.worker, message: err.message, stack: err.stack, aborted };
  }
  port!.postMessage(reply, transfer);
}

/**
 * A tensor's floats. On wasm a view of the heap (no allocation: a 1.7 MB gradient copied per step
 * kept the garbage collector busy), valid only until the next tfjs call; elsewhere dataSync().
 */
function readFloats(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as unknown as Partial<BackendWasm>;
  if (tf.getBackend() === 'wasm' && backend.typedArrayFromHeap) return backend.typedArrayFromHeap(t) as Float32Array;
  return t.dataSync() as Float32Array;
}

/** Blocks until every worker has published `target` steps; throws Aborted if the call is off. */
function barrier(ctrl: Int32Array, workers: number, target: number): void {
  for (let j = 0; j < workers; j++) {
    for (;;) {
      if (Atomics.load(ctrl, ABORT) !== 0) throw new Aborted('aborted');
      const v = Atomics.load(ctrl, DONE + j);
      if (v >= target) break;
      // The timeout only guards against a notify lost to a dead peer; normally notify wakes us.
      Atomics.wait(ctrl, DONE + j, v, 100);
    }
  }
}

async function train(req: TrainRequest): Promise<{ params?: { kernel: Float32Array; bias: Float32Array }[]; profile: WorkerProfile }> {
  const t0 = performance.now();
  const tensorsBefore = tf.memory().numTensors;
  const { worker: k, workers: W, options, count, images, labels, orders, ctrl, paramCount: P } = req;
  const net: Network = { arch: req.arch, layers: req.layers, params: req.params };
  const shape = net.arch.inputShape;
  const sampleSize = shape[0] * shape[1] * shape[2];
  const classes = net.layers[net.layers.length - 1].outUnits;
  const batches = Math.ceil(count / options.batchSize);

  // Dead units' biases start (and stay) at 0, as in train.ts.
  const bound = bind(net);
  const { kernels, biases } = bound;
  const vars = [...kernels, ...biases];
  const masks = [...bound.kernelMasks, ...bound.biasMasks];
  const sizes = vars.map((v) => v.size);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  if (offsets[offsets.length - 1] + sizes[sizes.length - 1] !== P) throw new Error(`parameter count ${P} does not match the network`);
  const optimizer = makeOptimizer(options);
  const readParams = () => net.params.map((_, l) => ({ kernel: kernels[l].dataSync() as Float32Array, bias: biases[l].dataSync() as Float32Array }));

  const region = (step: number, j: number) => new Float32Array(req.grads, 4 * ((step & 1) * W + j) * P, P);
  const x = new Float32Array(Math.ceil(options.batchSize / W) * sampleSize);
  const y = new Int32Array(Math.ceil(options.batchSize / W));
  const profile: WorkerProfile = { setupMs: 0, gradientMs: 0, waitMs: 0, applyMs: 0, steps: 0, leakedTensors: 0 };

  try {
    if (req.optimizerState) await restoreOptimizerState(optimizer, req.optimizerState, vars.map((v) => v.shape));
    profile.setupMs = performance.now() - t0;
    for (let epoch = req.startEpoch; epoch < options.epochs; epoch++) {
      const order = orders.subarray(epoch * count, (epoch + 1) * count);
      for (let batch = 0; batch < batches; batch++) {
        const step = epoch * batches + batch;
        if (req.fault && req.fault.worker === k && req.fault.step === step) {
          throw new Error(`injected fault in worker ${k} at step ${step}`);
        }
        const ta = performance.now();
        const start = batch * options.batchSize;
        const end = Math.min(count, start + options.batchSize);
        const n = end - start;
        // Contiguous slice k of W; sizes differ by at most one.
        const s0 = start + Math.floor((k * n) / W);
        const s1 = start + Math.floor(((k + 1) * n) / W);
        const mine = region(step, k);
        let loss = 0;
        if (s1 > s0) {
          const m = s1 - s0;
          for (let i = s0; i < s1; i++) {
            const src = order[i] * sampleSize;
            const dst = (i - s0) * sampleSize;
            for (let j = 0; j < sampleSize; j++) x[dst + j] = images[src + j] / 255;
            y[i - s0] = labels[order[i]];
          }
          // The slice's mean loss weighted by m / n: the slices' gradients sum to the batch's mean gradient.
          const weight = m / n;
          loss = tf.tidy(() => {
            const xb = tf.tensor4d(x.subarray(0, m * sampleSize), [m, shape[0], shape[1], shape[2]]);
            const yb = tf.oneHot(tf.tensor1d(y.subarray(0, m), 'int32'), classes);
            const { value, grads } = tf.variableGrads(() => {
              const l = tf.losses.softmaxCrossEntropy(yb, forward(net, kernels, biases, xb)) as tf.Scalar;
              return weight === 1 ? l : tf.mul(l, weight);
            }, vars);
            vars.forEach((v, i) => mine.set(readFloats(grads[v.name]), offsets[i]));
            return value.dataSync()[0];
          });
        } else {
          mine.fill(0);
        }
        req.losses[step * W + k] = loss;
        Atomics.store(ctrl, DONE + k, step + 1);
        Atomics.notify(ctrl, DONE + k);
        const tb = performance.now();
        barrier(ctrl, W, step + 1);
        const tc = performance.now();
        tf.tidy(() => {
          // Fixed order ((g0 + g1) + g2) + ..., so every worker computes the same float32 sums.
          const regions = Array.from({ length: W }, (_, j) => region(step, j));
          const masked: Record<string, tf.Tensor> = {};
          vars.forEach((v, i) => {
            const slice = (j: number) => tf.tensor(regions[j].subarray(offsets[i], offsets[i] + sizes[i]), v.shape);
            let g = slice(0);
            for (let j = 1; j < W; j++) g = tf.add(g, slice(j));
            masked[v.name] = tf.mul(g, masks[i]);
          });
          optimizer.applyGradients(masked);
          vars.forEach((v, i) => v.assign(tf.mul(v, masks[i])));
        });
        const td = performance.now();
        profile.gradientMs += tb - ta;
        profile.waitMs += tc - tb;
        profile.applyMs += td - tc;
        profile.steps++;
      }
      if (req.epochSnapshots && epoch < options.epochs - 1) {
        // Every worker holds the same state; the first one's is the checkpoint's.
        const reply: WorkerReply = {
          type: 'epoch', id: req.id, worker: k, epochsDone: epoch + 1, params: readParams(),
          optimizer: await saveOptimizerState(optimizer, options.optimizer),
        };
        port!.postMessage(reply);
      }
    }
    const params = req.returnParams ? readParams() : undefined;
    return { params, profile };
  } finally {
    unbind(bound);
    disposeOptimizer(optimizer);
    profile.leakedTensors = tf.memory().numTensors - tensorsBefore;
  }
}
