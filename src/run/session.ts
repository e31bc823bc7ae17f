/**
 * A run's hold on its folder, from set-up to its last line: the stop requests (./stopping.ts), the
 * lock (./lock.ts), opening the folder (new, or to resume), and what the last line says when the
 * run ends early: interrupted (exit 130, or 141 for a closed stdout), or a failed write (exit 1).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Architecture } from '../models/architecture';
import { RunError, UsageError } from '../errors';
import { StopRequest, interruptedExit, stderrOpen, stopSignals } from './stopping';
import { LockHeld, RunLock } from './lock';
import { WriteError } from '../files';
import { RunFolder, generationDir, notEmpty, removeTemporaryFiles, startupLeftovers } from './runFolder';
import { readFinished } from './resume';
import { type RunLog, RunStore } from './store';
import { describeCheckpoint } from './checkpoint';

/**
 * Set by `evolve reproduce` for its children: the file descriptor of a pipe from the parent. Its
 * end means the parent is gone (killed): the run then stops as on a hangup, leaving a folder to resume.
 */
export const parentPipeVariable = 'EVOLVE_PARENT_FD';
let watchingParent = false;

function watchParent(): void {
  const fd = Number(process.env[parentPipeVariable]);
  if (watchingParent || !Number.isSafeInteger(fd) || fd < 3) return;
  watchingParent = true;
  const pipe = new net.Socket({ fd, readable: true, writable: false });
  const gone = (): void => {
    // Only while a run listens: once it has let its folder go there is nothing to stop.
    if (process.listenerCount('SIGHUP') > 0) process.kill(process.pid, 'SIGHUP');
  };
  pipe.once('end', gone);
  pipe.once('error', gone);
  pipe.resume();
  pipe.unref();
}

/** Thrown from the training callbacks once a signal or a closed stdout has asked the run to stop. */
export class Interrupted extends Error {}

export class RunSession {
  /** The run's generations, once its folder is open. */
  store: RunStore | undefined;
  private lock: RunLock | undefined;
  /** The first folder this process made for a new run (its --out, or a parent): removed if the start-up fails. */
  private made: string | undefined;
  // A signal or a closed stdout stops the run after the current batch; a second signal at once.
  private readonly stop = new StopRequest(() => this.stopNow());
  // Before config.json is written there is nothing to resume: a signal ends the start-up at once.
  private readonly stopStartup = (): void => {
    if (this.store) return;
    this.leave();
    if (stderrOpen()) process.stderr.write(`evolve: ${this.stop.describe()} during start-up; ${this.startAgain()}\n`);
    process.exit(interruptedExit);
  };

  constructor(private readonly s: { out: string; log: RunLog; command?: string[] }) {}

  /**
   * A new run, before anything is loaded: makes its folder and holds it (the lock, created
   * exclusively, is the claim: of two runs started on one folder, one goes on and the other is
   * refused, exit 2). A half-made folder (only what a killed start-up wrote) is taken over.
   */
  claim(): void {
    const { out, log } = this.s;
    try {
      this.made = fs.mkdirSync(out, { recursive: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code ? new WriteError(out, code) : e;
    }
    let tookOver = false;
    try {
      this.hold((m) => {
        tookOver = true;
        log.warn(m);
      });
    } catch (e) {
      if (e instanceof LockHeld) throw new UsageError(`${e.message}; choose another --out`);
      throw e;
    }
    const left = startupLeftovers(out);
    if (left === undefined) throw notEmpty(out);
    const temporary = removeTemporaryFiles(out);
    if (tookOver || temporary.length > 0) {
      log.warn(
        `evolve: ${out}: a half-made run folder (its start-up was killed before config.json was written); ` +
          'starting the run afresh in it',
      );
    }
  }

  /** A new run, once its start-up is done: writes config.json. */
  create(arch: Architecture, config: object): RunStore {
    new RunFolder(this.s.out).writeConfig(config);
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
    const removed = removeTemporaryFiles(out);
    if (removed.length > 0) {
      log.warn(
        `evolve: ${out}: removed ${removed.length} temporary file(s) of an interrupted write: ${removed.join(', ')}`,
      );
    }
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
    this.lock?.beat();
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
      this.leave();
    }
    // Every generation on disk is complete.
    this.s.log.info(
      `evolve: ${this.stop.describe()}; the run folder holds ${this.holds()}; ` +
        `resume with: evolve --resume ${this.s.out}`,
    );
    process.exit(this.stop.exitCode);
  }

  private hold(onStale = (m: string) => this.s.log.warn(m)): void {
    this.stop.listen();
    for (const signal of stopSignals) process.on(signal, this.stopStartup);
    watchParent();
    this.lock = RunLock.acquire(this.s.out, { onStale, command: this.s.command });
  }

  /** Lets the folder go; a folder this process made and never wrote config.json to is removed. */
  private leave(): void {
    this.lock?.release();
    this.lock = undefined;
    this.stop.unlisten();
    for (const signal of stopSignals) process.removeListener(signal, this.stopStartup);
    if (this.made === undefined || this.store) return;
    // From --out up to the first folder made, each while empty.
    const top = path.resolve(this.made);
    for (let dir = path.resolve(this.s.out); dir.startsWith(top); dir = path.dirname(dir)) {
      try {
        fs.rmdirSync(dir);
      } catch {
        return; // not empty after all, or gone: left as it is
      }
      if (dir === top) return;
    }
  }

  private startAgain(): string {
    return this.made !== undefined && !fs.existsSync(this.s.out)
      ? 'nothing was written'
      : `${this.s.out} holds no run yet; start again with the same command`;
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
    this.leave();
    if (stderrOpen())
      process.stderr.write(`\nevolve: interrupted again; stopping now; resume with: evolve --resume ${this.s.out}\n`);
    process.exit(this.stop.exitCode);
  }
}
