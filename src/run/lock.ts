/**
 * RUN/.evolve.lock: who writes the run folder, removed when the run ends. It names its holder
 * fully, as one JSON line: the pid, the host name, the boot (/proc/sys/kernel/random/boot_id) and
 * pid namespace (/proc/self/ns/pid) the pid belongs to, the process's start time (in clock ticks
 * since boot, so a reused pid is not taken for the holder) and the command. The holder refreshes
 * the file's modification time (its heartbeat) every `heartbeatMs`.
 *
 * A lock written in this process's boot and pid namespace is judged by its pid: stale once that
 * process is gone. One written on another host or in another pid namespace (a container, another
 * node of a shared filesystem) cannot be: it is stale only once its heartbeat is older than
 * `staleAfterMs`. A lock of the older format (only a pid) is judged by its pid.
 *
 * Every step is atomic, so that of several processes started at once exactly one holds the lock:
 * - the lock appears with its content, as a hard link to a file this process wrote first, so no
 *   other process ever reads a half-written (empty) lock and mistakes it for a stale one;
 * - a stale lock is replaced (rename) only by the process that created RUN/.evolve.lock.takeover
 *   (exclusively); it re-reads the lock under that claim, so a lock taken over in between is
 *   seen as live and the latecomer is told the folder is in use.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunError } from '../errors';
import { NotAFileError, WriteError, readFileNoFollow } from '../files';
import { processAlive } from '../processes';

export const lockName = '.evolve.lock';
const takeoverName = `${lockName}.takeover`;
/** How often the holder refreshes its lock's modification time. */
export const heartbeatMs = 30_000;
/** A lock from another host or pid namespace whose heartbeat is older than this is stale. */
export const staleAfterMs = 10 * 60_000;
/** The pause between looks while another process takes a stale lock over. */
const pauseMs = 20;

/** Who holds a lock: all but `pid` are missing in a lock of the older format. */
export interface Holder {
  pid: number;
  host?: string;
  boot?: string;
  pidNamespace?: string;
  startTicks?: number;
  started?: string;
  command?: string[];
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined; // not Linux, or /proc not mounted
  }
}

function readLink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}

/** A process's start time in clock ticks since boot (field 22 of /proc/PID/stat). */
function startTicks(pid: number | 'self'): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

/** This process as a lock names it. */
export function thisProcess(command?: string[]): Holder {
  return {
    pid: process.pid,
    host: os.hostname(),
    boot: readText('/proc/sys/kernel/random/boot_id'),
    pidNamespace: readLink('/proc/self/ns/pid'),
    startTicks: startTicks('self'),
    started: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    command,
  };
}
const me = thisProcess();

/** Whether `h`'s pid means a process this process can see: same boot and pid namespace. */
function sameSpace(h: Holder): boolean {
  if (h.boot === undefined && h.pidNamespace === undefined) return h.host === undefined || h.host === me.host;
  return h.boot === me.boot && h.pidNamespace === me.pidNamespace;
}

const isMe = (h: Holder): boolean => h.pid === me.pid && sameSpace(h) && h.startTicks === me.startTicks;

/** A lock file as read: its holder (undefined when unreadable) and its heartbeat's age. */
interface Found {
  holder?: Holder;
  ageMs: number;
}

function parseHolder(text: string): Holder | undefined {
  if (/^\d+$/.test(text)) return { pid: Number(text) }; // the older format: a pid alone
  try {
    const h = JSON.parse(text) as Holder;
    return Number.isSafeInteger(h?.pid) && h.pid > 0 ? h : undefined;
  } catch {
    return undefined;
  }
}

/** The lock file `file`: null when there is none. */
function readLock(file: string): Found | null {
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileNoFollow(file).toString('utf8').trim();
    mtimeMs = fs.lstatSync(file).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    const why = e instanceof NotAFileError ? e.kind : ((e as NodeJS.ErrnoException).code ?? String(e));
    throw new RunError(`${file}: cannot read the lock (${why}); it must be a plain file`);
  }
  return { holder: parseHolder(text), ageMs: Math.max(0, Date.now() - mtimeMs) };
}

