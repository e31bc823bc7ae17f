// The mating function's formulas on small hand-made parents, and the parent draw.
import { tiny } from './helpers';
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { weightedLayers } from '../src/models/architecture';
import type { Network } from '../src/models/network';
import { mate } from '../src/encoding/mating';
import { drawParents } from '../src/evolution/parents';
import { meanMeasure, unionFactors } from '../src/evolution/budget';
import { measure } from '../src/metrics/measure';

function net(hidden: number[], hiddenBias: number[], output: number[], outputBias: number[]): Network {
  const layer = (w: number[], b: number[]) => ({
    kernel: Float32Array.from(w),
    bias: Float32Array.from(b),
    mask: Uint8Array.from(w.map((v) => (v === 0 ? 0 : 1))),
  });
  return { arch: tiny, layers: weightedLayers(tiny), params: [layer(hidden, hiddenBias), layer(output, outputBias)] };
}

// The fitter parent A: hidden unit 1 has no input (dead, bias 0). B, the less fit: both hidden units live.
const A = net([0.5, 0, -1.0, 0, 0.3, 0], [0.1, 0], [0.7, -0.1, 0, 0], [0.01, 0.02]);
const B = net([-0.25, 0.2, 0, 0.4, 0.1, -0.6], [0.3, -0.2], [0.5, 0, 0.8, 0.9], [0.03, 0.04]);

const near = (got: Float32Array, want: number[]) =>
  assert.deepEqual(
    Array.from(got, (v) => Math.round(v * 1e6) / 1e6),
    want.map((v) => Math.round(Math.fround(v) * 1e6) / 1e6),
  );

test('one parent: the DNA and the inheritance are that parent', () => {
  const m = mate([A]);
  assert.equal(m.dna, A);
  assert.equal(m.inherit, A);
});

test('two parents: union mask, mean |w| over all parents (dead as 0), weights and biases from the fittest', () => {
  const m = mate([A, B]);
  // Hidden: A alive at 0, 2, 4; B alive at 0, 1, 3, 4, 5 -> union everywhere.
  assert.deepEqual(Array.from(m.dna.params[0].mask), [1, 1, 1, 1, 1, 1]);
  near(m.dna.params[0].kernel, [(0.5 + 0.25) / 2, 0.2 / 2, 1.0 / 2, 0.4 / 2, (0.3 + 0.1) / 2, 0.6 / 2]);
  near(m.inherit.params[0].kernel, [0.5, 0.2, -1.0, 0.4, 0.3, -0.6]);
  // Hidden unit 0 lives in A (the fitter): its bias; unit 1 lives only in B: B's.
  near(m.inherit.params[0].bias, [0.1, -0.2]);
  // Output: A alive at 0, 1; B at 0, 2, 3; output units always live, so their biases are the fittest's.
  assert.deepEqual(Array.from(m.inherit.params[1].mask), [1, 1, 1, 1]);
  near(m.dna.params[1].kernel, [(0.7 + 0.5) / 2, 0.1 / 2, 0.8 / 2, 0.9 / 2]);
  near(m.inherit.params[1].kernel, [0.7, -0.1, 0.8, 0.9]);
  near(m.inherit.params[1].bias, [0.01, 0.02]);
  // The parents are not changed.
  near(A.params[0].kernel, [0.5, 0, -1.0, 0, 0.3, 0]);
});

test('the order of the parents is their fitness: the other order inherits the other weights', () => {
  const m = mate([B, A]);
  near(m.inherit.params[0].kernel, [-0.25, 0.2, -1.0, 0.4, 0.1, -0.6]);
  near(m.inherit.params[0].bias, [0.3, -0.2]);
  near(m.inherit.params[1].bias, [0.03, 0.04]);
  // The strengths do not depend on the order.
  near(m.dna.params[0].kernel, Array.from(mate([A, B]).dna.params[0].kernel));
});

test('a synapse dead in every parent stays dead, with weight 0', () => {
  const C = net([0.5, 0, -1.0, 0, 0.3, 0], [0.1, 0], [0.7, 0, 0, 0], [0, 0]);
  const m = mate([A, C]);
  assert.deepEqual(Array.from(m.dna.params[0].mask), [1, 0, 1, 0, 1, 0]);
  near(m.dna.params[0].kernel, [0.5, 0, 1.0, 0, 0.3, 0]);
  near(m.dna.params[1].kernel, [0.7, 0.1 / 2, 0, 0]);
});

test('the parent draw: m distinct members in the population order; a population of at most m gives itself', () => {
  const population = [0, 1, 2, 3, 4].map((number) => ({ number, net: A }));
  assert.deepEqual(
    drawParents(population.slice(0, 2), 2, () => assert.fail('no draw')),
    population.slice(0, 2),
  );
  const counts = new Map<string, number>();
  const rng = seedrandom('parents');
  for (let i = 0; i < 5000; i++) {
    const drawn = drawParents(population, 2, rng).map((p) => p.number);
    assert.equal(new Set(drawn).size, 2);
    assert.ok(drawn[0] < drawn[1], 'fittest first');
    counts.set(drawn.join(','), (counts.get(drawn.join(',')) ?? 0) + 1);
  }
  // All 10 pairs, each near 500 (a binomial's sd is about 21).
  assert.equal(counts.size, 10);
  for (const [pair, n] of counts) assert.ok(Math.abs(n - 500) < 110, `${pair}: ${n}`);
});

test("several parents' budget: the parents' mean kept, as a fraction of the union", () => {
  const [a, b] = [A, B].map((n) =>
    measure(
      n.layers,
      n.params.map((p) => p.mask),
    ),
  );
  const union = measure(
    A.layers,
    mate([A, B]).dna.params.map((p) => p.mask),
  );
  const mean = meanMeasure([a, b]);
  // Live synapses: A 3 + 2, B 5 + 3; the union 6 + 4.
  assert.deepEqual([a.synapses, b.synapses, mean.synapses, union.synapses], [5, 8, 6.5, 10]);
  assert.deepEqual(
    mean.layers.map((l) => l.units),
    [1.5, 2],
  );
  const f = { synapseFactor: 0.6, clusterFactor: 0.5, layerClusterFactors: [0.5, null] };
  const scaled = unionFactors(f, mean, union, 'filter');
  // 0.6 of 6.5 synapses is 3.9, 0.39 of the union's 10; 0.5 of 1.5 hidden units is 0.75 of 2.
  assert.equal(scaled.synapseFactor, (0.6 * 6.5) / 10);
  assert.deepEqual(scaled.layerClusterFactors, [(0.5 * 1.5) / 2, null]);
  assert.equal(scaled.clusterFactor, 0.5, 'the recorded aggregate stays the generation’s');
  assert.equal(unionFactors(f, a, a, 'filter'), f, 'one parent: the factors themselves');
  assert.equal(meanMeasure([a]), a);
});
