/**
 * Throughput of training as `evolve` users get it: the real `trainNetwork` (forward, backward,
 * masked SGD-momentum update, mask re-applied), timed per step: LeNet-5 on real MNIST images, the
 * larger ancestors on random images of their input shape (step time depends on shapes, not values).
 */
import { setTrainingThreads, trainMasked } from '../engine/trainer';
import { loadMnist } from '../data/mnist';
import { type Network, initialiseNetwork } from '../models/network';
import type { Split } from '../data/dataset';
import { lenet5 } from '../models/ancestors/lenet5';
import { findAncestor } from '../models/ancestors';
import { type Architecture, weightedLayers } from '../models/architecture';
import { measure } from '../metrics/measure';
import { stream } from '../random';
import type { ConfigurationName } from './configurations';

export interface BenchSettings {
  /** The ancestor a configuration trains (an ancestors/ name): lenet5 on MNIST, others on random images. */
  arch: string;
  batchSize: number;
  /** Timed steps per configuration; undefined: as many as fit in `seconds`. */
  batches?: number;
  /** Time budget per configuration when `batches` is not given. */
  seconds: number;
  /** Untimed steps first (kernel set-up, JIT, heap growth). */
  warmup: number;
  /** Cap on timed steps for the plain-JS cpu backend (a few samples/s); 0 skips it. */
  cpuBatches: number;
  /** Threads the PyTorch peer is given. */
  torchThreads: number;
  /**
   * Target synapse efficiencies for the sparsity part (see ./sparsity), ascending with 1
   * first; empty skips it.
   */
  sparsityLevels: number[];
}

export interface StepPlan {
  warmup: number;
  /** Fixed number of timed steps, or undefined to run until `seconds` have passed. */
  batches?: number;
  seconds: number;
  /** In time-budget mode, at least this many timed steps. */
  minBatches: number;
  /** Warm up in a separate run at this smaller batch size (same code paths, a fraction of the time). */
  warmupBatchSize?: number;
  /** In time-budget mode, stop after this many timed steps even if `seconds` have not passed. */
  maxBatches?: number;
}

/** What one configuration runs, or null when the settings skip it. */
export function planFor(name: ConfigurationName, s: BenchSettings): StepPlan | null {
  if (name === 'cpu') {
    if (s.cpuBatches === 0) return null;
    // A few samples/s: one step of 64 takes most of a minute, so warm the JIT up on a 4-sample step
    // (after it the first full step is as fast as the next). Wasm warms up at full size: its heap must grow.
    return {
      warmup: Math.min(s.warmup, 1),
      batches: Math.min(s.batches ?? s.cpuBatches, s.cpuBatches),
      seconds: s.seconds,
      minBatches: 1,
      warmupBatchSize: Math.min(s.batchSize, 4),
    };
  }
  return { warmup: s.warmup, batches: s.batches, seconds: s.seconds, minBatches: 3 };
}

export interface Measurement {
  batchSize: number;
  warmup: number;
  warmupBatchSize: number;
  /** Timed steps. */
  batches: number;
  seconds: number;
  samplesPerSecond: number;
  msPerStep: number;
  msPerStepMedian: number;
  /** Training loss of the last step: a finite number shows the steps really trained. */
  loss: number;
}

const MNIST_TRAIN = 60000;
/** Upper bound on timed steps in time-budget mode (a fast GPU could otherwise run for long). */
const MAX_TIMED_STEPS = 100000;

/** Thrown from the batch callback to end `trainNetwork` once enough steps were timed. */
class Enough extends Error {}

export async function measureTraining(
  plan: StepPlan,
  batchSize: number,
  seed = 1,
  workers = 1,
  arch: Architecture = lenet5,
): Promise<Measurement> {
  const { warmupBatchSize } = plan;
  if (warmupBatchSize !== undefined && warmupBatchSize !== batchSize && plan.warmup > 0) {
    await measureTraining(
      { ...plan, warmupBatchSize: undefined, warmup: 0, batches: plan.warmup },
      warmupBatchSize,
      seed,
      workers,
      arch,
    );
    const timed = await measureTraining(
      { ...plan, warmupBatchSize: undefined, warmup: 0 },
      batchSize,
      seed,
      workers,
      arch,
    );
    return { ...timed, warmup: plan.warmup, warmupBatchSize };
  }
  const data = benchData(plan, batchSize, seed, arch);
  return timeTraining(initialiseNetwork(arch, stream(seed, 'bench', 'init')), data, plan, batchSize, seed, workers);
}

/** The architecture a bench name stands for (checked by the command's option parser). */
export function benchArchitecture(name: string): Architecture {
  const arch = findAncestor(name);
  if (!arch) throw new Error(`no ancestor ${JSON.stringify(name)}`);
  return arch;
}

