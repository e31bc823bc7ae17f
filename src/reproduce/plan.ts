/**
 * What `evolve reproduce` would run: one run folder per seed (and per encoding with --ablation),
 * each found finished (skipped), unfinished (resumed) or missing (started). The plan is the
 * list of `evolve ...` commands; running it and printing it use the same arguments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { readRecords } from '../run/resume';
import { readSavedConfig } from '../run/config';
import { flagOf } from '../run/options';
import { startupLeftovers } from '../run/runFolder';
import {
  type DatasetName,
  type RunOptions,
  ablationEncodings,
  defaultEncoding,
  matingSynapseEfficiency,
  presets,
  quickOptions,
  tradeoffSettings,
} from '../paper/presets';

export interface ReproduceSettings {
  dataset: DatasetName;
  seeds: number[];
  quick: boolean;
  ablation: boolean;
  /** Also the settings of the efficiency/accuracy trade-off (MNIST only; paper/presets.ts). */
  tradeoff?: boolean;
  /** The folder that holds the runs; default runs/reproduce-<dataset>[-quick]. */
  out?: string;
}

export type RunState = 'finished' | 'unfinished' | 'missing';

export interface PlannedRun {
  /** The folder under --out: "mnist/seed-1", "mnist-synapse/seed-2". */
  name: string;
  folder: string;
  state: RunState;
  /** The child's arguments after `evolve` (none for a finished run). */
  args: string[];
}

export function reproduceDir(s: ReproduceSettings): string {
  return s.out ?? path.join('runs', `reproduce-${s.dataset}${s.quick ? '-quick' : ''}`);
}

function toArgs(options: RunOptions): string[] {
  return Object.entries(options).flatMap(([key, value]) => [flagOf(key), String(value)]);
}

/** An experiment of the plan: its folder's name under --out (seed-N inside), and its options over the preset's. */
interface Experiment {
  group: string;
  options: (base: RunOptions) => RunOptions;
}

/** The experiments asked for: the preset; with --ablation its other encodings; with --tradeoff its settings. */
function experiments(s: ReproduceSettings): Experiment[] {
  const list: Experiment[] = [{ group: s.dataset, options: () => ({}) }];
  if (s.ablation) {
    for (const encoding of ablationEncodings.filter((e) => e !== defaultEncoding))
      list.push({ group: `${s.dataset}-${encoding}`, options: () => ({ encoding }) });
  }
  if (s.tradeoff) {
    if (s.dataset !== 'mnist') throw new UsageError(`reproduce ${s.dataset} --tradeoff: the trade-off is MNIST's only`);
    const scale = matingSynapseEfficiency / presets.mnist.paper.synapseEfficiency;
    for (const t of tradeoffSettings) {
      // Rounded as the paper prints budgets: the preset's 125.09x becomes exactly 258.37x.
      const target = (base: RunOptions): RunOptions =>
        t.mating ? { targetEfficiency: Math.round(Number(base.targetEfficiency) * scale * 100) / 100 } : {};
      list.push({ group: `${s.dataset}-${t.suffix}`, options: (base) => ({ ...target(base), ...t.options }) });
    }
  }
  return list;
}

/** The options of one run. The default encoding is not passed, so a plain reproduce and --ablation share those runs. */
function runOptions(base: RunOptions, experiment: Experiment, seed: number): RunOptions {
  return { ...base, seed, ...experiment.options(base) };
}

/** An existing run must have been started with these options, or resuming it would not reproduce the preset. */
function checkSameOptions(folder: string, wanted: RunOptions, saved: Record<string, unknown>): void {
  const expected: Record<string, unknown> = { encoding: defaultEncoding, ...wanted };
  // Options some preset sets must match too when this one leaves them out (a --quick run's --train-limit).
  const keys = new Set([...Object.keys(expected), ...Object.keys(quickOptions(presets.mnist))]);
  const differing = [...keys]
    .filter((key) => (saved[key] ?? (key === 'encoding' ? defaultEncoding : undefined)) !== expected[key])
    .map((key) => {
      const value = saved[key] === undefined ? '(none)' : String(saved[key]);
      return `${flagOf(key)} ${value} where the preset has ${expected[key] ?? '(none)'}`;
    });
  if (differing.length > 0) {
    throw new UsageError(
      `${folder}: an existing run with ${differing.join(', ')}; choose another --out (or move the folder away)`,
    );
  }
}

function planRun(dir: string, name: string, options: RunOptions): PlannedRun {
  const folder = path.join(dir, name);
  const start = { name, folder, state: 'missing' as const, args: [...toArgs(options), '--out', folder] };
  // Empty, or half-made (a start-up killed before config.json): the start takes the folder over.
  if (!fs.existsSync(folder) || (fs.statSync(folder).isDirectory() && startupLeftovers(folder) !== undefined))
    return start;
  if (!fs.statSync(folder).isDirectory() || !fs.existsSync(path.join(folder, 'config.json'))) {
    throw new UsageError(
      `${folder}: exists but is not an evolve run folder (no config.json); move it away or choose another --out`,
    );
  }
  const { options: saved } = readSavedConfig(folder).config;
  checkSameOptions(folder, options, saved);
  const finished = readRecords(folder).length > Number(options.generations);
  return finished
    ? { name, folder, state: 'finished', args: [] }
    : { name, folder, state: 'unfinished', args: ['--resume', folder] };
}

/** Every run, in order: experiments (the preset's first), then seeds. Checks them all before any runs. */
export function planRuns(s: ReproduceSettings): PlannedRun[] {
  const preset = presets[s.dataset];
  const dir = reproduceDir(s);
  const base = s.quick ? quickOptions(preset) : preset.options;
  return experiments(s).flatMap((experiment) =>
    s.seeds.map((seed) =>
      planRun(dir, path.join(experiment.group, `seed-${seed}`), runOptions(base, experiment, seed)),
    ),
  );
}

/** POSIX shell quoting: bare where safe, else single quotes. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_\-+=.,/:@%]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(args: string[]): string {
  return ['evolve', ...args].map(shellQuote).join(' ');
}

export function describePlan(runs: PlannedRun[]): string {
  const count = (state: RunState) => runs.filter((r) => r.state === state).length;
  const total = `${runs.length} run${runs.length === 1 ? '' : 's'}`;
  const finished = `${count('finished')} finished (skipped)`;
  return `${total}: ${finished}, ${count('unfinished')} to resume, ${count('missing')} to start`;
}
