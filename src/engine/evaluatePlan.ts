/**
 * How a compacted network computes the masked network's logits bit for bit on the native kernels
 * (./evaluate). Those kernels sum each output in blocks of NATIVE_BLOCK_DEPTH products, each block
 * one chain of fused multiply-adds in row order from +0, the blocks then added in order
 * (native/gemm.h, native/direct.h). A dead input's products are zeros, which leave a chain as it
 * was; what the compacted product changes is where its blocks start. So a compacted layer sums the
 * live rows of each of the full layer's blocks as one chain of its own and adds those sums in
 * block order. Plain typed-array code.
 */
import type { WeightedLayer } from '../models/architecture';
import { inputMap } from '../models/compact';

/** The depth of the native kernels' blocks: KC in native/gemm.h. */
export const NATIVE_BLOCK_DEPTH = 256;

/**
 * 'one': a single product (all live rows in one block); 'blocks': one product per run of rows,
 * in order (a convolution's over all its rows, with its kernel zero outside the run).
 */
export type LayerPlan = { how: 'one' } | { how: 'blocks'; runs: [number, number][] };

/** For each kernel row of the compacted layer (row s * in + i: tap s, input i), its row in the full layer. */
export function fullRows(full: WeightedLayer, small: WeightedLayer, keptPrev: Int32Array | undefined): Int32Array {
  const inputs = inputMap(full, small, keptPrev);
  const rows = new Int32Array(small.spatial * small.inUnits);
  for (let r = 0; r < rows.length; r++) {
    rows[r] = Math.floor(r / small.inUnits) * full.inUnits + inputs[r % small.inUnits];
  }
  return rows;
}

/** Runs [lo, hi) of consecutive compacted rows whose full rows lie in the same block, in order. */
export function blockRuns(rows: Int32Array): [number, number][] {
  const runs: [number, number][] = [];
  const block = (r: number) => Math.floor(rows[r] / NATIVE_BLOCK_DEPTH);
  for (let r = 0; r < rows.length; r++) {
    if (r > 0 && block(r - 1) === block(r)) runs[runs.length - 1][1] = r + 1;
    else runs.push([r, r + 1]);
  }
  return runs;
}

/** Multiply-adds per output position of a plan's products, to weigh it against the full layer's. */
export function planCost(plan: LayerPlan, small: WeightedLayer): number {
  const rows = small.spatial * small.inUnits;
  if (plan.how === 'one') return rows * small.outUnits;
  return small.kind === 'dense' ? rows * small.outUnits : plan.runs.length * rows * small.outUnits;
}

/**
 * How the compacted layer `small` computes the full layer's sums, or null when it cannot: a
 * convolution's product runs over all its rows, so each run must lie within one of the compacted
 * product's own blocks (a dense layer reads each run's slice alone, at most one block deep).
 */
export function layerPlan(
  full: WeightedLayer,
  small: WeightedLayer,
  keptPrev: Int32Array | undefined,
): LayerPlan | null {
  const runs = blockRuns(fullRows(full, small, keptPrev));
  if (runs.length <= 1) return { how: 'one' };
  if (small.kind === 'dense') return { how: 'blocks', runs };
  const inOne = ([lo, hi]: [number, number]) =>
    Math.floor(lo / NATIVE_BLOCK_DEPTH) === Math.floor((hi - 1) / NATIVE_BLOCK_DEPTH);
  return runs.every(inOne) ? { how: 'blocks', runs } : null;
}
