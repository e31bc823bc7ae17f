/**
 * Inference latency of a run's generations: the paper's case for cluster efficiency is faster
 * inference, so each chosen generation is exported as evolve's compacted network (dead filters
 * and neurons removed, docs/method.md "Development and selection") and its forward pass timed on this CPU
 * through the engine's default path, against the ancestor (generation 0), at each batch size.
 *
 * Rounds interleave the generations (round r times every generation once) and the median over
 * rounds is reported, so a load spike on this shared machine hits all generations alike instead
 * of whichever was being timed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../models/network';
import { compactNetwork } from '../models/compact';
import { type Bound, bind, forward, unbind } from '../engine/trainer';
import { stream } from '../random';

export interface InferenceSettings {
  /** Images per forward pass, one latency column each (1 and 256 by default). */
  batchSizes: number[];
  /** Timed rounds; the median over them is reported. */
  rounds: number;
  /** Untimed forward passes per generation and batch size before the first round. */
  warmup: number;
  /**
   * One timed sample runs max(1, imagesPerRepeat / batch size) passes back to back: a single pass
   * at batch 1 takes ~0.1 ms, too short to time alone on a loaded machine.
   */
  imagesPerRepeat: number;
}

export const defaultInferenceSettings: InferenceSettings = {
  batchSizes: [1, 256],
  rounds: 15,
  warmup: 3,
  imagesPerRepeat: 64,
};

/** A generation to time: its number, its record's efficiencies, and the full-size network as saved. */
export interface InferenceSubject {
  generation: number;
  synapseEfficiency: number;
  clusterEfficiency: number;
  net: Network;
}

export interface LatencyAt {
  batchSize: number;
  /** Median over rounds of the forward pass's time per image, in milliseconds. */
  msPerImage: number;
  /** Spread over rounds: the 25th and 75th percentile, ms per image. */
  q1: number;
  q3: number;
  /** Generation 0's msPerImage over this one's (null without generation 0). */
  speedup: number | null;
}

export interface InferenceRow {
  generation: number;
  synapseEfficiency: number;
  clusterEfficiency: number;
  /** Units per weighted layer of the compacted network that was timed. */
  units: number[];
  latency: LatencyAt[];
}

/** One generation prepared for timing: its compacted network bound to the backend, and an input per batch size. */
interface Prepared {
  subject: InferenceSubject;
  compact: Network;
  bound: Bound;
  inputs: tf.Tensor4D[];
}

function prepare(subject: InferenceSubject, s: InferenceSettings): Prepared {
  const compact = compactNetwork(subject.net).net;
  const [h, w, c] = compact.arch.inputShape;
  const rng = stream(1, 'bench', 'inference', subject.generation);
  const inputs = s.batchSizes.map((b) => {
    const values = new Float32Array(b * h * w * c);
    for (let i = 0; i < values.length; i++) values[i] = rng();
    return tf.tensor4d(values, [b, h, w, c]);
  });
  return { subject, compact, bound: bind(compact), inputs };
}

/**
 * One forward pass, its output read back (the wasm backend computes synchronously; the read-back
 * is part of a caller's latency).
 */
function infer(p: Prepared, x: tf.Tensor4D): void {
  const y = tf.tidy(() => forward(p.compact, p.bound.kernels, p.bound.biases, x));
  y.dataSync();
  y.dispose();
}

/** Milliseconds per image of `repeats` back-to-back passes over `x`. */
function timeRepeats(p: Prepared, x: tf.Tensor4D, repeats: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < repeats; i++) infer(p, x);
  return Number(process.hrtime.bigint() - start) / 1e6 / (repeats * x.shape[0]);
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(sorted.length - 1, lo + 1)] - sorted[lo]) * (at - lo);
}

/** Times every subject at every batch size on the current backend; rows in the subjects' order. */
export function measureInference(subjects: InferenceSubject[], s: InferenceSettings): InferenceRow[] {
  const prepared = subjects.map((subject) => prepare(subject, s));
  try {
    const repeats = s.batchSizes.map((b) => Math.max(1, Math.floor(s.imagesPerRepeat / b)));
    for (const p of prepared)
      p.inputs.forEach((x) => {
        for (let i = 0; i < s.warmup; i++) infer(p, x);
      });
    const samples = prepared.map(() => s.batchSizes.map((): number[] => []));
    for (let round = 0; round < s.rounds; round++) {
      prepared.forEach((p, g) => {
        p.inputs.forEach((x, j) => {
          samples[g][j].push(timeRepeats(p, x, repeats[j]));
        });
      });
    }
    const rows = prepared.map(
      (p, g): InferenceRow => ({
        generation: p.subject.generation,
        synapseEfficiency: p.subject.synapseEfficiency,
        clusterEfficiency: p.subject.clusterEfficiency,
        units: p.compact.layers.map((l) => l.outUnits),
        latency: s.batchSizes.map((batchSize, j) => {
          const sorted = samples[g][j].slice().sort((a, b) => a - b);
          return {
            batchSize,
            msPerImage: quantile(sorted, 0.5),
            q1: quantile(sorted, 0.25),
            q3: quantile(sorted, 0.75),
            speedup: null,
          };
        }),
      }),
    );
    return withSpeedups(rows);
  } finally {
    for (const p of prepared) {
      unbind(p.bound);
      tf.dispose(p.inputs);
    }
  }
}

/** Each latency's speed-up over generation 0's at the same batch size. */
function withSpeedups(rows: InferenceRow[]): InferenceRow[] {
  const ancestor = rows.find((r) => r.generation === 0);
  return rows.map((r) => ({
    ...r,
    latency: r.latency.map((l, j) => ({
      ...l,
      speedup: ancestor ? ancestor.latency[j].msPerImage / l.msPerImage : null,
    })),
  }));
}

const fold = (x: number | null): string => (x === null ? '-' : Number.isFinite(x) ? `${x.toFixed(2)}x` : 'inf');

/** The table `evolve bench --inference` prints. */
export function formatInferenceTable(rows: InferenceRow[], title: string): string {
  const batches = rows[0]?.latency.map((l) => l.batchSize) ?? [];
  const header = [
    'generation',
    'synapse eff',
    'cluster eff',
    ...batches.flatMap((b) => [`batch ${b} ms/image`, 'speed-up']),
    'units per layer',
  ];
  const body = rows.map((r) => [
    String(r.generation),
    fold(r.synapseEfficiency),
    fold(r.clusterEfficiency),
    ...r.latency.flatMap((l) => [`${latency(l.msPerImage)} (${latency(l.q1)}-${latency(l.q3)})`, fold(l.speedup)]),
    r.units.join('-'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((c) => c[i].length)));
  const line = (c: string[]): string =>
    c
      .map((x, i) => (i === c.length - 1 ? x : x.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [title, line(header), ...body.map(line)].join('\n');
}

function latency(ms: number): string {
  return ms >= 10 ? ms.toFixed(1) : ms >= 0.1 ? ms.toFixed(3) : ms.toFixed(4);
}
