/**
 * Developing one network of a generation (the ancestor, or an offspring): trained in compacted form,
 * its progress saved after every epoch but the last, continued from saved progress on resume.
 */
import type { Network } from '../models/network';
import type { Random } from '../random';
import { compactNetwork, expandNetwork } from '../models/compact';
import { trainMasked } from '../engine/trainer';
import { type TrainingCheckpoint, fingerprint } from './checkpoint';
import type { Lineage } from './types';
import type { GenerationRecord, timingFields } from './record';

/** The parts of a generation's time its record times, each second counted in one part at most. */
export type Phase = 'train' | 'sample' | 'setup' | 'evaluate' | 'save';

const fieldOf = {
  train: 'trainSeconds',
  sample: 'sampleSeconds',
  setup: 'setupSeconds',
  evaluate: 'evaluateSeconds',
  save: 'saveSeconds',
} as const;

/** A generation's timing fields: its wall time and the parts of it. */
export type Times = Required<Pick<GenerationRecord, (typeof timingFields)[number]>>;

const milliseconds = (s: number): number => Math.round(s * 1000) / 1000;

/**
 * A generation's wall time and its parts, continued from its saved progress (the timing fields
 * only). A part entered inside another (a checkpoint saved during training) counts in the inner
 * one alone, so the parts add up to at most the wall time.
 */
export class Clock {
  private readonly start: number;
  private readonly spent = new Map<Phase, number>();
  /** The parts entered and not yet left, innermost last; the time since `since` is the innermost's. */
  private readonly open: Phase[] = [];
  private since = 0;

  constructor(from?: Partial<Times>) {
    this.start = performance.now() - (from?.seconds ?? 0) * 1000;
    for (const [phase, field] of Object.entries(fieldOf)) this.spent.set(phase as Phase, (from?.[field] ?? 0) * 1000);
  }

  enter(phase: Phase): void {
    this.settle();
    this.open.push(phase);
  }

  leave(): void {
    this.settle();
    this.open.pop();
  }

  /** Runs `work` in `phase`. */
  during<T>(phase: Phase, work: () => T): T {
    this.enter(phase);
    try {
      return work();
    } finally {
      this.leave();
    }
  }

  /** Runs `work` in `phase`, until its promise settles. */
  async awaiting<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    this.enter(phase);
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  /** Adds the time since the last change to the innermost open part. */
  private settle(): void {
    const now = performance.now();
    const inner = this.open.at(-1);
    if (inner) this.spent.set(inner, this.spent.get(inner)! + now - this.since);
    this.since = now;
  }

  times(): Times {
    this.settle();
    const times: Record<string, number> = { seconds: milliseconds((performance.now() - this.start) / 1000) };
    for (const [phase, field] of Object.entries(fieldOf))
      times[field] = milliseconds(this.spent.get(phase as Phase)! / 1000);
    return times as Times;
  }
}

export interface Development {
  net: Network;
  epochs: number;
  /** The stream of its batch orders. */
  rng: Random;
  at: Pick<TrainingCheckpoint, 'generation' | 'offspring'>;
  /** Saved progress of this very network: training continues after its last finished epoch. */
  from?: TrainingCheckpoint;
  clock: Clock;
  /**
   * The rest of the generation's state (its finished offspring), saved with each epoch's
   * progress; null when this network's progress cannot be saved now (an offspring before it,
   * training at the same time, is not finished).
   */
  progress: () => Pick<TrainingCheckpoint, 'candidates' | 'best' | 'runnersUp'> | null;
}

/** One turn of the event loop, so a pending signal is handled before the next network trains. */
function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Trains `d.net` in place, in compacted form (dead units cost nothing, and the function is the
 * same), between the events that may stop the run; resolves to the last epoch's mean loss.
 */
export async function develop(lineage: Lineage, d: Development): Promise<number> {
  const { settings: s, events, store } = lineage;
  await tick();
  events.onTrainStart?.(d.at.generation, d.at.offspring);
  d.clock.enter('setup');
  const compact = compactNetwork(d.net);
  // Ties saved progress to the network it started from; only a network with an epoch before its last saves any.
  const start = d.epochs > 1 ? fingerprint(compact.net) : '';
  d.clock.enter('train');
  d.from?.network?.forEach((p, l) => {
    compact.net.params[l].kernel = p.kernel;
    compact.net.params[l].bias = p.bias;
  });
  const loss = await trainMasked(
    compact.net,
    lineage.data.train,
    {
      epochs: d.epochs,
      batchSize: s.batchSize,
      learningRate: s.learningRate,
      optimizer: s.optimizer,
      weightDecay: s.weightDecay,
      onBatch: events.onBatch,
      resume: d.from ? { epochsDone: d.from.epochsDone, optimizer: d.from.optimizer! } : undefined,
      onEpochEnd: (e) => {
        const rest = d.progress();
        if (!rest) return;
        d.clock.during('save', () =>
          store.saveProgress({
            ...d.at,
            epochsDone: e.epochsDone,
            epochs: d.epochs,
            start,
            network: e.params,
            optimizer: e.optimizer,
            loss: e.loss,
            ...rest,
            ...d.clock.times(),
          }),
        );
      },
    },
    d.rng,
  );
  d.clock.leave();
  d.net.params = expandNetwork(compact, d.net).params;
  d.clock.leave();
  await tick();
  events.onTrainEnd?.(d.at.generation, d.at.offspring);
  return loss;
}
