/**
 * People's output on stderr: a line per generation and, while a network trains, its progress
 * (the one progress display, src/data/progressBar.ts: a bar on a terminal, a line now and then
 * in a log). Colour only where the bar is coloured. Once the stream is closed (a broken pipe),
 * nothing more is written.
 */
import chalk from 'chalk';
import type { GenerationRecord } from '../evolution/record';
import { ProgressBar, formatDuration, progressMode } from '../data/progressBar';

/**
 * Off a terminal, a training progress line every 10 % of an epoch but at most every this many
 * seconds (default 30), and at least every twice as many.
 */
export const progressSecondsVariable = 'EVOLVE_PROGRESS_SECONDS';

function progressSeconds(): number {
  const raw = process.env[progressSecondsVariable];
  const v = raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
  return Number.isFinite(v) && v >= 0 ? v : 30;
}

export interface BatchProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
}

export class Reporter {
  private readonly color: chalk.Chalk;
  private label = '';
  private started = 0;
  /** Batches already done when this process started the network (a training continued from a checkpoint). */
  private skipped: number | null = null;
  private bar: ProgressBar | null = null;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    const level = progressMode(stream) === 'ansi' ? chalk.level || 1 : 0;
    this.color = new chalk.Instance({ level: level as chalk.Level });
  }

  info(line: string): void {
    this.clear();
    this.write(`${line}\n`);
  }

  private write(text: string): void {
    if (!this.stream.destroyed && this.stream.writable) this.stream.write(text);
  }

  warn(line: string): void {
    this.info(this.color.yellow(line));
  }

  trainStart(generation: number, offspring: number | null): void {
    this.clear();
    this.label = offspring === null ? 'ancestor' : `gen ${generation} offspring ${offspring}`;
    this.started = Date.now();
    this.skipped = null;
  }

  batch(p: BatchProgress): void {
    if (this.stream.destroyed || !this.stream.writable) return;
    this.skipped ??= p.epoch * p.batches + p.batch;
    this.bar ??= new ProgressBar({
      label: this.label,
      stream: this.stream,
      // Every 10 % of an epoch but at most every 30 s, and at least every minute however long an epoch is.
      pace: { every: p.batches / 10, ms: progressSeconds() * 1000, maxMs: 2 * progressSeconds() * 1000 },
    });
    const done = p.epoch * p.batches + p.batch + 1;
    const total = p.epochs * p.batches;
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = (elapsed / Math.max(1, done - this.skipped)) * (total - done);
    this.bar.show(
      done,
      total,
      `epoch ${p.epoch + 1}/${p.epochs} batch ${p.batch + 1}/${p.batches} loss ${p.loss.toFixed(4)} ` +
        `ETA ${formatDuration(eta)}`,
    );
  }

  generation(r: GenerationRecord): void {
    const c = this.color;
    const change = r.generation === 0 ? '' : ` (${signed(r.accuracyChange)})`;
    // The cap acted: the clusters' draw would have left fewer synapses than F allows (docs/method.md).
    const capped = r.capped ? c.yellow('  capped') : '';
    // A net without convs has no conv clusters to report; its hidden neurons say more.
    const units =
      r.filters > 0 || r.kernels > 0
        ? `clusters ${r.clusters} (${times(r.clusterEfficiency)})`
        : `neurons ${r.denseNeurons}`;
    this.info(
      `${c.bold(`gen ${String(r.generation).padStart(2)}`)}  synapses ${r.synapses.toLocaleString('en-US')} ` +
        `(${c.green(times(r.synapseEfficiency))})  ${units}  ` +
        `test ${r.testAccuracy.toFixed(2)}%${change}  ${formatDuration(r.seconds)}${capped}`,
    );
  }

  /** The run's last line: what the last generation achieved against the ancestor. */
  finished(last: GenerationRecord, seconds: number, out: string): void {
    // A net without convs has no conv clusters; its hidden neurons say more (as on the generation lines).
    const units =
      last.filters > 0 || last.kernels > 0
        ? fewer(last.clusterEfficiency, 'clusters')
        : `${last.denseNeurons} hidden neurons`;
    this.info(
      `evolve: done in ${formatDuration(seconds)}: ${fewer(last.synapseEfficiency, 'synapses')}, ${units}, ` +
        `test ${last.testAccuracy.toFixed(2)}% (${signed(last.accuracyChange)} points against the ancestor); ${out}`,
    );
  }

  /** The bar ends with its network: wiped from a terminal before the next line. */
  private clear(): void {
    if (!this.stream.destroyed && this.stream.writable) this.bar?.clear();
    this.bar = null;
  }
}

/** An efficiency (ancestor / now) as printed: "2.10x", or "none " +
  "left" when nothing is (ratio Infinity, or null from JSON). */
export function times(ratio: number | null): string {
  return ratio !== null && Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'none left';
}

/** "2.10x fewer synapses", or "no synapses left". */
export function fewer(ratio: number | null, what: string): string {
  return ratio !== null && Number.isFinite(ratio) ? `${ratio.toFixed(2)}x fewer ${what}` : `no ${what} left`;
}

/** An accuracy change in points as printed, with its sign: "+0.33", "-1.70" (no change: "+0.00"). */
function signed(change: number): string {
  return `${change < 0 ? '-' : '+'}${Math.abs(change).toFixed(2)}`;
}
