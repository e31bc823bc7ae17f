/**
 * How a run stops before its end, and the exit codes that say so. The signals a terminal or a
 * supervisor sends (SIGINT on Ctrl-C, SIGQUIT on Ctrl-\, SIGHUP when the terminal closes, SIGTERM)
 * and a stdout that can no longer be written (`evolve --json | head -1`, or `> file` on a full
 * disk) ask the run to stop after the current batch, leaving a folder that --resume continues; a
 * second signal stops it at once. A closed stderr only silences people's output: the run goes on.
 */
import { errnoReason } from '../files';

export const stopSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** A run stopped by any of stopSignals: interrupted, and resumable. */
export const interruptedExit = 130;
/**
 * A run stopped because stdout was closed: 128 + SIGPIPE, what a shell reports for a filter killed
 * by a closed pipe.
 */
export const closedStdoutExit = 141;

/** A failed write to stdout other than a closed pipe (a full disk, say): the run failed, as any failed write. */
export const failedStdoutExit = 1;

/** Why stdout cannot be written, once it cannot: its errno code (EPIPE: the reader has gone). */
let stdoutError: string | undefined;
let onStdoutClosed: ((code: string) => void) | undefined;

const stdoutReasons: Record<string, string> = { ENOSPC: 'disk full' };

/** "disk full", "input/output error": what a failed write to stdout was, for people. */
export function stdoutProblem(code: string): string {
  return code === 'EPIPE'
    ? 'stdout was closed'
    : `cannot write to stdout (${stdoutReasons[code] ?? errnoReason(code)})`;
}

function stdoutExit(code: string): number {
  return code === 'EPIPE' ? closedStdoutExit : failedStdoutExit;
}

/**
 * Installed once, first thing: a write error on stdout or stderr is never an uncaught error. A
 * closed stdout pipe (EPIPE) is a reader that has gone: exit 141, quietly, as a Unix filter does.
 * Any other error on stdout (ENOSPC when `> file` fills the disk, EIO, EDQUOT...) is a failed write:
 * one line naming it and exit 1. Outside a run this ends the process at once.
 */
export function watchOutputStreams(): void {
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (stdoutError) return;
    const code = e.code ?? 'EIO';
    stdoutError = code;
    if (onStdoutClosed) return onStdoutClosed(code);
    if (code !== 'EPIPE' && stderrOpen()) process.stderr.write(`evolve: ${stdoutProblem(code)}\n`);
    process.exit(stdoutExit(code));
  });
}

/** Whether people's text can still be written to stderr. */
export function stderrOpen(): boolean {
  return !process.stderr.destroyed && process.stderr.writable;
}

/** A signal, or stdout that can no longer be written (its errno code: EPIPE for a closed pipe). */
export type StopReason = { signal: NodeJS.Signals } | { stdout: string };

/** A run's stop requests, from the moment it starts writing its folder until it ends. */
export class StopRequest {
  reason: StopReason | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.reason) this.stopNow(signal);
    this.reason = { signal };
  };
  private readonly onClosed = (code: string): void => {
    this.reason ??= { stdout: code };
  };

  /** `stopNow` runs on a second signal: it must release what the run holds and exit. */
  constructor(private readonly stopNow: (signal: NodeJS.Signals) => void) {}

  listen(): void {
    for (const s of stopSignals) process.on(s, this.onSignal);
    onStdoutClosed = this.onClosed;
    if (stdoutError) this.onClosed(stdoutError);
  }

  unlisten(): void {
    for (const s of stopSignals) process.removeListener(s, this.onSignal);
    if (onStdoutClosed === this.onClosed) onStdoutClosed = undefined;
  }

  get exitCode(): number {
    return this.reason && 'stdout' in this.reason ? stdoutExit(this.reason.stdout) : interruptedExit;
  }

  /** For the last line: "interrupted (SIGHUP)", "stdout was closed" or "cannot write to stdout (disk full)". */
  describe(): string {
    if (!this.reason) return 'stopped';
    return 'stdout' in this.reason
      ? stdoutProblem(this.reason.stdout)
      : `interrupted${this.reason.signal === 'SIGINT' ? '' : ` (${this.reason.signal})`}`;
  }
}
