/**
 * RUN/.evolve.lock: the pid of the evolve process writing the run folder, removed when the run
 * ends. A lock whose pid is no longer running (a killed run) is stale and taken over.
 *
 * Every step is atomic, so that of several processes started at once exactly one holds the lock:
 * - the lock appears with its content, as a hard link to a file this process wrote first, so no
 *   other process ever reads a half-written (empty) lock and mistakes it for a stale one;
 * - a stale lock is replaced (rename) only by the process that created RUN/.evolve.lock.takeover
 *   (exclusively); it re-reads the lock under that claim, so a lock taken over in between is
 *   seen as live and the latecomer is told the folder is in use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../errors';
import { WriteError, readFileNoFollow } from '../files';

export const lockName = '.evolve.lock';
const takeoverName = `${lockName}.takeover`;
/** How long to wait for another process's takeover to finish, in steps of `pauseMs`. */
const attempts = 100;
const pauseMs = 20;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a lock file: a number, NaN when the file holds none, null when there is no file. */
function readPid(file: string): number | null {
  let text: string;
  try {
    text = readFileNoFollow(file).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RunError(
      `${file}: cannot read the lock (${(e as NodeJS.ErrnoException).code ?? String(e)}); it must be a plain file`,
    );
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : NaN;
}

const live = (pid: number | null): pid is number =>
  pid !== null && !Number.isNaN(pid) && pid !== process.pid && alive(pid);

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Creates `file` holding `content` or fails with EEXIST, never showing a partial file. */
function linkExclusive(tmp: string, file: string): boolean {
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw code ? new WriteError(file, code) : e;
  }
}

/** The folder's lock is held by a live process. */
export class LockHeld extends RunError {}

export class RunLock {
  private constructor(readonly file: string) {}

  /**
   * Takes the lock of run folder `dir` (which must exist). `onStale` hears about a stale lock
   * that is being taken over.
   */
  static acquire(dir: string, onStale: (message: string) => void): RunLock {
    const file = path.join(dir, lockName);
    const tmp = path.join(dir, `${lockName}.${process.pid}.tmp`);
    try {
      fs.rmSync(tmp, { force: true });
      fs.writeFileSync(tmp, `${process.pid}\n`, { flag: 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code ? new WriteError(tmp, code) : e;
    }
    try {
      for (let attempt = 0; attempt < attempts; attempt++) {
        if (linkExclusive(tmp, file)) return new RunLock(file);
        const pid = readPid(file);
        if (live(pid)) throw new LockHeld(`${dir}: in use by evolve pid ${pid}`);
        if (pid !== null && takeOver(dir, tmp, onStale)) return new RunLock(file);
        pause(pauseMs); // another process is taking the lock over, or just released it
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    throw new RunError(
      `${dir}: cannot take the lock ${file}; ` +
        `if no evolve is running on this folder, delete ${file} and ${path.join(dir, takeoverName)}`,
    );
  }

  /** Throws LockHeld when a live process holds the lock of `dir`. */
  static refuseIfHeld(dir: string): void {
    const pid = readPid(path.join(dir, lockName));
    if (live(pid)) throw new LockHeld(`${dir}: in use by evolve pid ${pid}`);
  }

  /** Removes the lock if it is still this process's. Safe to call more than once. */
  release(): void {
    try {
      if (readPid(this.file) === process.pid) fs.rmSync(this.file, { force: true });
    } catch {
      // already gone, or not ours to remove
    }
  }
}

/**
 * Replaces a stale lock by `tmp` if this process wins the claim; false when another process holds
 * the claim, or the lock is no longer stale once the claim is held.
 */
function takeOver(dir: string, tmp: string, onStale: (message: string) => void): boolean {
  const file = path.join(dir, lockName);
  const claim = path.join(dir, takeoverName);
  if (!linkExclusive(tmp, claim)) {
    const holder = readPid(claim);
    // A claim is held for microseconds; one whose process died is left by a kill in that instant.
    if (holder !== null && !live(holder)) {
      throw new RunError(
        `${claim}: left by an interrupted lock takeover ` +
          `(pid ${Number.isNaN(holder) ? '?' : holder} is no longer running); ` +
          `delete it if no evolve is running on ${dir}`,
      );
    }
    return false;
  }
  try {
    const pid = readPid(file);
    if (pid === null || live(pid)) return false;
    try {
      fs.renameSync(tmp, file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code ? new WriteError(file, code) : e;
    }
    onStale(
      `evolve: ${dir}: taking over a stale lock` +
        (Number.isNaN(pid) ? ' (unreadable pid)' : ` from pid ${pid}, which is no longer running`),
    );
    return true;
  } finally {
    fs.rmSync(claim, { force: true });
  }
}
