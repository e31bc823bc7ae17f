// The genetic encoding's formulas on small hand-computed tensors, and its sampling checked
// statistically against the probabilities it reports (docs/method.md, "The genetic encoding").
import { tiny } from './helpers';
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import {
  type Architecture,
  type WeightedLayer,
  feedingUnit,
  inIndexOf,
  outUnitOf,
  weightedLayers,
} from '../src/models/architecture';
import { lenet300, lenet5 } from '../src/models/ancestors';
import { type Network, initialiseNetwork } from '../src/models/network';
import { clusterStrengths, encodingProbability, normaliser, calibrateAlpha } from '../src/encoding/probabilities';
import { clusterOf, liveClusters, rowCluster } from '../src/encoding/clusters';
import { type EncodingOptions, clusterProbabilities, sampleOffspring } from '../src/encoding/offspring';
import { pruneDeadUnits } from '../src/models/masks';
import { clusterStage, expectedSynapses, liveMagnitudes } from '../src/encoding/stages';
import { measure } from '../src/metrics/measure';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} vs ${b}`);

function tinyNet(): Network {
  const layers = weightedLayers(tiny);
  // [in, out] row-major: unit 0 gets 0.5, -1.0, 0.3; unit 1 gets 0.001, 0.2, -0.004.
  const hidden = Float32Array.from([0.5, 0.001, -1.0, 0.2, 0.3, -0.004]);
  const output = Float32Array.from([0.7, -0.1, 0.05, 0.9]);
  return {
    arch: tiny,
    layers,
    params: [
      { kernel: hidden, bias: new Float32Array(2), mask: new Uint8Array(6).fill(1) },
      { kernel: output, bias: new Float32Array(2), mask: new Uint8Array(4).fill(1) },
    ],
  };
}

const options = (o: Partial<EncodingOptions> = {}): EncodingOptions => ({
  synapseFactor: 0.5,
  clusterFactor: 0.5,
  tau: 0.01,
  normalisation: 'calibrated',
  scope: 'global',
  granularity: 'filter',
  ...o,
});

test('cluster strength T_c sums truncated live magnitudes', () => {
  const net = tinyNet();
  const [layer] = net.layers;
  const T = clusterStrengths(layer, net.params[0].kernel, net.params[0].mask, 'filter', 0.01);
  // max |w| = 1.0, so 0.001 and 0.004 fall below tau * max = 0.01 and do not count.
  close(T[0], 0.5 + 1.0 + 0.3, 1e-6);
  close(T[1], 0.2, 1e-6);
  // A dead synapse neither counts nor sets the maximum: with -1.0 masked, max = 0.5 and the
  // threshold is 0.005, still above 0.001 and 0.004.
  const mask = Uint8Array.from([1, 1, 0, 1, 1, 1]);
  const T2 = clusterStrengths(layer, net.params[0].kernel, mask, 'filter', 0.01);
  close(T2[0], 0.8, 1e-6);
  close(T2[1], 0.2, 1e-6);
  // tau = 0.001 keeps 0.001 and 0.004 in cluster 1.
  close(clusterStrengths(layer, net.params[0].kernel, net.params[0].mask, 'filter', 0.001)[1], 0.205, 1e-6);
});

test('p = min(1, exp(T/Z) - 1) with Z = alpha * max / ln 2', () => {
  close(encodingProbability(1.8, normaliser(1, 1.8)), 1);
  close(encodingProbability(0.2, normaliser(1, 1.8)), 2 ** (0.2 / 1.8) - 1);
  close(encodingProbability(0.2, normaliser(0.5, 1.8)), 2 ** (0.4 / 1.8) - 1);
  close(encodingProbability(1.8, normaliser(0.5, 1.8)), 1); // capped at 1
  close(encodingProbability(0, normaliser(1, 1.8)), 0);
});

test("calibrated cluster probabilities sum to Fc x live clusters and keep the formula's ratios", () => {
  const T = Float64Array.from([1.8, 0.2, 0.9, 0.0, 1.2]);
  const live = Uint8Array.from([1, 1, 1, 1, 0]); // cluster 4 is already dead
  const p = clusterProbabilities(T, live, options({ clusterFactor: 0.5 }));
  close(
    p.reduce((a, b) => a + b, 0),
    0.5 * 4,
    1e-6,
  );
  assert.equal(p[3], 0); // T = 0: nothing to inherit
  assert.equal(p[4], 0); // dead stays dead
  // One alpha for the layer: ln(1 + p_c) is proportional to T_c until p_c reaches its cap of 1,
  // which the strongest cluster does here (the two others then share the remaining 1).
  close(p[0], 1);
  close(p[1] + p[2], 1, 1e-6);
  close(Math.log1p(p[2]) / Math.log1p(p[1]), 0.9 / 0.2, 1e-6);
});

test('max normalisation: the strongest cluster gets Fc, the rest Fc * (2^(T/maxT) - 1)', () => {
  const T = Float64Array.from([1.8, 0.2, 0.9]);
  const p = clusterProbabilities(T, Uint8Array.from([1, 1, 1]), options({ normalisation: 'max', clusterFactor: 0.8 }));
  close(p[0], 0.8);
  close(p[1], 0.8 * (2 ** (0.2 / 1.8) - 1));
  close(p[2], 0.8 * (2 ** 0.5 - 1));
});

test('calibrateAlpha finds the alpha whose expectation hits the target', () => {
  const expected = (a: number) => 10 / a;
  close(calibrateAlpha(expected, 4), 2.5, 1e-6);
});

/** Stage 3's expectation as written first: every synapse's p_k stored, dead ones as 0, and summed in order. */
function expectationByFill(kernels: Float32Array[], masks: Uint8Array[], alpha: number, maxW: number): number {
  const Z = normaliser(alpha, maxW);
  let sum = 0;
  kernels.forEach((kernel, l) => {
    const p = new Float64Array(kernel.length);
    for (let k = 0; k < kernel.length; k++) {
      p[k] = masks[l][k] ? 1 * encodingProbability(Math.abs(kernel[k]), Z) : 0;
      sum += p[k];
    }
  });
  return sum;
}

test('stage 3 calibrates to the very alpha and expectation of summing every stored probability', () => {
  const rng = seedrandom('expectation');
  const cases = [
    { layers: 3, size: 1500, density: 0.3, spread: 1 },
    { layers: 1, size: 5000, density: 0.9, spread: 0.05 },
    { layers: 2, size: 3000, density: 0.05, spread: 10 },
    { layers: 2, size: 200, density: 0.5, spread: 0 }, // every live weight 0: no normaliser
  ];
  for (const c of cases) {
    for (let trial = 0; trial < 3; trial++) {
      const kernels = Array.from({ length: c.layers }, () =>
        Float32Array.from({ length: c.size }, () => c.spread * (rng() - 0.5) * (rng() < 0.1 ? 20 : 1)),
      );
      const masks = kernels.map((k) => Uint8Array.from(k, () => (rng() < c.density ? 1 : 0)));
      const magnitudes = liveMagnitudes(kernels, masks);
      const maxW = magnitudes.reduce((m, w) => Math.max(m, w), 0);
      const target = (0.2 + 0.7 * rng()) * magnitudes.length;
      const tried: number[] = [];
      const reference = calibrateAlpha((a) => {
        tried.push(a);
        return expectationByFill(kernels, masks, a, maxW);
      }, target);
      assert.ok(
        Object.is(
          calibrateAlpha((a) => expectedSynapses(magnitudes, a, maxW), target),
          reference,
        ),
      );
      for (const a of [...tried, 1, 0.5, 2, 1e-6, 1e6]) {
        assert.ok(Object.is(expectedSynapses(magnitudes, a, maxW), expectationByFill(kernels, masks, a, maxW)));
      }
    }
  }
});

/** The dead-unit rule entry by entry, as docs/method.md states it: the reference for pruneDeadUnits. */
function pruneByEntry(layers: WeightedLayer[], masks: Uint8Array[]): number {
  let total = 0;
  for (let removed = -1; removed !== 0; total += removed) {
    removed = 0;
    for (let l = 0; l < layers.length - 1; l++) {
      const [layer, next, own, after] = [layers[l], layers[l + 1], masks[l], masks[l + 1]];
      const hasIn = new Uint8Array(layer.outUnits);
      const hasOut = new Uint8Array(layer.outUnits);
      for (let k = 0; k < own.length; k++) if (own[k]) hasIn[outUnitOf(layer, k)] = 1;
      for (let k = 0; k < after.length; k++) if (after[k]) hasOut[feedingUnit(next, inIndexOf(next, k))] = 1;
      const dead = (u: number) => !hasIn[u] || !hasOut[u];
      for (let k = 0; k < own.length; k++) {
        if (own[k] && dead(outUnitOf(layer, k))) {
          own[k] = 0;
          removed++;
        }
      }
      for (let k = 0; k < after.length; k++) {
        if (after[k] && dead(feedingUnit(next, inIndexOf(next, k)))) {
          after[k] = 0;
          removed++;
        }
      }
    }
  }
  return total;
}

test('dead units and clusters, walked row by row, are those of the entry-by-entry rule', () => {
  const rng = seedrandom('rows');
  const layers = weightedLayers(lenet5);
  const sizes = layers.map((layer) => layer.kernelShape.reduce((a, b) => a * b));
  // Sparse enough that units die in every layer, and their deaths kill more in a second round.
  const masks = sizes.map((n) => Uint8Array.from({ length: n }, () => (rng() < 0.01 ? 1 : 0)));
  const reference = masks.map((m) => m.slice());
  const removed = pruneDeadUnits(layers, masks);
  assert.equal(removed, pruneByEntry(layers, reference));
  assert.ok(removed > 0);
  for (const [l, m] of masks.entries()) assert.ok(Buffer.from(m).equals(Buffer.from(reference[l])), layers[l].name);
  layers.forEach((layer, l) => {
    for (const g of ['filter', 'kernel'] as const) {
      let wrong = 0;
      for (let k = 0; k < sizes[l]; k += 3) {
        if (rowCluster(layer, g, Math.floor(k / layer.outUnits)) + outUnitOf(layer, k) !== clusterOf(layer, g, k))
          wrong++;
      }
      assert.equal(wrong, 0, `${layer.name} ${g}`);
    }
  });
});

test('a dead conv filter takes its incoming synapses and its flatten columns in fc1', () => {
  const net = initialiseNetwork(lenet5, seedrandom('1'));
  const masks = net.params.map((p) => p.mask.slice());
  const conv2 = net.layers[1];
  for (let k = 0; k < masks[1].length; k++) if (k % conv2.outUnits === 3) masks[1][k] = 0; // filter 3 has no input
  const removed = pruneDeadUnits(net.layers, masks);
  // fc1 reads 4x4x50 NHWC: rows r with r % 50 == 3, 16 of them, each with 500 synapses.
  assert.equal(removed, 16 * 500);
  for (let r = 0; r < 800; r++) {
    const row = masks[2].subarray(r * 500, (r + 1) * 500);
    assert.equal(
      row.every((v) => v === (r % 50 === 3 ? 0 : 1)),
      true,
      `row ${r}`,
    );
  }
  const m = measure(net.layers, masks);
  assert.equal(m.filters, 69);
  assert.equal(m.layers[2].inputs, 784);
});

test('a hidden unit none of whose outputs survive dies with its inputs', () => {
  const net = tinyNet();
  const masks = net.params.map((p) => p.mask.slice());
  masks[1][2] = 0;
  masks[1][3] = 0; // hidden unit 1 feeds nothing
  const removed = pruneDeadUnits(net.layers, masks);
  assert.equal(removed, 3);
  assert.deepEqual(Array.from(masks[0]), [1, 0, 1, 0, 1, 0]);
});

test('ancestor measures match the method page', () => {
  const l5 = initialiseNetwork(lenet5, seedrandom('1'));
  const m5 = measure(
    l5.layers,
    l5.params.map((p) => p.mask),
  );
  assert.equal(m5.synapses, 430500);
  assert.equal(m5.filters, 70);
  assert.equal(m5.kernels, 20 * 1 + 50 * 20);
  assert.equal(m5.denseNeurons, 500);
  const l3 = initialiseNetwork(lenet300, seedrandom('1'));
  assert.equal(
    measure(
      l3.layers,
      l3.params.map((p) => p.mask),
    ).synapses,
    266200,
  );
});

// A dense net big enough for statistics, small enough for thousands of draws.
const mid: Architecture = {
  name: 'mid',
  inputShape: [1, 1, 20],
  layers: [
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'h', units: 30, activation: 'relu' },
    { kind: 'dense', name: 'o', units: 10, activation: 'linear' },
  ],
};

test('synapse survival rates match p_k, and calibrated keeps F of the live synapses in expectation', () => {
  const parent = initialiseNetwork(mid, seedrandom('parent'));
  // Fc = 1 with calibration keeps every cluster with T > 0, isolating stage 3.
  const opts = options({ synapseFactor: 0.6, clusterFactor: 1 });
  const live = 20 * 30 + 30 * 10;
  const draws = 3000;
  const rng = seedrandom('draws');
  const counts = parent.params.map((p) => new Float64Array(p.mask.length));
  const first = sampleOffspring(parent, opts, rng);
  let total = 0;
  for (let d = 0; d < draws; d++) {
    const o = d === 0 ? first : sampleOffspring(parent, opts, rng);
    o.masks.forEach((m, l) => {
      m.forEach((v, k) => {
        counts[l][k] += v;
        total += v;
      });
    });
  }
  close(first.expectedSynapses, 0.6 * live, 1e-6);
  assert.equal(first.capped, false);
  // Stage 4 can only remove more, and rarely does here: the mean is F * live within 1%.
  const mean = total / draws;
  assert.ok(Math.abs(mean - 0.6 * live) / (0.6 * live) < 0.01, `mean survivors ${mean} vs ${0.6 * live}`);
  // Per synapse, the observed rate is within 4.5 standard errors of p_k (p_k fixed: no cluster dies).
  let worst = 0;
  first.synapseProbabilities.forEach((ps, l) => {
    ps.forEach((p, k) => {
      const se = Math.sqrt(Math.max(p * (1 - p), 1e-4) / draws);
      worst = Math.max(worst, Math.abs(counts[l][k] / draws - p) / se);
    });
  });
  assert.ok(worst < 4.5, `worst deviation ${worst.toFixed(2)} standard errors`);
});

test('layer scope: every layer keeps F of its own synapses in expectation', () => {
  const parent = initialiseNetwork(mid, seedrandom('parent'));
  const o = sampleOffspring(parent, options({ synapseFactor: 0.3, clusterFactor: 1, scope: 'layer' }), seedrandom('x'));
  const perLayer = o.synapseProbabilities.map((p) => p.reduce((a, b) => a + b, 0));
  close(perLayer[0], 0.3 * 600, 1e-6);
  close(perLayer[1], 0.3 * 300, 1e-6);
});

test('cluster survival rates match p_c (the strongest also wins when all others die)', () => {
  const parent = initialiseNetwork(mid, seedrandom('parent'));
  // Stages 1-2 alone; F = 0 leaves the cap (dead clusters may not take more than F's budget) idle.
  const opts = options({ synapseFactor: 0, clusterFactor: 0.5 });
  const draws = 3000;
  const rng = seedrandom('clusters');
  const hidden = parent.layers[0];
  const alive = new Float64Array(30);
  let p: Float64Array | undefined;
  for (let d = 0; d < draws; d++) {
    const masks = parent.params.map((q) => q.mask.slice());
    const o = clusterStage(parent, masks, opts, rng);
    p ??= o.probabilities[0];
    liveClusters(hidden, masks[0], 'filter').forEach((v, c) => {
      alive[c] += v;
    });
  }
  const probs = p!;
  close(
    probs.reduce((a, b) => a + b, 0),
    0.5 * 30,
    1e-6,
  );
  const best = probs.indexOf(Math.max(...probs));
  const allOthersDie = probs.reduce((a, q, c) => (c === best ? a : a * (1 - q)), 1);
  let worst = 0;
  probs.forEach((q, c) => {
    const want = c === best ? q + (1 - q) * allOthersDie : q;
    const se = Math.sqrt(Math.max(want * (1 - want), 1e-4) / draws);
    worst = Math.max(worst, Math.abs(alive[c] / draws - want) / se);
  });
  assert.ok(worst < 4.5, `worst deviation ${worst.toFixed(2)} standard errors`);
});

test('cluster draws that would spend more than the budget are capped, and the record says so', () => {
  const parent = initialiseNetwork(mid, seedrandom('parent'));
  const o = sampleOffspring(parent, options({ synapseFactor: 0.99, clusterFactor: 0.2 }), seedrandom('b'));
  assert.equal(o.capped, true);
  // The cap revived the most probable dead clusters until stage 3 could keep F of the parent again.
  close(o.expectedSynapses, 0.99 * (20 * 30 + 30 * 10), 1e-6);
  // max normalisation reads the formulas literally: no cap, stage 3 keeps what is left.
  const literal = sampleOffspring(
    parent,
    options({ synapseFactor: 0.99, clusterFactor: 0.2, normalisation: 'max' }),
    seedrandom('b'),
  );
  assert.ok(literal.expectedSynapses < 0.5 * 900);
});

test('a synapse that died never comes back, and the same seed gives the same offspring', () => {
  const parent = initialiseNetwork(mid, seedrandom('parent'));
  const child = sampleOffspring(parent, options(), seedrandom('s'));
  const again = sampleOffspring(parent, options(), seedrandom('s'));
  assert.deepEqual(child.masks, again.masks);
  const other = sampleOffspring(parent, options(), seedrandom('t'));
  assert.notDeepEqual(child.masks, other.masks);
  const next: Network = { ...parent, params: parent.params.map((p, l) => ({ ...p, mask: child.masks[l] })) };
  const grandchild = sampleOffspring(next, options(), seedrandom('u'));
  grandchild.masks.forEach((m, l) => {
    for (let k = 0; k < m.length; k++) assert.ok(m[k] <= child.masks[l][k]);
  });
});
