/**
 * The heredity formulas of docs/method.md, "The genetic encoding": truncation, cluster strength
 * T_c, cluster probability p_c and synapse probability p_k. Plain arithmetic on typed arrays.
 */
import type { WeightedLayer } from '../models/architecture';
import { type Granularity, clusterCount, clusterOf } from './clusters';

/** Largest |w| over live synapses. */
export function maxLiveMagnitude(kernel: Float32Array, mask: Uint8Array): number {
  let m = 0;
  for (let k = 0; k < kernel.length; k++) if (mask[k]) m = Math.max(m, Math.abs(kernel[k]));
  return m;
}

/** trunc(x) = x if x >= tau * max|w| over the layer's live synapses, else 0. */
export function truncate(magnitude: number, tau: number, layerMax: number): number {
  return magnitude >= tau * layerMax ? magnitude : 0;
}

/** T_c = sum over live synapses k in c of trunc(|w_k|). */
export function clusterStrengths(
  layer: WeightedLayer,
  kernel: Float32Array,
  mask: Uint8Array,
  granularity: Granularity,
  tau: number,
): Float64Array {
  const T = new Float64Array(clusterCount(layer, granularity));
  const layerMax = maxLiveMagnitude(kernel, mask);
  for (let k = 0; k < kernel.length; k++) {
    if (mask[k]) T[clusterOf(layer, granularity, k)] += truncate(Math.abs(kernel[k]), tau, layerMax);
  }
  return T;
}

/** p = min(1, exp(strength / Z) - 1): the form shared by clusters and synapses. */
export function encodingProbability(strength: number, Z: number): number {
  if (!(Z > 0)) return strength > 0 ? 1 : 0;
  return Math.min(1, Math.expm1(strength / Z));
}

/**
 * Z = alpha * max / ln 2, so with alpha = 1 the strongest member has probability exactly 1 and
 * larger alpha lowers every probability.
 */
export function normaliser(alpha: number, max: number): number {
  return (alpha * max) / Math.LN2;
}

/**
 * Solves for alpha so that `expected(alpha)` equals `target`, by bisection on log(alpha):
 * the expectation falls monotonically as alpha grows. Returns the alpha whose expectation is
 * closest to the target from the bracket [1e-6, 1e6].
 */
export function calibrateAlpha(expected: (alpha: number) => number, target: number): number {
  let lo = Math.log(1e-6);
  let hi = Math.log(1e6);
  if (expected(Math.exp(lo)) <= target) return Math.exp(lo);
  if (expected(Math.exp(hi)) >= target) return Math.exp(hi);
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    // Once the bracket is two adjacent doubles, further halvings change nothing: stop early,
    // with exactly the result the full 80 iterations give (a 5.8M-synapse AlexNet pays per call).
    if (mid === lo || mid === hi) break;
    if (expected(Math.exp(mid)) > target) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}
