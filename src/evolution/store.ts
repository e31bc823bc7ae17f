/**
 * Where the generation loop keeps what it made. The loop only asks; src/run/store.ts answers from
 * the run folder. A generation is finished once its record and network are saved, and is never run
 * again: resuming a run is running it again.
 */
import type { Network } from '../models/network';
import type { GenerationRecord } from './record';
import type { TrainingCheckpoint } from './checkpoint';

/** A finished generation: its record and its selected network (the ancestor for generation 0). */
export interface Generation {
  record: GenerationRecord;
  net: Network;
  /**
   * Its population, best first, as record.survivors numbers them: `net` and the runners-up (with
   * --population > 1). Absent: `net` alone.
   */
  survivors?: Network[];
}

export interface GenerationStore {
  /** Whether generation g's record and network are saved. */
  finished(g: number): boolean;
  /** Finished generation g, as saved. */
  load(g: number): Promise<Generation>;
  /**
   * Generation g's saved progress when `problem` finds it fits (returns null); undefined when there
   * is none or it does not fit (the store says so and drops it): the generation starts afresh.
   */
  progress(g: number, problem: (p: TrainingCheckpoint) => string | null): TrainingCheckpoint | undefined;
  /** Replaces the progress of generation p.generation. */
  saveProgress(p: TrainingCheckpoint): void;
  /** Saves a finished generation's networks: its record follows with saveRecord. */
  saveNetworks(generation: Generation): Promise<void>;
  /** Saves the record of the generation whose networks were just saved, then drops its progress: it is finished. */
  saveRecord(record: GenerationRecord): void;
}
