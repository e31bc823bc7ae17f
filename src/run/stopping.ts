/**
 * How a run stops before its end, and the exit codes that say so. The signals a terminal or a
 * supervisor sends (SIGINT on Ctrl-C, SIGQUIT on Ctrl-\, SIGHUP when the terminal closes, SIGTERM)
 * and a closed stdout (`evolve --json | head -1`) ask the run to stop after the current batch,
 * leaving a folder that --resume continues; a second signal stops it at once. A closed stderr only
 * silences people's output: the run goes on to its end.
 */
export const stopSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** A run stopped by any of stopSignals: interrupted, and resumable. */
export const interruptedExit = 130;
/**
 * A run stopped because stdout was closed: 128 + SIGPIPE, what a shell reports for a filter killed
 * by a closed pipe.
 */
export const closedStdoutExit = 141;

let stdoutClosed = false;
let onStdoutClosed: (() => void) | undefined;

/**
 * Installed once, first thing: a write to a closed stdout or stderr (EPIPE; EIO after a terminal
 * closed) is never an uncaught error. Outside a run, a closed stdout ends the process at once.
 */
export function watchOutputStreams(): void {
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => {
    if (stdoutClosed) return;
    stdoutClosed = true;
    if (onStdoutClosed) onStdoutClosed();
    else process.exit(closedStdoutExit);
  });
}

/** Whether people's text can still be written to stderr. */
export function stderrOpen(): boolean {
  return !process.stderr.destroyed && process.stderr.writable;
}

export type StopReason = { signal: NodeJS.Signals } | { closed: 'stdout' };

/** A run's stop requests, from the moment it starts writing its folder until it ends. */
export class StopRequest {
  reason: StopReason | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.reason) this.stopNow(signal);
    this.reason = { signal };
  };
  private readonly onClosed = (): void => {
    this.reason ??= { closed: 'stdout' };
  };

  /** `stopNow` runs on a second signal: it must release what the run holds and exit. */
  constructor(private readonly stopNow: (signal: NodeJS.Signals) => void) {}

  listen(): void {
    for (const s of stopSignals) process.on(s, this.onSignal);
    onStdoutClosed = this.onClosed;
    if (stdoutClosed) this.onClosed();
  }

  unlisten(): void {
    for (const s of stopSignals) process.removeListener(s, this.onSignal);
    if (onStdoutClosed === this.onClosed) onStdoutClosed = undefined;
  }

  get exitCode(): number {
    return this.reason && 'closed' in this.reason ? closedStdoutExit : interruptedExit;
  }

  /** For the last line: "interrupted (SIGHUP)" or "stdout was closed". */
  describe(): string {
    if (!this.reason) return 'stopped';
    return 'closed' in this.reason
      ? 'stdout was closed'
      : `interrupted${this.reason.signal === 'SIGINT' ? '' : ` (${this.reason.signal})`}`;
  }
}
