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

/** A generation's wall and training time, continued from its saved progress (the timing fields only). */
export class Clock {
  private readonly start: number;
  private trained: number;
  private since: number | null = null;

  constructor(from?: Pick<TrainingCheckpoint, 'seconds' | 'trainSeconds'>) {
    this.start = Date.now() - (from?.seconds ?? 0) * 1000;
    this.trained = from?.trainSeconds ?? 0;
  }

  startTraining(): void {
    this.since = Date.now();
  }

  stopTraining(): void {
    this.trained += (Date.now() - this.since!) / 1000;
    this.since = null;
  }

  times(): { seconds: number; trainSeconds: number } {
    const now = Date.now();
    const training = this.since === null ? 0 : (now - this.since) / 1000;
    return { seconds: (now - this.start) / 1000, trainSeconds: this.trained + training };
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
  /** The rest of the generation's state (its finished offspring), saved with each epoch's progress. */
  progress: () => Pick<TrainingCheckpoint, 'candidates' | 'best' | 'runnersUp'>;
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
  d.clock.startTraining();
  const compact = compactNetwork(d.net);
  // Ties saved progress to the network it started from; only a network with an epoch before its last saves any.
  const start = d.epochs > 1 ? fingerprint(compact.net) : '';
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
      onEpochEnd: (e) =>
        store.saveProgress({
          ...d.at,
          epochsDone: e.epochsDone,
          epochs: d.epochs,
          start,
          network: e.params,
          optimizer: e.optimizer,
          loss: e.loss,
          ...d.progress(),
          ...d.clock.times(),
        }),
    },
    d.rng,
  );
  d.net.params = expandNetwork(compact, d.net).params;
  d.clock.stopTraining();
  await tick();
  events.onTrainEnd?.(d.at.generation, d.at.offspring);
  return loss;
}
