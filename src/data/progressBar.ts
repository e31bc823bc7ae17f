/**
 * The one progress display of evolve, on stderr: a transfer (download, hash, extraction) or a
 * network's training. On a terminal one line is redrawn in place; elsewhere (a log file, CI,
 * TERM=dumb) a plain line at a steady pace (its `pace`), so a log shows life without filling up.
 * Escape codes and colour only on a terminal that is not dumb and without NO_COLOR.
 */

export interface TransferProgress {
  done: number;
  total: number;
  /** When the caller knows it (a download measures its own attempt); else the bar measures. */
  rateBytesPerSec?: number;
  etaSec?: number;
}

/** The part of a stream the bar writes to (process.stderr, or anything with the same shape). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Off a terminal, a line when both `every` and `ms` have passed since the last (or the start),
 * whichever is rarer, but at the latest after `maxMs`: a slow epoch still shows life.
 */
export interface LinePace {
  /** Progress between lines, in the units of `done` (a tenth of the total, or of an epoch). */
  every: number;
  /** Milliseconds between lines, at least. */
  ms: number;
  /** Milliseconds between lines, at most (while updates come). */
  maxMs?: number;
}

export interface ProgressBarOptions {
  /** Leads every line, e.g. the file name. */
  label: string;
  stream?: ProgressStream;
  env?: NodeJS.ProcessEnv;
  /** Clock in ms, for tests. */
  now?: () => number;
  /** Off a terminal; by default a line per tenth of the total. */
  pace?: LinePace;
}

/** `ansi`: redraw with escape codes and colour; `redraw`: carriage return only; `lines`: a line now and then. */
export type ProgressMode = 'ansi' | 'redraw' | 'lines';

export function progressMode(stream: ProgressStream, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (!stream.isTTY || env.TERM === 'dumb') return 'lines';
  return env.NO_COLOR !== undefined && env.NO_COLOR !== '' ? 'redraw' : 'ansi';
}

/**
 * 0.005 -> "5ms", 0.4 -> "400ms", 2.5 -> "2.5s", 75 -> "1m15s", 7261 -> "2h01m", Infinity -> "?": every duration
 * evolve prints (ETAs, generation times, a run's total, download waits and limits) in one form.
 */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  if (sec < 0.9995) return `${Math.round(sec * 1000)}ms`;
  if (sec < 59.95) return `${sec.toFixed(1)}s`;
  const s = Math.round(sec);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const REDRAW_EVERY_MS = 100;
const BAR_WIDTH = 24;

export class ProgressBar {
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = -Infinity;
  private lastLine: number;
  private lastStep = -1;
  private drawnLength = 0;
  private last: TransferProgress | null = null;
  private shown: { done: number; total: number; text: string } | null = null;
  /** The last update was throttled away: done() must still show it. */
  private stale = false;

  constructor(private readonly opts: ProgressBarOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.mode = progressMode(this.stream, opts.env ?? process.env);
    this.now = opts.now ?? Date.now;
    this.started = this.now();
    this.lastLine = this.started;
  }

  /** A transfer's state: percent, bytes, rate and ETA. */
  update(p: TransferProgress): void {
    this.last = p;
    this.show(p.done, p.total, this.describe(p));
  }

  /** `done` of `total` with its text: redrawn on a terminal, a line at the bar's pace elsewhere. */
  show(done: number, total: number, text: string): void {
    this.shown = { done, total, text };
    if (this.mode === 'lines') {
      const every = this.opts.pace?.every ?? total / 10;
      const step = every > 0 ? Math.floor(done / every) : 0;
      const t = this.now();
      const since = t - this.lastLine;
      const due = step > this.lastStep || since >= (this.opts.pace?.maxMs ?? Infinity);
      if (!due || since < (this.opts.pace?.ms ?? 0)) return;
      // The first line may come from a resumed download at 40 %: say so once, not 0..40.
      this.lastStep = Math.max(step, this.lastStep);
      this.lastLine = t;
      this.stream.write(`${this.opts.label}: ${text}\n`);
      return;
    }
    const t = this.now();
    this.stale = t - this.lastDraw < REDRAW_EVERY_MS && done < total;
    if (this.stale) return;
    this.lastDraw = t;
    this.draw(done, total, text);
  }

  /** Ends the bar: the last state stays on screen (or in the log), the next output starts on a new line. */
  done(): void {
    if (this.mode === 'lines') {
      const p = this.last;
      if (p && p.done >= p.total && this.lastStep < 10) this.stream.write(`${this.opts.label}: ${this.describe(p)}\n`);
      this.lastStep = Infinity;
      return;
    }
    if (this.shown && this.stale) this.draw(this.shown.done, this.shown.total, this.shown.text);
    if (this.drawnLength > 0) this.stream.write('\n');
    this.drawnLength = 0;
  }

  /** Wipes the bar from a terminal, so that a line can be written where it was. */
  clear(): void {
    if (this.drawnLength === 0) return;
    this.stream.write(this.mode === 'ansi' ? '\r\x1b[2K' : `\r${' '.repeat(this.drawnLength)}\r`);
    this.drawnLength = 0;
  }

  private draw(done: number, total: number, text: string): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.floor(BAR_WIDTH * fraction); // full only at 100 %
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
    const full = `${this.opts.label} ${bar} ${text}`;
    const width = Math.max(20, (this.stream.columns || 100) - 1);
    const line = full.length > width ? full.slice(0, width) : full;
    if (this.mode === 'ansi') {
      const coloured = line.replace(bar, `\x1b[36m${bar}\x1b[39m`);
      this.stream.write(`\r\x1b[2K${coloured}`);
    } else {
      // Without escape codes, spaces wipe what a longer previous line left behind.
      this.stream.write(`\r${line.padEnd(this.drawnLength)}`);
    }
    this.drawnLength = line.length;
  }

  private describe(p: TransferProgress): string {
    const elapsed = Math.max(1e-3, (this.now() - this.started) / 1000);
    const rate = p.rateBytesPerSec ?? p.done / elapsed;
    const eta = p.etaSec ?? (rate > 0 ? (p.total - p.done) / rate : Infinity);
    const percent = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 0;
    const left = p.done >= p.total ? 'done' : `ETA ${formatDuration(eta)}`;
    const amount = `${formatBytes(p.done)} of ${formatBytes(p.total)}`;
    return `${String(percent).padStart(3)}% ${amount}, ${formatBytes(rate)}/s, ${left}`;
  }
}

/** 1536 -> "1.5 KiB"; binary units, as `ls -h` and download tools show them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[u]}`;
}
