/**
 * The run folder as the generation loop's store (src/evolution/store.ts): a finished generation is
 * its gen-NN/ folder and its line in generations.ndjson; the generation in progress keeps its
 * progress in work/gen-NN/checkpoint.bin until its record is written.
 */
import type { Architecture } from '../models/architecture';
import type { GenerationRecord } from '../evolution/record';
import type { TrainingCheckpoint } from '../evolution/checkpoint';
import type { Generation, GenerationStore } from '../evolution/store';
import { RunFolder } from './runFolder';
import { loadGeneration, loadRunnersUp } from './readBack';
import { checkpointFile, describeCheckpoint, readCheckpoint, removeWork, writeCheckpoint } from './checkpoint';

/** Where a run's lines for people go (stderr, through the CLI's reporter). */
export interface RunLog {
  info(line: string): void;
  warn(line: string): void;
}

export interface RunStoreSettings {
  dir: string;
  arch: Architecture;
  /** The finished generations' records (none for a new run). */
  records: GenerationRecord[];
  log: RunLog;
}

function restarting(generation: number): string {
  const which = generation === 0 ? 'the ancestor (generation 0)' : `generation ${generation}`;
  return `ignored; ${which} restarts from its start`;
}

export class RunStore implements GenerationStore {
  /** The progress on disk that this process wrote or continues from: where a resume would continue. */
  held: TrainingCheckpoint | undefined;
  private readonly records: GenerationRecord[];
  private readonly folder: RunFolder;

  constructor(private readonly s: RunStoreSettings) {
    this.records = [...s.records];
    this.folder = new RunFolder(s.dir);
  }

  /** The last finished generation; -1 when there is none. */
  get last(): number {
    return this.records.length - 1;
  }

  finished(g: number): boolean {
    return g < this.records.length;
  }

  async load(g: number): Promise<Generation> {
    const record = this.records[g];
    const net = await loadGeneration(this.s.dir, record, this.s.arch);
    const runnersUp = await loadRunnersUp(this.s.dir, record, this.s.arch);
    return runnersUp.length > 0 ? { record, net, survivors: [net, ...runnersUp] } : { record, net };
  }

  progress(g: number, problem: (p: TrainingCheckpoint) => string | null): TrainingCheckpoint | undefined {
    const saved = readCheckpoint(this.s.dir, g);
    const why = saved.problem ?? (saved.checkpoint ? problem(saved.checkpoint) : null);
    if (why !== null) {
      this.s.log.warn(`evolve: ${checkpointFile(this.s.dir, g)}: ${why}; ${restarting(g)}`);
      removeWork(this.s.dir);
      return undefined;
    }
    if (saved.checkpoint)
      this.s.log.info(`evolve: continuing from the checkpoint: ${describeCheckpoint(saved.checkpoint)}`);
    this.held = saved.checkpoint;
    return saved.checkpoint;
  }

  saveProgress(p: TrainingCheckpoint): void {
    writeCheckpoint(this.s.dir, p);
    this.held = p;
  }

  async saveNetworks(generation: Generation): Promise<void> {
    await this.folder.addNetworks(generation.record, generation.net, generation.survivors);
  }

  saveRecord(record: GenerationRecord): void {
    this.folder.addRecord(record);
    this.records.push(record);
    // The record is on disk: the progress of its generation (and any left by an older try) is of no more use.
    removeWork(this.s.dir);
    this.held = undefined;
  }

  /** Drops progress left by a run killed right after its last record. */
  clearProgress(): void {
    removeWork(this.s.dir);
  }
}
