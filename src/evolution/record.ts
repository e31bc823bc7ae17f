/** One generation's line in generations.ndjson (docs/method.md, "What each generation reports"). */
import type { LayerMeasure, NetworkMeasure } from '../metrics/measure';
import type { Granularity } from '../encoding/clusters';

export interface CandidateRecord {
  offspring: number;
  /**
   * Its parents: their offspring numbers in the previous generation's candidates, fittest first
   * (generation 1's only parent, the ancestor, is 0). Absent in records written before parents.
   */
  parents?: number[];
  synapses: number;
  validationAccuracy: number;
}

export interface GenerationRecord {
  generation: number;
  synapses: number;
  synapseEfficiency: number;
  /**
   * Live clusters of the counted layers (conv filters or kernels at the chosen granularity; hidden
   * neurons in a network without conv layers), and the ratio ancestor / now.
   */
  clusters: number;
  clusterEfficiency: number;
  granularity: Granularity;
  /** Conv filters and 2-D conv kernels, counted whatever the granularity (1 for a network without convs). */
  filters: number;
  filterEfficiency: number;
  kernels: number;
  kernelEfficiency: number;
  denseNeurons: number;
  /** Top-1 test accuracy in percent, and this minus the ancestor's in points (the paper's sign: negative is a loss). */
  testAccuracy: number;
  accuracyChange: number;
  validationAccuracy: number;
  /**
   * The budgets this generation was sampled under (null for the ancestor; the cluster factors
   * also for encodings without a cluster stage): F, the fraction of the cluster layers' clusters
   * kept in expectation over all of them, and per weighted layer its own cluster factor (null for
   * a layer without a cluster stage). See evolution/budget.ts.
   */
  synapseFactor: number | null;
  clusterFactor: number | null;
  layerClusterFactors: (number | null)[] | null;
  expectedSynapses: number | null;
  /**
   * The cap acted: the cluster draws would have left fewer synapses than F allows, so clusters were
   * revived to hold the budget (docs/method.md, "The genetic encoding").
   */
  capped: boolean;
  selected: number | null;
  /**
   * The population handed on: the --population best offspring, best first (the first is
   * `selected`); null for the ancestor. Absent in records written before populations.
   */
  survivors?: number[] | null;
  candidates: CandidateRecord[];
  /** Multiply-accumulates and parameters of the compacted network, per sample. */
  macs: number;
  params: number;
  loss: number | null;
  layers: LayerMeasure[];
  /**
   * Timing fields: the only ones that differ between identical runs. `seconds` is the generation's
   * wall time (from its start to its networks saved); the others are its parts, each second counted
   * in one: training, sampling the offspring (mating, the budget's factors and the encoding's draws),
   * setting them up for training (developing the network from the genome, compacting and expanding
   * it), evaluation (validation and test passes) and saving (checkpoints and the generation's
   * networks). What remains is measuring the networks and the loop's own work. The parts are absent
   * in records written before they were timed.
   */
  seconds: number;
  trainSeconds: number;
  sampleSeconds?: number;
  setupSeconds?: number;
  evaluateSeconds?: number;
  saveSeconds?: number;
}

export const timingFields = [
  'seconds',
  'trainSeconds',
  'sampleSeconds',
  'setupSeconds',
  'evaluateSeconds',
  'saveSeconds',
] as const;

/** Ratio ancestor / now, with 2 decimals kept exactly as printed. */
export function ratio(ancestor: number, now: number): number {
  return now === 0 ? Infinity : ancestor / now;
}

export function percent(fraction: number): number {
  return Math.round(fraction * 1e6) / 1e4;
}

/** `now` minus `ancestor`, both in percent, in points to 4 decimals (never -0, which JSON would not keep). */
export function pointsChange(now: number, ancestor: number): number {
  return Math.round((now - ancestor) * 1e4) / 1e4 + 0;
}

/**
 * The names records had before they took the report's, and how each value reads under its new name:
 * `accuracyDrop` was ancestor minus now, the sign `accuracyChange` flips.
 */
const renamed: Record<string, [string, (v: unknown) => unknown]> = {
  architecturalEfficiency: ['synapseEfficiency', (v) => v],
  accuracyDrop: ['accuracyChange', (v) => (typeof v === 'number' ? pointsChange(0, v) : v)],
  budgetExceeded: ['capped', (v) => v],
};

/**
 * A record as read from a line of generations.ndjson, any old name taken to its new one in its
 * place: a run folder written before the rename reads (and resumes, adding lines with the new
 * names) as one written after it.
 */
export function upgradeRecord(line: Record<string, unknown>): GenerationRecord {
  const fields = Object.entries(line).map(([k, v]): [string, unknown] => {
    if (!Object.hasOwn(renamed, k)) return [k, v];
    const [name, value] = renamed[k];
    return [name, value(v)];
  });
  return Object.fromEntries(fields) as unknown as GenerationRecord;
}

/**
 * The clusters the cluster efficiency counts (docs/method.md, "Cluster layers"): the conv layers'
 * filters or kernels, as the granularity says; in a network without conv layers, its hidden
 * neurons (dense layers keep neuron clusters at either granularity).
 */
function countedClusters(m: NetworkMeasure, granularity: Granularity, convFree: boolean): number {
  if (convFree) return m.denseNeurons;
  return granularity === 'filter' ? m.filters : m.kernels;
}

export function measureFields(m: NetworkMeasure, ancestor: NetworkMeasure, granularity: Granularity) {
  const convFree = ancestor.layers.every((l) => l.kind !== 'conv');
  const clusters = countedClusters(m, granularity, convFree);
  const ancestorClusters = countedClusters(ancestor, granularity, convFree);
  return {
    synapses: m.synapses,
    synapseEfficiency: ratio(ancestor.synapses, m.synapses),
    clusters,
    clusterEfficiency: ancestorClusters === 0 ? 1 : ratio(ancestorClusters, clusters),
    granularity,
    filters: m.filters,
    filterEfficiency: ancestor.filters === 0 ? 1 : ratio(ancestor.filters, m.filters),
    kernels: m.kernels,
    kernelEfficiency: ancestor.kernels === 0 ? 1 : ratio(ancestor.kernels, m.kernels),
    denseNeurons: m.denseNeurons,
    macs: m.macs,
    params: m.params,
    layers: m.layers,
  };
}
