/**
 * One worker at a time per file of the data cache (a download, an extraction): `<file>.lock`,
 * created exclusively, names its holder (host, pid namespace, pid) and is touched every few
 * seconds while held. Others wait, saying once whom they wait for, then look at what the holder
 * left. A lock whose holder is gone (this host and namespace, its pid not alive) or that nobody
 * touched for a minute is abandoned and removed: a cache shared by Slurm tasks, containers or
 * several hosts never has two writers, and a killed worker never blocks the next one.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataError } from './idx';
import { processAlive } from '../processes';

/** What a lock file holds. */
export interface LockHolder {
  host: string;
  /** The holder's pid namespace (Linux), so a pid is only judged inside the namespace it belongs to. */
  pidNamespace: string;
  pid: number;
  /** Tells this lock from an earlier one of the same pid. */
  token: string;
  /** ISO time the lock was taken, for the waiting line. */
  since: string;
}

export interface CacheLockOptions {
  /** What the holder does, for the waiting line: 'downloading cifar-10-binary.tar.gz'. */
  purpose: string;
  log: (line: string) => void;
  /** How often a waiter looks again (default 200 ms). */
  pollMs?: number;
  /** A lock untouched for this long is abandoned whoever holds it (default 60 s). */
  staleMs?: number;
}

const HEARTBEAT_MS = 5000;
const held = new Map<string, CacheLock>();
let exitHookInstalled = false;

function pidNamespace(): string {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

export class CacheLock {
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    // Touching the file tells waiters on other hosts that the holder is alive.
    this.heartbeat = setInterval(() => {
      if (this.isHeld()) fs.promises.utimes(file, new Date(), new Date()).catch(() => undefined);
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    held.set(holder.token, this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      // process.exit (a signal handler's) skips finally blocks: the locks go anyway.
      process.on('exit', () => {
        for (const lock of held.values()) lock.release();
      });
    }
  }

  /** Takes the lock on `file` (`<file>.lock`), waiting while a live holder has it. */
  static async acquire(file: string, o: CacheLockOptions): Promise<CacheLock> {
    const lockFile = `${file}.lock`;
    let waiting = false;
    for (;;) {
      const mine = tryCreate(lockFile);
      if (mine) return new CacheLock(lockFile, mine);
      const current = readHolder(lockFile);
      if (current === 'gone') continue;
      if (abandoned(lockFile, current, o.staleMs ?? 60_000)) {
        breakLock(lockFile, current, o.log);
        continue;
      }
      if (!waiting) {
        waiting = true;
        o.log(`evolve: waiting for ${describeHolder(current)}, ${o.purpose} (${lockFile})`);
      }
      await sleep(o.pollMs ?? 200);
    }
  }

  /** Whether the lock file still names this holder (nobody broke it as abandoned). */
  isHeld(): boolean {
    const current = readHolder(this.file);
    return current !== 'gone' && current !== null && current.token === this.holder.token;
  }

  release(): void {
    clearInterval(this.heartbeat);
    held.delete(this.holder.token);
    if (this.isHeld()) fs.rmSync(this.file, { force: true });
  }
}

/** Creates the lock file exclusively; null when it exists. */
function tryCreate(lockFile: string): LockHolder | null {
  const holder: LockHolder = {
    host: os.hostname(),
    pidNamespace: pidNamespace(),
    pid: process.pid,
    token: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
  };
  // Written aside and linked into place: a reader never sees a half-written holder.
  const tmp = `${lockFile}.${holder.token}`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(holder)}\n`, { flag: 'wx' });
    fs.linkSync(tmp, lockFile);
    return holder;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw new DataError(`cannot create the lock ${lockFile} (${describeCode(e)})${notWritableHint(e)}`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** The holder, null for a file that is not a holder's, or 'gone' when the file vanished. */
function readHolder(lockFile: string): LockHolder | null | 'gone' {
  let text: string;
  try {
    text = fs.readFileSync(lockFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw new DataError(`cannot read the lock ${lockFile} (${describeCode(e)})`);
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === 'number' && typeof h.token === 'string' ? h : null;
  } catch {
    return null;
  }
}

function abandoned(lockFile: string, h: LockHolder | null, staleMs: number): boolean {
  let age: number;
  try {
    age = Date.now() - fs.statSync(lockFile).mtimeMs;
  } catch {
    return false; // gone: the next try creates it
  }
  if (age > staleMs) return true;
  if (h === null || h.host !== os.hostname() || h.pidNamespace !== pidNamespace()) return false;
  if (h.pid === process.pid) return !held.has(h.token); // an earlier process that had our pid
  return !processAlive(h.pid);
}

/**
 * Removes an abandoned lock. Moved aside first and checked: if another waiter replaced it in the
 * meantime, the live lock is put back.
 */
function breakLock(lockFile: string, judged: LockHolder | null, log: (line: string) => void): void {
  const aside = `${lockFile}.abandoned-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(lockFile, aside);
  } catch {
    return; // someone else removed it
  }
  const moved = readHolder(aside);
  const same = moved !== 'gone' && (moved === null ? judged === null : moved.token === judged?.token);
  if (!same) {
    try {
      fs.linkSync(aside, lockFile);
    } catch {
      // A newer lock is in place already.
    }
  } else if (judged !== null) {
    log(`evolve: removed the abandoned lock of ${describeHolder(judged)} (${lockFile})`);
  }
  fs.rmSync(aside, { force: true });
}

function describeHolder(h: LockHolder | null): string {
  if (h === null) return 'another process';
  const where = h.host === os.hostname() ? '' : ` on ${h.host}`;
  return `process ${h.pid}${where} (since ${h.since})`;
}

function describeCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return describeErrno(err.code) ?? err.message.split('\n')[0];
}

/** For a cache folder that cannot be written: what to do about it. */
export function notWritableHint(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return ['EACCES', 'EPERM', 'EROFS'].includes(code)
    ? '; the data cache must be writable: choose another folder with --data-dir or EVOLVE_DATA_DIR'
    : '';
}

/** A person's words for the file-system errors a cache meets. */
export function describeErrno(code: string | undefined): string | undefined {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    case 'ENOTDIR':
      return 'a path component is not a folder';
    default:
      return code;
  }
}
