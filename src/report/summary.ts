/**
 * Runs grouped by what makes them the same experiment (data set, ancestor, encoding), and per
 * generation the mean and the spread (min and max) across a group's runs, usually its seeds.
 */
import type { RunPoint, RunSummary } from './runs';
import { type PaperResult, datasetTitle, paperResult } from '../paper/presets';

export interface Spread {
  mean: number;
  min: number;
  max: number;
}

export const metrics = [
  'synapses',
  'synapseEfficiency',
  'clusterEfficiency',
  'testAccuracy',
  'accuracyChange',
] as const;
export type Metric = (typeof metrics)[number];

export type GenerationSummary = { generation: number; runs: number } & Record<Metric, Spread>;

export interface Group {
  dataset: string;
  arch: string;
  encoding: string;
  /** For legends and headings: "MNIST lenet5, cluster encoding". */
  label: string;
  runs: RunSummary[];
  /** Generation 0 up to the last generation any run of the group has reached. */
  generations: GenerationSummary[];
  /** The paper's final numbers where the paper ran this data set on this ancestor. */
  paper?: PaperResult;
  /** The synapse budget F shared by every run of the group, if they share one. */
  synapseFactor?: number;
}

function spread(values: number[]): Spread {
  return {
    mean: values.reduce((a, v) => a + v, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

function summariseGeneration(runs: RunSummary[], generation: number): GenerationSummary {
  const points = runs.map((r) => r.points[generation]).filter((p): p is RunPoint => p !== undefined);
  const perMetric = Object.fromEntries(metrics.map((m) => [m, spread(points.map((p) => p[m]))])) as Record<
    Metric,
    Spread
  >;
  return { generation, runs: points.length, ...perMetric };
}

/** Groups in the order their first run was given; runs within a group by seed. */
export function summarise(runs: RunSummary[]): Group[] {
  const byKey = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const key = JSON.stringify([run.dataset, run.arch, run.encoding]);
    byKey.set(key, [...(byKey.get(key) ?? []), run]);
  }
  return [...byKey.values()].map((members) => {
    const { dataset, arch, encoding } = members[0];
    const sorted = [...members].sort((a, b) => a.seed - b.seed);
    const last = Math.max(...sorted.map((r) => r.points.length - 1));
    return {
      dataset,
      arch,
      encoding,
      label: `${datasetTitle(dataset)} ${arch}, ${encoding} encoding`,
      runs: sorted,
      generations: Array.from({ length: last + 1 }, (_, g) => summariseGeneration(sorted, g)),
      paper: paperResult(dataset, arch),
      synapseFactor: sorted.every((r) => r.synapseFactor === sorted[0].synapseFactor)
        ? sorted[0].synapseFactor
        : undefined,
    };
  });
}
