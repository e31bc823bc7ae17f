// Compaction: the compacted network computes the same function on real MNIST, expands back to the
// original exactly, and measures as the full masked network predicts.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { forward } from '../src/engine/network';
import { type Architecture, kernelSize } from '../src/models/architecture';
import { lenet300, lenet5 } from '../src/models/ancestors';
import { type Network, initialiseNetwork } from '../src/models/network';
import { type CompactNetwork, compactNetwork, expandNetwork } from '../src/models/compact';
import { loadMnist } from '../src/data/mnist';
import type { Split } from '../src/data/dataset';
import { sampleOffspring } from '../src/encoding/offspring';
import { liveUnits, pruneDeadUnits } from '../src/models/masks';
import { developFrom } from '../src/encoding/develop';
import { measure } from '../src/metrics/measure';

const data = loadMnist({ trainLimit: 1, testLimit: 500, validation: 0, rng: seedrandom('data') });

/** An offspring of a seeded parent with non-zero biases: some filters and neurons die. */
function offspring(arch: Architecture, seed: string): Network {
  const parent = initialiseNetwork(arch, seedrandom(`${seed}:w`));
  const rng = seedrandom(`${seed}:b`);
  for (const p of parent.params) {
    for (let u = 0; u < p.bias.length; u++) p.bias[u] = (rng() - 0.5) * 0.2;
  }
  const genome = sampleOffspring(
    parent,
    {
      synapseFactor: 0.1,
      clusterFactor: 0.4,
      tau: 0.01,
      normalisation: 'calibrated',
      scope: 'global',
      granularity: 'filter',
    },
    seedrandom(`${seed}:g`),
  );
  return developFrom(genome, parent, parent, 'inherit', seedrandom(`${seed}:i`));
}

/**
 * Logits of `net` as evolve evaluates it (train.ts `bind`): kernels times mask, dead units'
 * biases 0, over the first `split.count` images. Leaks no tensors.
 */
async function logits(net: Network, split: Split): Promise<Float32Array> {
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  const [h, w, c] = net.arch.inputShape;
  const out = tf.tidy(() => {
    const kernels = net.params.map((p, l) =>
      tf.tensor(
        p.kernel.map((v, k) => (p.mask[k] ? v : 0)),
        net.layers[l].kernelShape,
      ),
    );
    const biases = net.params.map((p, l) => tf.tensor1d(p.bias.map((b, u) => (units[l][u] ? b : 0))));
    const x = tf.tensor4d(
      Float32Array.from(split.images, (v) => v / 255),
      [split.count, h, w, c],
    );
    return forward(net, kernels, biases, x);
  });
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function countDead(net: Network): number[] {
  return liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  ).map((u) => u.length - u.reduce((a, b) => a + b, 0));
}

/** Every check of one network: same function, exact round trip, measure as predicted. */
async function checkCompaction(net: Network, label: string): Promise<CompactNetwork> {
  const before = tf.memory().numTensors;
  const compact = compactNetwork(net);
  const small = compact.net;

  // Shapes: the same layer list, hidden layers shrunk to their live units, the output untouched.
  assert.equal(small.arch.layers.length, net.arch.layers.length);
  assert.deepEqual(small.arch.inputShape, net.arch.inputShape);
  assert.match(small.arch.name, /-compact$/);
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  small.layers.forEach((layer, l) => {
    const live = [...units[l].keys()].filter((u) => units[l][u]);
    assert.deepEqual([...compact.kept[l]], live.length > 0 ? live : [0], `${label} ${layer.name} kept`);
    assert.equal(layer.outUnits, compact.kept[l].length);
    assert.equal(small.params[l].kernel.length, kernelSize(layer));
    assert.equal(small.params[l].mask.length, kernelSize(layer));
    assert.equal(small.params[l].bias.length, layer.outUnits);
    if (layer.isOutput) assert.equal(layer.outUnits, net.layers[l].outUnits);
    small.params[l].kernel.forEach((v, k) => {
      if (!small.params[l].mask[k]) assert.equal(v, 0);
    });
  });
  assert.equal(small.layers[0].inUnits, net.layers[0].inUnits, 'the data is never compacted');

  // (a) The same function on real MNIST test images.
  const full = await logits(net, data.test);
  const compacted = await logits(small, data.test);
  const diff = maxAbsDiff(full, compacted);
  assert.ok(diff <= 1e-5, `${label}: logits differ by ${diff}`);

  // (b) Expanding gives back the original, bit for bit.
  const expanded = expandNetwork(compact, net);
  assert.deepStrictEqual(expanded, net);

  // (c) The compact network keeps every synapse; its size and MACs are what measure predicted.
  const m = measure(
    net.layers,
    net.params.map((p) => p.mask),
  );
  const mc = measure(
    small.layers,
    small.params.map((p) => p.mask),
  );
  assert.equal(mc.synapses, m.synapses);
  assert.equal(mc.params, m.params);
  assert.equal(mc.macs, m.macs);
  assert.equal(mc.filters, m.filters);
  assert.equal(mc.denseNeurons, m.denseNeurons);
  // The records' params are exactly what the compacted network holds.
  const actual = small.params.reduce((a, p) => a + p.kernel.length + p.bias.length, 0);
  assert.equal(actual, m.params, `${label}: ${actual} params, measure says ${m.params}`);
  mc.layers.forEach((layer, l) => {
    assert.equal(layer.synapses, m.layers[l].synapses, `${label} ${layer.name} synapses`);
    assert.equal(layer.units, m.layers[l].units);
    assert.equal(layer.totalUnits, compact.kept[l].length);
    assert.equal(layer.params, m.layers[l].params);
    assert.equal(layer.macs, m.layers[l].macs);
  });

  assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  return compact;
}

