/**
 * Runs grouped by what makes them the same experiment (every option but the seed and where the run
 * went), and per generation the mean and the spread (min and max) across a group's runs, usually
 * its seeds.
 */
import type { RunPoint, RunSummary } from './runs';
import { type PaperResult, datasetTitle, paperResult } from '../paper/presets';
import { flagOf } from '../run/options';

/** Across the runs that reached a generation; null where none of them has a value (nothing left to count). */
export interface Spread {
  mean: number | null;
  min: number | null;
  max: number | null;
}

export const metrics = [
  'synapses',
  'synapseEfficiency',
  'clusterEfficiency',
  'testAccuracy',
  'accuracyChange',
] as const;
export type Metric = (typeof metrics)[number];

/** Both counts of clusters, side by side: conv filters and 2-D conv kernels. */
export const clusterCounts = ['filterEfficiency', 'kernelEfficiency'] as const;
export type ClusterCount = (typeof clusterCounts)[number];

export type GenerationSummary = { generation: number; runs: number } & Record<Metric | ClusterCount, Spread>;

export interface Group {
  dataset: string;
  arch: string;
  encoding: string;
  /** For legends and headings: "MNIST lenet5, cluster encoding", and the options that set it apart from the others. */
  label: string;
  /** The options this group's runs share and some other group's do not, as flags: "--test-limit 300"; [] if none. */
  differences: string[];
  runs: RunSummary[];
  /** Generation 0 up to the last generation any run of the group has reached; none while no run has a record. */
  generations: GenerationSummary[];
  /** The paper's final numbers where the paper ran this data set on this ancestor. */
  paper?: PaperResult;
  /** The synapse budget F shared by every run of the group, if they share one. */
  synapseFactor?: number;
}

/** Mean, min and max of the values that are there: a missing efficiency (nothing left) is left out. */
function spread(all: (number | null)[]): Spread {
  const values = all.filter((v): v is number => v !== null);
  if (values.length === 0) return { mean: null, min: null, max: null };
  return {
    mean: values.reduce((a, v) => a + v, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

function summariseGeneration(runs: RunSummary[], generation: number): GenerationSummary {
  const points = runs.map((r) => r.points[generation]).filter((p): p is RunPoint => p !== undefined);
  const perMetric = Object.fromEntries(
    [...metrics, ...clusterCounts].map((m) => [m, spread(points.map((p) => p[m]))]),
  ) as Record<Metric | ClusterCount, Spread>;
  return { generation, runs: points.length, ...perMetric };
}

/** An option's flag without "--" or its negation, as commander names it; a key no option has stays as it is. */
function kebab(name: string): string {
  try {
    return flagOf(name).replace(/^--(no-)?/, '');
  } catch {
    return name; // an option of an older or newer evolve
  }
}

/** An option as typed: "--test-limit 300", "--augment", "--no-augment"; "no --test-limit" where it was not given. */
function flag(name: string, value: unknown): string {
  if (value === undefined) return `no --${kebab(name)}`;
  if (typeof value === 'boolean') return value ? `--${kebab(name)}` : `--no-${kebab(name)}`;
  return `--${kebab(name)} ${typeof value === 'string' ? value : JSON.stringify(value)}`;
}

/** Per experiment, the options in which it differs from another (its label names data set, ancestor and encoding). */
function differingOptions(experiments: Record<string, unknown>[]): string[][] {
  const named = new Set(['dataset', 'arch', 'encoding']);
  const keys = [...new Set(experiments.flatMap((e) => Object.keys(e)))].filter((k) => !named.has(k)).sort();
  const differ = keys.filter((k) => new Set(experiments.map((e) => JSON.stringify(e[k]))).size > 1);
  return experiments.map((e) => differ.map((k) => flag(k, e[k])));
}

/** Groups in the order their first run was given; runs within a group by seed. */
export function summarise(runs: RunSummary[]): Group[] {
  const byKey = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const key = JSON.stringify(run.experiment);
    byKey.set(key, [...(byKey.get(key) ?? []), run]);
  }
  const groups = [...byKey.values()];
  const differences = differingOptions(groups.map((members) => members[0].experiment));
  return groups.map((members, i) => {
    const { dataset, arch, encoding } = members[0];
    const sorted = [...members].sort((a, b) => a.seed - b.seed);
    const last = Math.max(...sorted.map((r) => r.points.length - 1));
    const name = `${datasetTitle(dataset)} ${arch}, ${encoding} encoding`;
    return {
      dataset,
      arch,
      encoding,
      label: differences[i].length > 0 ? `${name}, ${differences[i].join(' ')}` : name,
      differences: differences[i],
      runs: sorted,
      generations: Array.from({ length: last + 1 }, (_, g) => summariseGeneration(sorted, g)),
      paper: paperResult(dataset, arch),
      synapseFactor: sorted.every((r) => r.synapseFactor === sorted[0].synapseFactor)
        ? sorted[0].synapseFactor
        : undefined,
    };
  });
}
