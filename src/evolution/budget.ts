/**
 * The budgets each generation is sampled under, closed-loop (docs/method.md, "Budgets: F and Fc,
 * and how a run keeps them"). The options give per-generation factors F and Fc; over G generations they promise
 * F^-G fewer synapses and Fc^-G fewer clusters. What one generation actually removes is random
 * and often more than asked (units die with their synapses), so each generation asks for the
 * remaining ratio spread evenly over the remaining generations:
 *   F_g = (target synapses / parent's synapses)^(1 / (G - g + 1)),  at most 1,
 * and likewise per hidden layer. The cluster target is shared between the counted layers (conv)
 * in proportion to the square root of their ancestor cluster counts, so a 20-filter layer ends
 * with fewer clusters than a 50-filter one, but is not shrunk as hard; a conv network's hidden
 * dense layers have a target of their own (DENSE_SHARE).
 */
import type { WeightedLayer } from '../models/architecture';
import type { NetworkMeasure } from '../metrics/measure';
import { type Granularity, clusterLayers } from '../encoding/clusters';
import { calibrateAlpha } from '../encoding/probabilities';
import type { EncodingOptions } from '../encoding/offspring';
import { encodings } from '../encoding/encodings';

export interface BudgetPlan {
  generations: number;
  /** Live synapses the last generation should have. */
  synapseTarget: number;
  /** Per weighted layer, the live clusters its last generation should have (null: no cluster stage). */
  clusterTargets: (number | null)[];
  /** Per weighted layer, whether the cluster efficiency counts its clusters (see clusterLayers). */
  counted: boolean[];
}

/** The factors one generation is sampled under, as its record carries them. */
export interface GenerationFactors {
  synapseFactor: number;
  /** Expected fraction of the cluster layers' live clusters kept, over all of them (null: no cluster stage). */
  clusterFactor: number | null;
  layerClusterFactors: (number | null)[] | null;
}

/** Live clusters of layer `l` at the granularity: conv filters or kernels, dense neurons. */
function clustersOf(m: NetworkMeasure, l: number, granularity: Granularity): number {
  const layer = m.layers[l];
  return granularity === 'kernel' && layer.kind === 'conv' ? layer.kernels : layer.units;
}

/**
 * Shares `total` clusters between layers with ancestor counts `n` as k_l = min(n_l, c sqrt(n_l)),
 * c solved by bisection; every layer keeps at least one.
 */
export function shareClusters(n: number[], total: number): number[] {
  const share = (c: number) => n.map((nl) => Math.max(Math.min(1, nl), Math.min(nl, c * Math.sqrt(nl))));
  const sum = (c: number) => share(c).reduce((a, b) => a + b, 0);
  // calibrateAlpha solves a falling expectation; 1/c makes this one fall.
  const inverse = calibrateAlpha((a) => sum(1 / a), total);
  return share(1 / inverse);
}

/**
 * The hidden dense layers of a conv network aim for Y^DENSE_SHARE fewer neurons where the conv
 * layers aim for Y fewer clusters: their neurons are not what the cluster efficiency counts, and
 * together with the dead conv filters' rows, a full share would take the whole synapse budget
 * from fc1 (docs/method.md, "Why: what we measured").
 */
export const DENSE_SHARE: number = 0.5;

export function planBudget(
  layers: WeightedLayer[],
  ancestor: NetworkMeasure,
  encoding: EncodingOptions,
  generations: number,
): BudgetPlan {
  const G = Math.max(1, generations);
  const counted = clusterLayers(layers);
  const ancestorClusters = layers.map((_, l) => (counted[l] ? clustersOf(ancestor, l, encoding.granularity) : 0));
  const kept = encoding.clusterFactor ** G;
  const shared = shareClusters(
    ancestorClusters.filter((_, l) => counted[l]),
    kept * ancestorClusters.reduce((a, b) => a + b, 0),
  );
  let next = 0;
  const ownTarget = (l: number): number | null => {
    const layer = layers[l];
    if (layer.isOutput || layer.kind !== 'dense' || DENSE_SHARE === 0) return null;
    return Math.max(1, kept ** DENSE_SHARE * clustersOf(ancestor, l, encoding.granularity));
  };
  return {
    generations: G,
    synapseTarget: encoding.synapseFactor ** G * ancestor.synapses,
    clusterTargets: layers.map((_, l) => (counted[l] ? shared[next++] : ownTarget(l))),
    counted,
  };
}

/** What remains of the way from `now` to `target`, spread over `remaining` generations; at most 1. */
function remainingFactor(target: number, now: number, remaining: number): number {
  return now <= 0 ? 1 : Math.min(1, (target / now) ** (1 / remaining));
}

/**
 * Generation g's factors, from the plan and the parent's measure. `max` normalisation reads the
 * formulas literally: the option's F and Fc every generation.
 */
export function generationFactors(
  plan: BudgetPlan,
  parent: NetworkMeasure,
  g: number,
  encoding: EncodingOptions,
): GenerationFactors {
  const usesClusters = encodings[encoding.kind ?? 'cluster'].usesClusters;
  if (encoding.normalisation === 'max') {
    return {
      synapseFactor: encoding.synapseFactor,
      clusterFactor: usesClusters ? encoding.clusterFactor : null,
      layerClusterFactors: null,
    };
  }
  const remaining = Math.max(1, plan.generations - g + 1);
  const synapseFactor = remainingFactor(plan.synapseTarget, parent.synapses, remaining);
  if (!usesClusters) return { synapseFactor, clusterFactor: null, layerClusterFactors: null };
  let kept = 0;
  let live = 0;
  const layerClusterFactors = plan.clusterTargets.map((target, l) => {
    if (target === null) return null;
    const n = clustersOf(parent, l, encoding.granularity);
    const f = remainingFactor(target, n, remaining);
    if (plan.counted[l]) {
      kept += f * n;
      live += n;
    }
    return f;
  });
  return { synapseFactor, clusterFactor: live > 0 ? kept / live : 1, layerClusterFactors };
}

/** The parents' mean measure: mean live synapses, and per layer mean live units and kernels. */
export function meanMeasure(parents: NetworkMeasure[]): NetworkMeasure {
  if (parents.length === 1) return parents[0];
  const mean = (f: (m: NetworkMeasure) => number) => parents.reduce((a, m) => a + f(m), 0) / parents.length;
  return {
    ...parents[0],
    synapses: mean((m) => m.synapses),
    layers: parents[0].layers.map((layer, l) => ({
      ...layer,
      units: mean((m) => m.layers[l].units),
      kernels: mean((m) => m.layers[l].kernels),
    })),
  };
}

/**
 * The factors to sample a mated DNA with (docs/method.md, "Several parents"): the generation's
 * factors `f` say what to keep of the parents' mean (`parents`); the union of their synapses and
 * clusters (`union`) is larger, so each factor is rescaled to keep the same counts of it, at most 1.
 * One parent: `f` itself.
 */
export function unionFactors(
  f: GenerationFactors,
  parents: NetworkMeasure,
  union: NetworkMeasure,
  granularity: Granularity,
): GenerationFactors {
  if (parents === union) return f;
  const scale = (factor: number, kept: number, of: number) => (of <= 0 ? factor : Math.min(1, (factor * kept) / of));
  return {
    synapseFactor: scale(f.synapseFactor, parents.synapses, union.synapses),
    clusterFactor: f.clusterFactor,
    layerClusterFactors:
      f.layerClusterFactors?.map((factor, l) =>
        factor === null ? null : scale(factor, clustersOf(parents, l, granularity), clustersOf(union, l, granularity)),
      ) ?? null,
  };
}
