/**
 * The stages of offspring synthesis (docs/method.md, "The genetic encoding"): stage 1 draws one
 * Bernoulli per cluster with p_c, stage 3 one per remaining synapse with p_k, with the
 * normalisers Z solved so the budgets hold in expectation. The encodings in ./encodings/ are
 * built from them. Plain arithmetic on typed arrays.
 */
import type { Network } from '../models/network';
import type { Random } from '../random';
import type { WeightedLayer } from '../models/architecture';
import { type Granularity, clusterCount, countOnes, liveClusters, rowCluster } from './clusters';
import { calibrateAlpha, clusterStrengths, encodingProbability, normaliser } from './probabilities';
import { pruneDeadUnits } from '../models/masks';
import type { SamplingOptions } from './types';

/** Stage 1's p_c for one layer, at cluster factor `options.clusterFactor`. */
export function clusterProbabilities(T: Float64Array, live: Uint8Array, options: SamplingOptions): Float64Array {
  let maxT = 0;
  for (let c = 0; c < T.length; c++) if (live[c]) maxT = Math.max(maxT, T[c]);
  const p = new Float64Array(T.length);
  const fill = (alpha: number, scale: number): number => {
    const Z = normaliser(alpha, maxT);
    let sum = 0;
    for (let c = 0; c < T.length; c++) {
      p[c] = live[c] ? scale * encodingProbability(T[c], Z) : 0;
      sum += p[c];
    }
    return sum;
  };
  if (options.normalisation === 'max') {
    fill(1, options.clusterFactor);
  } else {
    const alpha = calibrateAlpha((a) => fill(a, 1), options.clusterFactor * countOnes(live));
    fill(alpha, 1);
  }
  return p;
}

/**
 * The cluster factor of layer `l`, or null where it has no cluster stage: its own if the options
 * give per-layer factors, else Fc on every hidden layer (the formulas read literally).
 */
export function layerClusterFactor(options: SamplingOptions, layers: WeightedLayer[], l: number): number | null {
  if (options.layerClusterFactors) return options.layerClusterFactors[l] ?? null;
  return layers[l].isOutput ? null : options.clusterFactor;
}

/** A cluster that died in stage 1's draw, with the probability it had of surviving. */
interface DeadCluster {
  layer: number;
  cluster: number;
  p: number;
}

/** Masks every synapse of the given dead clusters, then applies stage 2 (dead units take their synapses). */
function killClusters(layers: WeightedLayer[], masks: Uint8Array[], dead: DeadCluster[], g: Granularity): void {
  const byLayer = layers.map((layer) => new Uint8Array(clusterCount(layer, g)));
  for (const d of dead) byLayer[d.layer][d.cluster] = 1;
  layers.forEach((layer, l) => {
    if (!dead.some((d) => d.layer === l)) return;
    const m = masks[l];
    const units = layer.outUnits;
    for (let r = 0, row = 0; row < m.length; r++, row += units) {
      const c = rowCluster(layer, g, r);
      for (let o = 0; o < units; o++) if (m[row + o] && byLayer[l][c + o]) m[row + o] = 0;
    }
  });
  pruneDeadUnits(layers, masks);
}

const liveCount = (masks: Uint8Array[]): number => masks.reduce((a, m) => a + countOnes(m), 0);

/**
 * Stages 1 and 2 on `masks` (the parent's, modified in place). One draw per live cluster of every
 * layer with a cluster factor; the most probable one of each layer always survives. The cap (calibrated
 * normalisation): when the dead clusters and the units dying with them would leave fewer synapses
 * than the budget F allows, the fewest most-probable dead clusters are revived that bring the
 * count back to the budget, so a cluster draw can never take more than the synapse budget.
 */
export function clusterStage(
  parent: Network,
  masks: Uint8Array[],
  options: SamplingOptions,
  rng: Random,
): { probabilities: Float64Array[]; exceeded: boolean } {
  const g: Granularity = options.granularity;
  const dead: DeadCluster[] = [];
  const probabilities = parent.layers.map((layer, l) => {
    const factor = layerClusterFactor(options, parent.layers, l);
    if (factor === null) return new Float64Array(0);
    const live = liveClusters(layer, masks[l], g);
    const T = clusterStrengths(layer, parent.params[l].kernel, masks[l], g, options.tau);
    const p = clusterProbabilities(T, live, { ...options, clusterFactor: factor });
    const survives = new Uint8Array(live.length);
    let best = -1;
    for (let c = 0; c < survives.length; c++) {
      if (!live[c]) continue;
      survives[c] = rng() < p[c] ? 1 : 0;
      if (best < 0 || p[c] > p[best]) best = c;
    }
    if (best >= 0 && countOnes(survives) === 0) survives[best] = 1;
    for (let c = 0; c < survives.length; c++) if (live[c] && !survives[c]) dead.push({ layer: l, cluster: c, p: p[c] });
    return p;
  });
  const start = masks.map((m) => m.slice());
  killClusters(parent.layers, masks, dead, g);
  const budget = options.synapseFactor * liveCount(start);
  const exceeded = liveCount(masks) < budget;
  if (!exceeded || options.normalisation === 'max') return { probabilities, exceeded };
  // Revive in order of p_c (ties: layer, then cluster): the smallest r whose revival fits. More
  // revived clusters never leave fewer synapses, so bisection finds it.
  const order = dead
    .map((d, i) => ({ d, i }))
    .sort((a, b) => b.d.p - a.d.p || a.i - b.i)
    .map((x) => x.d);
  const attempt = (r: number): Uint8Array[] => {
    const m = start.map((s) => s.slice());
    killClusters(parent.layers, m, order.slice(r), g);
    return m;
  };
  let lo = 1;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (liveCount(attempt(mid)) >= budget) hi = mid;
    else lo = mid + 1;
  }
  attempt(lo).forEach((m, l) => {
    masks[l].set(m);
  });
  return { probabilities, exceeded };
}

