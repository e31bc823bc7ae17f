// The three encodings (cluster, synapse, magnitude) and the closed-loop budgets, on small
// networks' typed arrays: milliseconds each (docs/method.md, "Encodings" and "Budgets").
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import type { Architecture } from '../src/models/architecture';
import { type Network, initialiseNetwork } from '../src/models/network';
import { type EncodingOptions, sampleOffspring } from '../src/encoding/offspring';
import { clusterLayers, countOnes, liveClusters } from '../src/encoding/clusters';
import { measure } from '../src/metrics/measure';
import { DENSE_SHARE, generationFactors, planBudget, shareClusters } from '../src/evolution/budget';

// 8x8 input, conv 3x3x4, conv 3x3x6, dense 12, dense 3: two conv cluster layers and a hidden dense layer.
const small: Architecture = {
  name: 'small',
  inputShape: [8, 8, 1],
  layers: [
    { kind: 'conv', name: 'c1', kernelSize: 3, filters: 4, stride: 1, padding: 'valid', activation: 'linear' },
    { kind: 'conv', name: 'c2', kernelSize: 3, filters: 6, stride: 1, padding: 'valid', activation: 'linear' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'h', units: 12, activation: 'relu' },
    { kind: 'dense', name: 'o', units: 3, activation: 'linear' },
  ],
};

const options = (o: Partial<EncodingOptions> = {}): EncodingOptions => ({
  synapseFactor: 0.5,
  clusterFactor: 0.7,
  tau: 0.01,
  normalisation: 'calibrated',
  scope: 'global',
  granularity: 'filter',
  ...o,
});

const live = (net: Network): number => net.params.reduce((a, p) => a + countOnes(p.mask), 0);
const survivors = (masks: Uint8Array[]): number => masks.reduce((a, m) => a + countOnes(m), 0);

test('magnitude keeps exactly the budget, the largest |w|, and draws nothing', () => {
  const parent = initialiseNetwork(small, seedrandom('m'));
  const o = sampleOffspring(parent, options({ kind: 'magnitude', synapseFactor: 0.3 }), seedrandom('a'));
  const again = sampleOffspring(parent, options({ kind: 'magnitude', synapseFactor: 0.3 }), seedrandom('b'));
  assert.deepEqual(o.masks, again.masks);
  assert.equal(o.expectedSynapses, Math.round(0.3 * live(parent)));
  assert.ok(survivors(o.masks) <= o.expectedSynapses && survivors(o.masks) >= 0.95 * o.expectedSynapses);
  // Every synapse kept is at least as large as every synapse dropped.
  let smallestKept = Infinity;
  let largestDropped = 0;
  parent.params.forEach((p, l) => {
    p.kernel.forEach((w, k) => {
      if (o.masks[l][k]) smallestKept = Math.min(smallestKept, Math.abs(w));
      else largestDropped = Math.max(largestDropped, Math.abs(w));
    });
  });
  // Stage 4 may drop a large synapse of a unit that lost the rest; none of those here.
  assert.ok(smallestKept >= largestDropped, `${smallestKept} < ${largestDropped}`);
  assert.ok(o.clusterProbabilities.every((p) => p.length === 0));
});

test('magnitude with layer scope keeps F of every layer', () => {
  const parent = initialiseNetwork(small, seedrandom('m'));
  const o = sampleOffspring(
    parent,
    options({ kind: 'magnitude', synapseFactor: 0.5, scope: 'layer' }),
    seedrandom('a'),
  );
  assert.equal(
    o.expectedSynapses,
    parent.params.reduce((a, p) => a + Math.round(0.5 * p.mask.length), 0),
  );
  for (const m of o.masks) assert.ok(countOnes(m) <= Math.round(0.5 * m.length));
});

test('synapse-only keeps F in expectation and kills no cluster by draw', () => {
  const parent = initialiseNetwork(small, seedrandom('s'));
  const rng = seedrandom('draws');
  let total = 0;
  const draws = 300;
  for (let d = 0; d < draws; d++) {
    const o = sampleOffspring(parent, options({ kind: 'synapse', synapseFactor: 0.6, clusterFactor: 0.1 }), rng);
    assert.ok(Math.abs(o.expectedSynapses - 0.6 * live(parent)) < 1e-6);
    assert.ok(o.clusterProbabilities.every((p) => p.length === 0));
    total += survivors(o.masks);
  }
  const mean = total / draws;
  assert.ok(Math.abs(mean - 0.6 * live(parent)) / (0.6 * live(parent)) < 0.02, `mean ${mean}`);
});

