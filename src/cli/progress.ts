/**
 * People's output on stderr: a one-line progress bar while a network trains (only on a TTY) and
 * a line per generation. Colour and cursor codes only on a TTY whose TERM is not `dumb`, and
 * never with NO_COLOR. Once the stream is closed (a broken pipe), nothing more is written.
 */
import chalk from 'chalk';
import type { GenerationRecord } from '../evolution/record';
import { stripVTControlCharacters } from 'node:util';

export class Reporter {
  private readonly tty: boolean;
  private readonly color: chalk.Chalk;
  private label = '';
  private started = 0;
  /** Batches already done when this process started the network (a training continued from a checkpoint). */
  private skipped: number | null = null;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
    const level = this.tty && !process.env.NO_COLOR ? chalk.level || 1 : 0;
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
    this.label = offspring === null ? 'ancestor' : `gen ${generation} offspring ${offspring}`;
    this.started = Date.now();
    this.skipped = null;
  }

  batch(p: { epoch: number; epochs: number; batch: number; batches: number; loss: number }): void {
    if (!this.tty) return;
    this.skipped ??= p.epoch * p.batches + p.batch;
    const now = Date.now();
    const last = p.batch === p.batches - 1;
    if (!last && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const done = p.epoch * p.batches + p.batch + 1;
    const total = p.epochs * p.batches;
    const elapsed = (now - this.started) / 1000;
    const eta = (elapsed / Math.max(1, done - this.skipped)) * (total - done);
    const width = 24;
    const filled = Math.round((width * done) / total);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const text =
      `${this.label} ${this.color.cyan(bar)} epoch ${p.epoch + 1}/${p.epochs} batch ` +
      `${p.batch + 1}/${p.batches} loss ${p.loss.toFixed(4)} ETA ${formatSeconds(eta)}`;
    this.write(`\r\x1b[2K${text.slice(0, (this.stream.columns || 120) - 1 + (text.length - stripAnsi(text).length))}`);
    this.drawn = true;
  }

  generation(r: GenerationRecord): void {
    const c = this.color;
    const drop =
      r.generation === 0 ? '' : ` (${r.accuracyDrop <= 0 ? '+' : '-'}${Math.abs(r.accuracyDrop).toFixed(2)})`;
    const exceeded = r.budgetExceeded ? c.yellow(' budget exceeded') : '';
    // A net without convs has no conv clusters to report; its hidden neurons say more.
    const units =
      r.filters > 0 || r.kernels > 0
        ? `clusters ${r.clusters} (${times(r.clusterEfficiency)})`
        : `neurons ${r.denseNeurons}`;
    this.info(
      `${c.bold(`gen ${String(r.generation).padStart(2)}`)}  synapses ${r.synapses.toLocaleString('en-US')} ` +
        `(${c.green(times(r.architecturalEfficiency))})  ${units}  ` +
        `test ${r.testAccuracy.toFixed(2)}%${drop}  ${formatSeconds(r.seconds)}${exceeded}`,
    );
  }

  /** The run's last line: what the last generation achieved against the ancestor. */
  finished(last: GenerationRecord, seconds: number, out: string): void {
    // A net without convs has no conv clusters; its hidden neurons say more (as on the generation lines).
    const units =
      last.filters > 0 || last.kernels > 0
        ? fewer(last.clusterEfficiency, 'clusters')
        : `${last.denseNeurons} hidden neurons`;
    const change = `${last.accuracyDrop > 0 ? '-' : '+'}${Math.abs(last.accuracyDrop).toFixed(2)}`;
    this.info(
      `evolve: done in ${formatSeconds(seconds)}: ${fewer(last.architecturalEfficiency, 'synapses')}, ${units}, ` +
        `test ${last.testAccuracy.toFixed(2)}% (${change} points against the ancestor); ${out}`,
    );
  }

  private clear(): void {
    if (this.drawn) this.write('\r\x1b[2K');
    this.drawn = false;
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

function stripAnsi(s: string): string {
  return stripVTControlCharacters(s);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