/** Whether the lock `f` belongs to a live process other than this one. */
function live(f: Found | null): f is Found & { holder: Holder } {
  const h = f?.holder;
  if (!f || !h || isMe(h)) return false;
  if (!sameSpace(h)) return f.ageMs < staleAfterMs;
  if (!processAlive(h.pid)) return false;
  const ticks = h.startTicks === undefined ? undefined : startTicks(h.pid);
  return ticks === undefined || ticks === h.startTicks; // another start time: the pid was reused
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/** "evolve pid 12 on host node-a (started ...; last heartbeat 5 s ago)"; "evolve pid 12" for the older format. */
export function describeHolder(f: Found & { holder: Holder }): string {
  const h = f.holder;
  if (h.host === undefined) return `evolve pid ${h.pid}`;
  const space = h.boot === me.boot && h.pidNamespace !== me.pidNamespace ? ', another pid namespace' : '';
  return `evolve pid ${h.pid} on host ${h.host}${space} (started ${h.started}; last heartbeat ${ago(f.ageMs)} ago)`;
}

function whyStale(f: Found): string {
  const h = f.holder;
  if (!h) return ' (unreadable)';
  const who = h.host === undefined ? `pid ${h.pid}` : `evolve pid ${h.pid} on host ${h.host}`;
  return sameSpace(h)
    ? ` from ${who}, which is no longer running`
    : ` from ${who}, whose last heartbeat was ${ago(f.ageMs)} ago`;
}

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

export interface LockSettings {
  /** Hears about a stale lock that is being taken over. */
  onStale: (message: string) => void;
  /** The command line, recorded in the lock. */
  command?: string[];
}

export class RunLock {
  private lastBeat = Date.now();
  private readonly timer: NodeJS.Timeout;

  private constructor(readonly file: string) {
    // Between batches the run beats itself (beat()); the timer covers the start-up's downloads.
    this.timer = setInterval(() => this.beat(), heartbeatMs).unref();
  }

  /** Takes the lock of run folder `dir` (which must exist); LockHeld when a live process holds it. */
  static acquire(dir: string, s: LockSettings): RunLock {
    const file = path.join(dir, lockName);
    const tmp = path.join(dir, `${lockName}.${process.pid}.tmp`);
    try {
      fs.rmSync(tmp, { force: true });
      fs.writeFileSync(tmp, `${JSON.stringify(thisProcess(s.command))}\n`, { flag: 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code ? new WriteError(tmp, code) : e;
    }
    try {
      // No limit on the tries: each one either takes the lock, meets a live holder, or waits for a
      // live process's takeover, which takes it microseconds of its own time.
      for (;;) {
        if (linkExclusive(tmp, file)) return new RunLock(file);
        const found = readLock(file);
        if (live(found)) throw new LockHeld(`${dir}: in use by ${describeHolder(found)}`);
        if (found !== null && takeOver(dir, tmp, s.onStale)) return new RunLock(file);
        pause(pauseMs); // another process is taking the lock over, or just released it
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Throws LockHeld when a live process holds the lock of `dir`. */
  static refuseIfHeld(dir: string): void {
    const found = readLock(path.join(dir, lockName));
    if (live(found)) throw new LockHeld(`${dir}: in use by ${describeHolder(found)}`);
  }

  /** The holder named in the lock of `dir`, live or not; undefined when there is none or it is unreadable. */
  static holder(dir: string): Holder | undefined {
    try {
      return readLock(path.join(dir, lockName))?.holder;
    } catch {
      return undefined;
    }
  }

  /** Refreshes the heartbeat if it is due; cheap enough to call between batches. */
  beat(): void {
    const now = Date.now();
    if (now - this.lastBeat < heartbeatMs) return;
    this.lastBeat = now;
    try {
      fs.utimesSync(this.file, now / 1000, now / 1000);
    } catch {
      // gone: release() or a user deleting it; nothing to refresh
    }
  }

  /** Removes the lock if it is still this process's. Safe to call more than once. */
  release(): void {
    clearInterval(this.timer);
    try {
      const h = readLock(this.file)?.holder;
      if (h && isMe(h)) fs.rmSync(this.file, { force: true });
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
    const holder = readLock(claim);
    // A claim is held for microseconds; one whose process died is left by a kill in that instant.
    if (holder !== null && !live(holder)) {
      throw new RunError(
        `${claim}: left by an interrupted lock takeover${whyStale(holder)}; ` +
          `delete it if no evolve is running on ${dir}`,
      );
    }
    return false;
  }
  try {
    const found = readLock(file);
    if (found === null || live(found)) return false;
    try {
      fs.renameSync(tmp, file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code ? new WriteError(file, code) : e;
    }
    onStale(`evolve: ${dir}: taking over a stale lock${whyStale(found)}`);
    return true;
  } finally {
    fs.rmSync(claim, { force: true });
  }
}
