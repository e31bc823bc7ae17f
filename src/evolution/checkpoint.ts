/**
 * A generation's training in progress: what a resumed run needs to continue after the last
 * finished epoch (or the last finished offspring) instead of from the generation's start.
 */
import { createHash } from 'node:crypto';
import type { LayerParams, Network } from '../models/network';
import type { OptimizerName } from '../engine/optimizer';
import { type OptimizerState, slotsPerVariable } from '../engine/optimizerState';
import type { CandidateRecord } from './record';

export interface TrainingCheckpoint {
  generation: number;
  /** The network in training: null for the ancestor, else the offspring's index. */
  offspring: number | null;
  /** Its finished epochs, of `epochs`. 0: it has not started yet (the earlier offspring have finished). */
  epochsDone: number;
  epochs: number;
  /** fingerprint() of the compacted network it started from: ties the checkpoint to that network. */
  start: string;
  /** Its compacted kernels and biases after epochsDone epochs (null when 0). */
  network: { kernel: Float32Array; bias: Float32Array }[] | null;
  optimizer: OptimizerState | null;
  /** Mean training loss of its last finished epoch (null when none). */
  loss: number | null;
  /** The generation's earlier offspring: their candidate entries, and the best of them so far. */
  candidates: CandidateRecord[];
  best: BestOffspring | null;
  /** With --population P > 1: the next P - 1 best so far, in order (absent in older checkpoints). */
  runnersUp?: BestOffspring[];
  /** The generation's timing fields so far (./record.ts; the parts are absent in older checkpoints). */
  seconds: number;
  trainSeconds: number;
  sampleSeconds?: number;
  setupSeconds?: number;
  evaluateSeconds?: number;
  saveSeconds?: number;
}

/**
 * The best offspring of a generation so far, as the generation loop holds it and its saved progress
 * keeps it: what the generation's record and network take from it.
 */
export interface BestOffspring {
  offspring: number;
  /** Validation accuracy as a fraction, unrounded: later offspring are compared with it. */
  validation: number;
  synapses: number;
  loss: number;
  expectedSynapses: number;
  capped: boolean;
  /** The trained network, full size with its mask. */
  params: LayerParams[];
}

/**
 * A checkpoint as decoded, its best offspring's `budgetExceeded` (the name before `capped`) taken
 * to `capped`: progress saved before the rename continues as progress saved after it.
 */
export function upgradeCheckpoint(cp: TrainingCheckpoint): TrainingCheckpoint {
  const best = cp.best as (BestOffspring & { budgetExceeded?: boolean }) | null;
  if (!best || !('budgetExceeded' in best)) return cp;
  const { budgetExceeded, ...rest } = best;
  return { ...cp, best: { ...rest, capped: best.capped ?? budgetExceeded === true } };
}

/** A digest of a network's weights, biases and masks. */
export function fingerprint(net: Network): string {
  const h = createHash('sha256');
  for (const p of net.params) {
    for (const a of [p.kernel, p.bias, p.mask]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex').slice(0, 32);
}

export interface Expected {
  generation: number;
  /** Offspring per generation (the ancestor: 1). */
  offspring: number;
  /** Offspring kept per generation (the ancestor: 1). */
  population: number;
  epochs: number;
  optimizer: OptimizerName;
  /** Full-size network of the run (shapes only). */
  full: Network;
  /** The compacted starting network of the one in training (null when cp.epochsDone is 0). */
  compact: Network | null;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** Why `cp` cannot continue this run's generation, or null when it can. */
export function checkpointProblem(cp: TrainingCheckpoint, e: Expected): string | null {
  const ancestor = e.generation === 0;
  if (cp.generation !== e.generation) return `it is of generation ${cp.generation}, not ${e.generation}`;
  if (ancestor ? cp.offspring !== null : !isCount(cp.offspring) || cp.offspring >= e.offspring) {
    return `offspring ${cp.offspring} does not fit ${ancestor ? 'the ancestor' : `${e.offspring} offspring`}`;
  }
  if (cp.epochs !== e.epochs || !isCount(cp.epochsDone) || (cp.epochsDone > 0 && cp.epochsDone >= e.epochs)) {
    return `epoch ${cp.epochsDone} of ${cp.epochs} does not fit the run's ${e.epochs} epochs`;
  }
  const k = cp.offspring ?? 0;
  if (!Array.isArray(cp.candidates) || cp.candidates.length !== k || cp.candidates.some((c, i) => c?.offspring !== i)) {
    return `it lists ${cp.candidates?.length} earlier offspring, expected ${k}`;
  }
  const fits = (b: BestOffspring | null | undefined): boolean =>
    !!b && isCount(b.offspring) && b.offspring < k && sameShapes(b.params, e.full.params, true);
  if (k > 0 && !fits(cp.best)) return 'its best earlier offspring does not fit the architecture';
  const runnersUp = cp.runnersUp ?? [];
  if (!Array.isArray(runnersUp) || runnersUp.length >= e.population || !runnersUp.every(fits)) {
    return `its runners-up do not fit a population of ${e.population}`;
  }
  if (cp.epochsDone === 0) return k > 0 ? null : 'it holds no finished epoch';
  if (!e.compact || cp.start !== fingerprint(e.compact)) return 'it was made from another starting network';
  if (!cp.network || !sameShapes(cp.network, e.compact.params, false))
    return 'its network does not fit the compacted offspring';
  const o = cp.optimizer;
  const sizes = [...e.compact.params.map((p) => p.kernel.length), ...e.compact.params.map((p) => p.bias.length)];
  if (
    !o ||
    o.optimizer !== e.optimizer ||
    !Array.isArray(o.slots) ||
    o.slots.length !== slotsPerVariable(e.optimizer) * sizes.length ||
    o.slots.some((s, i) => !(s instanceof Float32Array) || s.length !== sizes[i % sizes.length])
  ) {
    return `its optimizer state does not fit ${e.optimizer} on this network`;
  }
  return null;
}

function sameShapes(
  got: { kernel: unknown; bias: unknown; mask?: unknown }[],
  want: LayerParams[],
  withMask: boolean,
): boolean {
  return (
    Array.isArray(got) &&
    got.length === want.length &&
    got.every(
      (p, l) =>
        p.kernel instanceof Float32Array &&
        p.kernel.length === want[l].kernel.length &&
        p.bias instanceof Float32Array &&
        p.bias.length === want[l].bias.length &&
        (!withMask || (p.mask instanceof Uint8Array && p.mask.length === want[l].kernel.length)),
    )
  );
}