test('cluster layers: the cluster efficiency counts conv layers; per-layer factors say which layers draw', () => {
  const parent = initialiseNetwork(small, seedrandom('c'));
  assert.deepEqual(clusterLayers(parent.layers), [true, true, false, false]);
  // Without per-layer factors every hidden layer draws with Fc (the formulas read literally).
  const o = sampleOffspring(parent, options({ synapseFactor: 0.9, clusterFactor: 0.5 }), seedrandom('x'));
  assert.deepEqual(
    o.clusterProbabilities.map((p) => p.length),
    [4, 6, 12, 0],
  );
  // Per-layer factors replace Fc, and null means no cluster stage: the calibrated p_c sum to each layer's own share.
  const f = sampleOffspring(
    parent,
    options({ synapseFactor: 0.9, layerClusterFactors: [1, 0.5, null, null] }),
    seedrandom('x'),
  );
  assert.deepEqual(
    f.clusterProbabilities.map((p) => p.length),
    [4, 6, 0, 0],
  );
  assert.ok(Math.abs(f.clusterProbabilities[1].reduce((a, b) => a + b, 0) - 3) < 1e-6);
});

test('the cap: dead clusters never take more than the synapse budget', () => {
  const parent = initialiseNetwork(small, seedrandom('cap'));
  const rng = seedrandom('cap-draws');
  let capped = 0;
  for (let d = 0; d < 200; d++) {
    const o = sampleOffspring(parent, options({ synapseFactor: 0.9, clusterFactor: 0.3 }), rng);
    // Stage 3 still draws against F of the parent: its expectation is the budget itself.
    assert.ok(Math.abs(o.expectedSynapses - 0.9 * live(parent)) < 1e-6, `expected ${o.expectedSynapses}`);
    if (o.capped) capped++;
    assert.ok(countOnes(liveClusters(parent.layers[1], o.masks[1], 'filter')) >= 1);
  }
  assert.ok(capped > 100, `the cap acted in ${capped} of 200 draws`);
});

test('shareClusters: a small layer keeps a larger fraction, and the shares sum to the total', () => {
  const [a, b] = shareClusters([20, 50], 6.3);
  assert.ok(Math.abs(a + b - 6.3) < 1e-6);
  assert.ok(a / 20 > b / 50 && a < b, `${a} ${b}`);
  // Nothing shrinks below one cluster or grows beyond its count.
  assert.deepEqual(shareClusters([1, 50], 60), [1, 50]);
  assert.ok(shareClusters([3, 300], 2)[0] >= 1);
});

test('closed-loop factors: the remaining ratio over the remaining generations', () => {
  const parent = initialiseNetwork(small, seedrandom('b'));
  const ancestor = measure(
    parent.layers,
    parent.params.map((p) => p.mask),
  );
  const enc = options({ synapseFactor: 0.5, clusterFactor: 0.8 });
  const plan = planBudget(parent.layers, ancestor, enc, 4);
  assert.ok(Math.abs(plan.synapseTarget - ancestor.synapses / 16) < 1e-9);
  // The conv layers share 0.8^4 of their 10 filters; the hidden dense layer aims for 0.8^(4 * DENSE_SHARE)
  // of its 12 neurons.
  assert.deepEqual(
    plan.clusterTargets.map((t) => t === null),
    [false, false, DENSE_SHARE === 0, true],
  );
  assert.ok(Math.abs((plan.clusterTargets[0] as number) + (plan.clusterTargets[1] as number) - 0.8 ** 4 * 10) < 1e-6);
  if (DENSE_SHARE > 0) assert.ok(Math.abs((plan.clusterTargets[2] as number) - 0.8 ** (4 * DENSE_SHARE) * 12) < 1e-9);
  // On schedule, generation 1 asks for F itself.
  const first = generationFactors(plan, ancestor, 1, enc);
  assert.ok(Math.abs(first.synapseFactor - 0.5) < 1e-9);
  // A parent that overshot to 1/8 at generation 2 leaves 1/2 for 3 generations; at the target, 1.
  const masks = parent.params.map((p) => p.mask.slice());
  let drop = ancestor.synapses - Math.round(ancestor.synapses / 8);
  for (let l = masks.length - 1; l >= 0 && drop > 0; l--)
    for (let k = 0; k < masks[l].length && drop > 0; k++) {
      masks[l][k] = 0;
      drop--;
    }
  const over = measure(parent.layers, masks);
  const second = generationFactors(plan, over, 2, enc);
  assert.ok(Math.abs(second.synapseFactor - (plan.synapseTarget / over.synapses) ** (1 / 3)) < 1e-9);
  // Past its target (1/4 over 2 generations), a parent keeps every synapse: synapses never come back.
  assert.equal(generationFactors(planBudget(parent.layers, ancestor, enc, 2), over, 2, enc).synapseFactor, 1);
  // The encodings without a cluster stage carry no cluster factors; max normalisation the option's.
  assert.equal(generationFactors(plan, ancestor, 1, { ...enc, kind: 'magnitude' }).clusterFactor, null);
  assert.equal(generationFactors(plan, over, 2, { ...enc, normalisation: 'max' }).synapseFactor, 0.5);
});