/** |w| of the live synapses of a group of layers (their kernels and masks), in the order stage 3 adds them. */
export function liveMagnitudes(kernels: Float32Array[], masks: Uint8Array[]): Float32Array {
  const out = new Float32Array(masks.reduce((n, m) => n + countOnes(m), 0));
  let i = 0;
  kernels.forEach((kernel, l) => {
    const m = masks[l];
    for (let k = 0; k < m.length; k++) if (m[k]) out[i++] = Math.abs(kernel[k]);
  });
  return out;
}

/** Past this, expm1 exceeds 1.01 and p_k = min(1, expm1(|w| / Z)) is exactly 1. */
const SATURATED = 0.7;

/**
 * Stage 3's expectation at alpha: the sum over live synapses of p_k, the very sum `fill` computes
 * (the same terms, added in the same order; the dead synapses' zeros change no sum) without
 * writing the probabilities or reading the masks, so calibrating costs one pass over the live
 * synapses per step. `magnitudes` is liveMagnitudes(), `maxW` their largest.
 */
export function expectedSynapses(magnitudes: Float32Array, alpha: number, maxW: number): number {
  const Z = normaliser(alpha, maxW);
  let sum = 0;
  if (!(Z > 0)) {
    for (let i = 0; i < magnitudes.length; i++) sum += encodingProbability(magnitudes[i], Z);
    return sum;
  }
  for (let i = 0; i < magnitudes.length; i++) {
    const x = magnitudes[i] / Z;
    sum += x > SATURATED ? 1 : Math.min(1, Math.expm1(x));
  }
  return sum;
}

/** Stage 3's p_k over a group of layers (the whole network, or one layer). */
function synapseProbabilitiesFor(
  group: number[],
  parent: Network,
  masks: Uint8Array[],
  out: Float64Array[],
  options: SamplingOptions,
): { expected: number; exceeded: boolean } {
  let parentLive = 0;
  let alive = 0;
  let maxW = 0;
  for (const l of group) {
    parentLive += countOnes(parent.params[l].mask);
    const { kernel } = parent.params[l];
    const m = masks[l];
    for (let k = 0; k < m.length; k++)
      if (m[k]) {
        alive++;
        maxW = Math.max(maxW, Math.abs(kernel[k]));
      }
  }
  const target = options.synapseFactor * parentLive;
  const fill = (alpha: number, scale: number, all: boolean): number => {
    const Z = normaliser(alpha, maxW);
    let sum = 0;
    for (const l of group) {
      const { kernel } = parent.params[l];
      const m = masks[l];
      const p = out[l];
      for (let k = 0; k < m.length; k++) {
        p[k] = m[k] ? (all ? 1 : scale * encodingProbability(Math.abs(kernel[k]), Z)) : 0;
        sum += p[k];
      }
    }
    return sum;
  };
  if (options.normalisation === 'max') return { expected: fill(1, options.synapseFactor, false), exceeded: false };
  if (alive <= target) return { expected: fill(1, 1, true), exceeded: alive < target };
  const magnitudes = liveMagnitudes(
    group.map((l) => parent.params[l].kernel),
    group.map((l) => masks[l]),
  );
  const alpha = calibrateAlpha((a) => expectedSynapses(magnitudes, a, maxW), target);
  return { expected: fill(alpha, 1, false), exceeded: false };
}

/**
 * Stage 3 on `masks` (in place): one draw per remaining synapse, calibrated against the parent's
 * live count, then stage 4 (units left without input or output die).
 */
export function synapseStage(
  parent: Network,
  masks: Uint8Array[],
  options: SamplingOptions,
  rng: Random,
): { probabilities: Float64Array[]; expected: number; exceeded: boolean } {
  const { layers } = parent;
  const probabilities = masks.map((m) => new Float64Array(m.length));
  const groups = options.scope === 'global' ? [layers.map((_, l) => l)] : layers.map((_, l) => [l]);
  let expected = 0;
  let exceeded = false;
  for (const group of groups) {
    const r = synapseProbabilitiesFor(group, parent, masks, probabilities, options);
    expected += r.expected;
    exceeded ||= r.exceeded;
  }
  for (let l = 0; l < layers.length; l++) {
    const m = masks[l];
    const p = probabilities[l];
    for (let k = 0; k < m.length; k++) if (m[k] && !(rng() < p[k])) m[k] = 0;
  }
  pruneDeadUnits(layers, masks);
  return { probabilities, expected, exceeded };
}
