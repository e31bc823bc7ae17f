/**
 * Progress of a long transfer (a download, a hash, an extraction) on stderr. On a terminal one
 * line is redrawn in place; elsewhere (a log file, CI, TERM=dumb) a plain line every 10 %, so
 * logs stay readable. Escape codes only on a terminal that is not dumb and without NO_COLOR.
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

export interface ProgressBarOptions {
  /** Leads every line, e.g. the file name. */
  label: string;
  stream?: ProgressStream;
  env?: NodeJS.ProcessEnv;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** `ansi`: redraw with escape codes and colour; `redraw`: carriage return only; `lines`: a line per 10 %. */
export type ProgressMode = 'ansi' | 'redraw' | 'lines';

export function progressMode(stream: ProgressStream, env: NodeJS.ProcessEnv): ProgressMode {
  if (!stream.isTTY || env.TERM === 'dumb') return 'lines';
  return env.NO_COLOR !== undefined && env.NO_COLOR !== '' ? 'redraw' : 'ansi';
}

const REDRAW_EVERY_MS = 100;
const BAR_WIDTH = 24;

export class ProgressBar {
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = -Infinity;
  private lastTenth = -1;
  private drawnLength = 0;
  private last: TransferProgress | null = null;
  /** The last update was throttled away: done() must still show it. */
  private stale = false;

  constructor(private readonly opts: ProgressBarOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.mode = progressMode(this.stream, opts.env ?? process.env);
    this.now = opts.now ?? Date.now;
    this.started = this.now();
  }

  update(p: TransferProgress): void {
    this.last = p;
    if (this.mode === 'lines') {
      const tenth = p.total > 0 ? Math.floor((10 * p.done) / p.total) : 0;
      if (tenth <= this.lastTenth) return;
      // The first line may come from a resumed download at 40 %: say so once, not 0..40.
      this.lastTenth = tenth;
      this.stream.write(`${this.opts.label}: ${this.describe(p)}\n`);
      return;
    }
    const t = this.now();
    this.stale = t - this.lastDraw < REDRAW_EVERY_MS && p.done < p.total;
    if (this.stale) return;
    this.lastDraw = t;
    this.draw(p);
  }

  /** Ends the bar: the last state stays on screen, the next output starts on a new line. */
  done(): void {
    if (this.mode === 'lines') {
      if (this.last && this.lastTenth < 10 && this.last.done >= this.last.total) this.update({ ...this.last });
      return;
    }
    if (this.last && this.stale) this.draw(this.last);
    if (this.drawnLength > 0) this.stream.write('\n');
    this.drawnLength = 0;
  }

  private draw(p: TransferProgress): void {
    const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    const filled = Math.floor(BAR_WIDTH * fraction); // full only at 100 %
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
    const text = `${this.opts.label} ${bar} ${this.describe(p)}`;
    const width = Math.max(20, (this.stream.columns || 100) - 1);
    const line = text.length > width ? text.slice(0, width) : text;
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

/** 75 -> "1 min 15 s"; Infinity -> "?". */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
