/** What a lineage is run with: its settings, data, store and events (./lineage.ts runs it). */
import type { Architecture } from '../models/architecture';
import type { Network } from '../models/network';
import type { Dataset } from '../data/dataset';
import type { EncodingOptions } from '../encoding/offspring';
import type { OptimizerName } from '../engine/optimizer';
import type { InitMode } from '../encoding/develop';
import type { GenerationRecord } from './record';
import type { GenerationStore } from './store';

export type { InitMode };

export interface LineageSettings {
  generations: number;
  offspring: number;
  /** Parents per offspring (1: the paper's single parent). */
  parents: number;
  /** Offspring of a generation kept as the next generation's possible parents (1: the best only). */
  population: number;
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