/**
 * Floating-point operations of one training sample's step: two per multiply-add of the forward
 * pass, of the weight gradients (as many), and of the input gradients of every weighted layer but
 * the first (nothing needs the gradient of the data). Bias, activation, pooling and update work
 * are left out: they are a few percent of a dense ancestor's.
 */
export function trainingFlopsPerSample(arch: Architecture): number {
  const layers = weightedLayers(arch);
  const full = measure(
    layers,
    layers.map((l) => new Uint8Array(l.spatial * l.inUnits * l.outUnits).fill(1)),
  );
  return 2 * full.layers.reduce((sum, l, i) => sum + l.macs * (i === 0 ? 2 : 3), 0);
}

/**
 * The training samples a plan's steps draw from, full batches only: for LeNet-5 MNIST, at most one
 * epoch's worth; for other ancestors a few batches of seeded random pixels and labels (reshuffled
 * each epoch), so that a 96x96x3 bench holds megabytes, not an epoch.
 */
export function benchData(plan: StepPlan, batchSize: number, seed = 1, arch: Architecture = lenet5): Split {
  const steps = plan.warmup + (plan.batches ?? MAX_TIMED_STEPS);
  if (arch === lenet5) {
    const perEpoch = Math.max(1, Math.min(steps, Math.floor(MNIST_TRAIN / batchSize)));
    return loadMnist({ validation: 0, trainLimit: perEpoch * batchSize, rng: stream(seed, 'bench', 'data') }).train;
  }
  return randomImages(arch, Math.min(steps, RANDOM_BATCHES) * batchSize, seed);
}

/** Distinct random batches of the larger ancestors' bench data. */
const RANDOM_BATCHES = 4;

/** `count` images of `arch`'s input shape with uniform random bytes, and labels of its classes. */
export function randomImages(arch: Architecture, count: number, seed = 1): Split {
  const [h, w, c] = arch.inputShape;
  const rng = stream(seed, 'bench', 'random images', arch.name);
  const images = new Uint8Array(count * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng() * 256);
  const classes = benchClasses(arch);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = Math.floor(rng() * classes);
  return { images, labels, count };
}

function benchClasses(arch: Architecture): number {
  const last = arch.layers[arch.layers.length - 1];
  return last.kind === 'dense' ? last.units : 10;
}

/**
 * Times `plan`'s steps of the real training (`trainMasked` on `workers` threads) on `net` (trained
 * in place) over `data` (from `benchData`, so every step has `batchSize` samples; further epochs
 * reshuffle). Batch orders depend on the seed alone, so two networks timed with the same seed see
 * the same batches.
 */
export async function timeTraining(
  net: Network,
  data: Split,
  plan: StepPlan,
  batchSize: number,
  seed = 1,
  workers = 1,
): Promise<Measurement> {
  const steps = plan.warmup + (plan.batches ?? MAX_TIMED_STEPS);
  const perEpoch = Math.max(1, Math.floor(data.count / batchSize));

  const stepNs: bigint[] = [];
  let done = 0;
  let loss = NaN;
  const budgetNs = BigInt(Math.round(plan.seconds * 1e9));
  // With no warm-up the first timed step also pays for binding the variables (negligible on cpu).
  let last = process.hrtime.bigint();
  let timedSince = last;
  const onBatch = (p: { loss: number }): void => {
    const now = process.hrtime.bigint();
    if (++done > plan.warmup) stepNs.push(now - last);
    else timedSince = now;
    last = now;
    loss = p.loss;
    const timed = stepNs.length;
    const enough =
      plan.batches !== undefined
        ? timed >= plan.batches
        : timed >= (plan.maxBatches ?? MAX_TIMED_STEPS) || (timed >= plan.minBatches && now - timedSince >= budgetNs);
    if (enough) throw new Enough();
  };

  try {
    setTrainingThreads(workers);
    await trainMasked(
      net,
      data,
      {
        epochs: Math.ceil(steps / perEpoch),
        batchSize,
        learningRate: 0.01,
        optimizer: 'momentum',
        onBatch,
      },
      stream(seed, 'bench', 'order'),
    );
  } catch (e) {
    if (!(e instanceof Enough)) throw e;
  }
  return measurement(stepNs, plan, batchSize, loss);
}

/** The timed steps' totals, mean and median; `loss` is the last step's. */
function measurement(stepNs: bigint[], plan: StepPlan, batchSize: number, loss: number): Measurement {
  const totalNs = stepNs.reduce((a, b) => a + b, 0n);
  const seconds = Number(totalNs) / 1e9;
  const sorted = stepNs.map((ns) => Number(ns) / 1e6).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return {
    batchSize,
    warmup: plan.warmup,
    warmupBatchSize: batchSize,
    batches: stepNs.length,
    seconds,
    samplesPerSecond: (stepNs.length * batchSize) / seconds,
    msPerStep: (seconds * 1000) / stepNs.length,
    msPerStepMedian: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
    loss,
  };
}
