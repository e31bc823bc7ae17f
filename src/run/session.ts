/**
 * A run's hold on its folder, from set-up to its last line: the stop requests (./stopping.ts), the
 * lock (./lock.ts), opening the folder (new, or to resume), and what the last line says when the
 * run ends early: interrupted (exit 130, or 141 for a closed stdout), or a failed write (exit 1).
 */
import * as path from 'node:path';
import type { Architecture } from '../models/architecture';
import { RunError } from '../errors';
import { StopRequest, stderrOpen } from './stopping';
import { RunLock } from './lock';
import { WriteError } from '../files';
import { RunFolder, generationDir } from './runFolder';
import { readFinished } from './resume';
import { type RunLog, RunStore } from './store';
import { describeCheckpoint } from './checkpoint';

/** Thrown from the training callbacks once a signal or a closed stdout has asked the run to stop. */
export class Interrupted extends Error {}

export class RunSession {
  /** The run's generations, once its folder is open. */
  store: RunStore | undefined;
  private lock: RunLock | undefined;
  // A signal or a closed stdout stops the run after the current batch; a second signal at once.
  private readonly stop = new StopRequest(() => this.stopNow());

  constructor(private readonly s: { out: string; log: RunLog }) {}

  /** A new run: creates its folder, holds it and writes config.json. */
  create(arch: Architecture, config: object): RunStore {
    const folder = new RunFolder(this.s.out);
    folder.makeDir();
    this.hold();
    folder.writeConfig(config);
    this.store = new RunStore({ dir: this.s.out, arch, records: [], log: this.s.log });
    return this.store;
  }

  /**
   * A run to resume: holds its folder and reads its finished generations, cutting off a torn last
   * line and the records from a missing or incomplete gen-NN folder on, and saying so.
   */
  reopen(arch: Architecture): RunStore {
    const { out, log } = this.s;
    this.hold();
    const finished = readFinished(out);
    if (finished.repaired) {
      log.warn(
        `evolve: ${path.join(out, 'generations.ndjson')}: cut off a torn last line (${finished.repaired}), ` +
          'left by an interrupted write',
      );
    }
    if (finished.incomplete !== undefined) {
      log.warn(
        `evolve: ${generationDir(out, finished.incomplete)}: missing or incomplete; ` +
          'its record and those after it were cut off, and the run goes on from there',
      );
    }
    this.store = new RunStore({ dir: out, arch, records: finished.records, log });
    return this.store;
  }

  /** Throws Interrupted once a stop was asked for; called between batches, networks and generations. */
  checkStop(): void {
    if (this.stop.reason) throw new Interrupted('interrupted');
  }

  /**
   * Runs `body`, then lets the folder go. An interruption ends the process with its exit code after
   * a line saying what the folder holds; a failed write once generations are on disk says how to go on.
   */
  async run(body: () => Promise<void>): Promise<void> {
    try {
      await body();
      return;
    } catch (e) {
      this.rethrowUnlessInterrupted(e);
    } finally {
      this.lock?.release();
      this.stop.unlisten();
    }
    // Every generation on disk is complete.
    this.s.log.info(
      `evolve: ${this.stop.describe()}; the run folder holds ${this.holds()}; ` +
        `resume with: evolve --resume ${this.s.out}`,
    );
    process.exit(this.stop.exitCode);
  }

  private hold(): void {
    this.stop.listen();
    this.lock = RunLock.acquire(this.s.out, (m) => this.s.log.warn(m));
  }

  private rethrowUnlessInterrupted(e: unknown): void {
    const last = this.store?.last ?? -1;
    if (e instanceof WriteError && last >= 0) {
      // A full disk mid-run: what is on disk is complete, so say what it holds and how to go on.
      const fix = e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'free space' : 'fix that';
      throw new RunError(
        `${e.message}; the run folder holds generations 0..${last}; ${fix}, then: evolve --resume ${this.s.out}`,
      );
    }
    if (!(e instanceof Interrupted)) throw e;
  }

  private holds(): string {
    const last = this.store?.last ?? -1;
    const held = this.store?.held;
    return (
      (last >= 0 ? `generations 0..${last}` : 'no finished generation yet') +
      (held ? ` and a checkpoint (${describeCheckpoint(held)}), where the resume continues` : '')
    );
  }

  private stopNow(): void {
    this.lock?.release();
    if (stderrOpen())
      process.stderr.write(`\nevolve: interrupted again; stopping now; resume with: evolve --resume ${this.s.out}\n`);
    process.exit(this.stop.exitCode);
  }
}
