/**
 * The generation loop (docs/method.md): generation 0 is the ancestor (trained from a seeded
 * initialisation, or loaded); each later generation samples K offspring from its parent's DNA,
 * develops (trains) each, keeps the best on the validation split, measures it on the test split,
 * and hands it on as the next parent. Each generation is one step, done once: a finished one is
 * skipped, so resuming a run is running it again (see ./store.ts).
 */
import type { Architecture } from '../models/architecture';
import type { Network } from '../models/network';
import type { Dataset } from '../data/dataset';
import type { EncodingOptions } from '../encoding/offspring';
import type { OptimizerName } from '../engine/train';
import type { InitMode } from '../encoding/develop';
import type { GenerationRecord } from './record';
import type { Generation, GenerationStore } from './store';
import { type Baseline, baselineOf, runGeneration } from './generation';

export type { InitMode };

export interface LineageSettings {
  generations: number;
  offspring: number;
  epochs: number;
  ancestorEpochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  /** L2 weight decay (0: none). */
  weightDecay?: number;
  init: InitMode;
  seed: number;
  encoding: EncodingOptions;
  /** Generation 0 is the --ancestor network, loaded and not trained (the run's gen-00 holds it exactly). */
  loadsAncestor: boolean;
}

export interface LineageEvents {
  /** Training of one network begins (`offspring` is null for the ancestor). */
  onTrainStart?: (generation: number, offspring: number | null) => void;
  onBatch?: (p: { epoch: number; epochs: number; batch: number; batches: number; loss: number }) => void;
  /**
   * Training of one network ended. Like onTrainStart it comes after a turn of the event loop
   * (so signal handlers have run), and may throw to stop the run without recording anything.
   */
  onTrainEnd?: (generation: number, offspring: number | null) => void;
  /** A generation is finished and saved. */
  onGeneration?: (record: GenerationRecord) => Promise<void> | void;
}

/** What a run's generations share. */
export interface Lineage {
  arch: Architecture;
  data: Dataset;
  settings: LineageSettings;
  store: GenerationStore;
  events: LineageEvents;
  /** The --ancestor network, needed when generation 0 runs and settings.loadsAncestor. */
  ancestor?: Network;
}

/**
 * Runs every generation of the lineage that is not finished yet, in order; resolves to the records
 * of those it ran. Every random stream is named by generation, so a generation run in a resumed
 * process gives the record an uninterrupted run would.
 */
export async function runLineage(lineage: Lineage): Promise<GenerationRecord[]> {
  const { settings, store, events } = lineage;
  const records: GenerationRecord[] = [];
  let parent: Generation | undefined; // generation g - 1
  let baseline: Baseline | undefined; // what every later generation takes from generation 0
  for (let g = 0; g <= settings.generations; g++) {
    if (store.finished(g)) continue; // saved: never run again, so resuming is running again
    if (g > 0 && parent?.record.generation !== g - 1) parent = await store.load(g - 1);
    if (g > 0) baseline ??= baselineOf(g === 1 ? parent! : await store.load(0), lineage);
    const generation = await runGeneration(g, { parent, baseline }, lineage);
    await store.save(generation);
    records.push(generation.record);
    await events.onGeneration?.(generation.record);
    parent = generation;
  }
  return records;
}
