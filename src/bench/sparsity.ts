/**
 * The method's promise in time: an offspring at X-fold synapse efficiency, trained in its
 * compacted form, should train faster than the dense ancestor. For each target X one offspring is
 * sampled from LeNet-5 in a single generation (F = 1/X, Fc = 1/sqrt(X), so ~sqrt(X)-fold fewer conv
 * filters), then the same training steps are timed on the masked full-size network and on its
 * compacted form. Weights are the seeded initialisation: step time depends on shapes, not values.
 */
import { lenet5 } from '../models/ancestors/lenet5';
import { type Network, cloneNetwork, initialiseNetwork } from '../models/network';
import { compactNetwork } from '../models/compact';
import { type EncodingOptions, sampleOffspring } from '../encoding/offspring';
import { developFrom } from '../encoding/develop';
import { measureFields } from '../evolution/record';
import { measure } from '../metrics/measure';
import { stream } from '../random';
import type { BackendInfo } from '../engine/backend';
import { activateConfiguration, nativeBuilt } from './configurations';
import { type BenchSettings, type Measurement, benchData, planFor, timeTraining } from './measure';

export const defaultSparsityLevels = [1, 10, 100];
/** The largest target accepted: beyond it an offspring of LeNet-5 keeps a handful of synapses. */
export const maxSparsityLevel = 10000;
/** MNIST's training split after evolve's default 5,000-sample validation hold-out. */
export const EPOCH_SAMPLES = 55000;

/** The levels to measure, ascending, always with 1 (the dense ancestor: the reference for every ratio). */
export function sparsityLevels(levels: number[]): number[] {
  return levels.length === 0 ? [] : [...new Set([1, ...levels])].sort((a, b) => a - b);
}

/** One form (masked full-size, or compacted) of one offspring, timed. */
export interface TimedForm extends Measurement {
  /** Seconds one epoch of EPOCH_SAMPLES samples would take at this rate. */
  epochSeconds: number;
  /** epochSeconds over the dense ancestor's (the X = 1 masked form). */
  vsAncestor: number | null;
}

export interface SparsityOffspring {
  /** Target synapse efficiency X. */
  target: number;
  /** F and Fc the offspring was sampled with (1 and 1: the ancestor itself). */
  synapseFactor: number;
  clusterFactor: number;
  synapses: number;
  synapseEfficiency: number;
  filters: number;
  filterEfficiency: number;
  denseNeurons: number;
  capped: boolean;
  /** Units per weighted layer of the compacted network (its shape). */
  units: number[];
  /** Multiply-accumulates per sample of the compacted network. */
  macs: number;
}

export type SparsityRow =
  | ({
      status: 'ok';
      masked: TimedForm;
      compacted: TimedForm;
      backend: BackendInfo;
      threads: number | null;
    } & SparsityOffspring)
  | { target: number; status: 'failed'; note: string };

/** What `--only sparsity` prints. */
export interface SparsityResult {
  part: 'sparsity';
  rows: SparsityRow[];
}

/** evolve's default encoding, with this target's budgets. */
function encodingFor(target: number): EncodingOptions {
  return {
    synapseFactor: 1 / target,
    clusterFactor: 1 / Math.sqrt(target),
    tau: 0.01,
    normalisation: 'calibrated',
    scope: 'global',
    granularity: 'filter',
  };
}

/** One generation from `ancestor` at efficiency ~`target`, as `evolve` develops it (inherited weights, masked). */
export function offspringAt(ancestor: Network, target: number, seed = 1): { net: Network; capped: boolean } {
  if (target === 1) return { net: cloneNetwork(ancestor), capped: false };
  const genome = sampleOffspring(ancestor, encodingFor(target), stream(seed, 'bench', 'sparsity', target, 'dna'));
  const net = developFrom(genome, ancestor, ancestor, 'inherit', stream(seed, 'bench', 'sparsity', target, 'init'));
  return { net, capped: genome.capped };
}

/** The offspring for every level, measured (no tensors: milliseconds to a second or two). */
export function sparsityOffspring(levels: number[], seed = 1): { offspring: SparsityOffspring; net: Network }[] {
  const ancestor = initialiseNetwork(lenet5, stream(seed, 'bench', 'init'));
  const ancestorMeasure = measure(
    ancestor.layers,
    ancestor.params.map((p) => p.mask),
  );
  return levels.map((target) => {
    const { net, capped } = offspringAt(ancestor, target, seed);
    const m = measureFields(
      measure(
        net.layers,
        net.params.map((p) => p.mask),
      ),
      ancestorMeasure,
      'filter',
    );
    const { synapseFactor, clusterFactor } = encodingFor(target);
    return {
      net,
      offspring: {
        target,
        synapseFactor,
        clusterFactor,
        synapses: m.synapses,
        synapseEfficiency: m.synapseEfficiency,
        filters: m.filters,
        filterEfficiency: m.filterEfficiency,
        denseNeurons: m.denseNeurons,
        capped,
        units: m.layers.map((l) => l.units),
        macs: m.macs,
      },
    };
  });
}

/** The process warm-up before the first timed form: this many full-size steps, or this long. */
const SETTLE = { steps: 30, seconds: 3 };

function timed(m: Measurement): TimedForm {
  return { ...m, epochSeconds: EPOCH_SAMPLES / m.samplesPerSecond, vsAncestor: null };
}

/** The child side (`evolve bench --only sparsity`): every level timed in this process, on the tuned wasm backend. */
export async function measureSparsity(s: BenchSettings, seed = 1): Promise<SparsityResult> {
  // evolve's default path: the native kernels where built, else the JavaScript ones.
  const name = nativeBuilt() ? 'native' : 'wasm-tuned';
  const { backend, threads } = await activateConfiguration(name);
  const plan = planFor(name, s)!;
  const workers = threads ?? 1;
  const data = benchData(plan, s.batchSize, seed);
  const levels = sparsityOffspring(s.sparsityLevels, seed);
  // A process's first few dozen steps run slower (heap growth, V8 tiering up the WASM and JS code):
  // spend them on a throw-away full-size network, so the ancestor, timed first, pays no more than the rest.
  if (plan.warmup > 0) {
    const settle = {
      warmup: 0,
      seconds: SETTLE.seconds,
      minBatches: plan.warmup,
      maxBatches: Math.max(plan.warmup, SETTLE.steps),
    };
    await timeTraining(cloneNetwork(levels[0].net), data, settle, s.batchSize, seed, workers);
  }
  const rows: SparsityRow[] = [];
  for (const { offspring, net } of levels) {
    const compact = compactNetwork(net).net;
    // Same seed, so both forms train on the same batches in the same order.
    const masked = timed(await timeTraining(net, data, plan, s.batchSize, seed, workers));
    const compacted = timed(await timeTraining(compact, data, plan, s.batchSize, seed, workers));
    rows.push({ ...offspring, status: 'ok', masked, compacted, backend, threads });
  }
  return { part: 'sparsity', rows: withAncestorRatios(rows) };
}

/** Each form's epoch time over the dense ancestor's (the target-1 masked form). */
export function withAncestorRatios(rows: SparsityRow[]): SparsityRow[] {
  const ancestor = rows.find((r) => r.target === 1 && r.status === 'ok');
  const base = ancestor?.status === 'ok' ? ancestor.masked.epochSeconds : undefined;
  const share = (f: TimedForm): TimedForm => ({ ...f, vsAncestor: base ? f.epochSeconds / base : null });
  return rows.map((r) => (r.status === 'ok' ? { ...r, masked: share(r.masked), compacted: share(r.compacted) } : r));
}