test('lenet5 offspring: compact = masked full net on MNIST, expands back exactly, measures as planned', async () => {
  await selectBackend('wasm');
  const net = offspring(lenet5, 'x');
  const dead = countDead(net);
  assert.ok(dead[0] > 0 && dead[1] > 0 && dead[2] > 0, `dead filters/neurons ${dead}`);
  const { net: small } = await checkCompaction(net, 'lenet5');
  // A conv layer's compacted kernel is exactly what measure counts (kh x kw x live inputs x live filters).
  const mc = measure(
    small.layers,
    small.params.map((p) => p.mask),
  );
  for (const l of [0, 1])
    assert.equal(small.params[l].kernel.length + small.params[l].bias.length, mc.layers[l].params);
  assert.deepEqual(
    small.layers.map((l) => l.kernelShape.join('x')),
    [
      `5x5x1x${20 - dead[0]}`,
      `5x5x${20 - dead[0]}x${50 - dead[1]}`,
      `${16 * (50 - dead[1])}x${500 - dead[2]}`,
      `${500 - dead[2]}x10`,
    ],
  );
  // Compacting a compact network changes nothing but nothing is lost either.
  const again = compactNetwork(small);
  assert.deepStrictEqual(again.net.params, small.params);
  assert.equal(again.net.arch.name, 'lenet5-compact');
});

test('lenet300 offspring: compact = masked full net on MNIST, expands back exactly, measures as planned', async () => {
  await selectBackend('wasm');
  const net = offspring(lenet300, 'y');
  const dead = countDead(net);
  assert.ok(dead[0] > 0 && dead[1] > 0, `dead neurons ${dead}`);
  const { net: small } = await checkCompaction(net, 'lenet300');
  assert.deepEqual(
    small.layers.map((l) => l.kernelShape.join('x')),
    [`784x${300 - dead[0]}`, `${300 - dead[0]}x${100 - dead[1]}`, `${100 - dead[1]}x10`],
  );
});

test('a unit without input but with live outgoing synapses and a bias is still removed exactly', async () => {
  // Not pruned: evolve holds a dead unit's bias at 0, so it outputs 0 and its outgoing synapses read nothing.
  await selectBackend('wasm');
  const net = initialiseNetwork(lenet300, seedrandom('z'));
  for (const p of net.params) p.bias.fill(0.3);
  const m = net.params[0].mask;
  for (let k = 0; k < m.length; k++)
    if (k % 300 < 7) {
      m[k] = 0;
      net.params[0].kernel[k] = 0;
    }
  const compact = compactNetwork(net);
  assert.equal(compact.net.layers[0].outUnits, 293);
  assert.equal(compact.net.layers[1].inUnits, 293);
  const diff = maxAbsDiff(await logits(net, data.test), await logits(compact.net, data.test));
  assert.ok(diff <= 1e-5, `logits differ by ${diff}`);
  // The outgoing synapses of the removed units are gone from the compact net.
  assert.equal(
    measure(
      compact.net.layers,
      compact.net.params.map((p) => p.mask),
    ).synapses,
    266200 - 7 * 784 - 7 * 100,
  );
});

test('a hidden layer with no live unit keeps one dead, all-zero unit', async () => {
  await selectBackend('wasm');
  const net = initialiseNetwork(lenet300, seedrandom('w'));
  for (const p of net.params) p.bias.fill(0.1);
  net.params[1].mask.fill(0);
  net.params[1].kernel.fill(0);
  pruneDeadUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  net.params.forEach((p, l) => {
    p.kernel.forEach((_, k) => {
      if (!p.mask[k]) p.kernel[k] = 0;
    });
    if (!net.layers[l].isOutput) p.bias.fill(0);
  });
  const compact = compactNetwork(net);
  assert.deepEqual(
    compact.kept.map((k) => [...k]),
    [[0], [0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
  );
  assert.deepEqual(
    compact.net.layers.map((l) => l.kernelShape),
    [
      [784, 1],
      [1, 1],
      [1, 10],
    ],
  );
  for (const p of compact.net.params.slice(0, 2)) {
    assert.ok(p.kernel.every((v) => v === 0) && p.mask.every((v) => v === 0) && p.bias.every((v) => v === 0));
  }
  const out = await logits(compact.net, { ...data.test, count: 3, images: data.test.images.subarray(0, 3 * 784) });
  assert.ok(
    out.every((v) => Math.abs(v - 0.1) < 1e-7),
    'only the output biases remain',
  );
  assert.deepStrictEqual(expandNetwork(compact, net), net);
});

test('expandNetwork refuses a compact network of another architecture', () => {
  const a = compactNetwork(offspring(lenet300, 'y'));
  assert.throws(() => expandNetwork(a, initialiseNetwork(lenet5, seedrandom('q'))), /does not fit/);
});
