// Evaluation on the compacted network: the masked network's logits bit for bit (native kernels),
// and the block plans that keep them, on hand-made layers and on LeNet-5 and LeNet-300 offspring.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { evaluate, evaluator } from '../src/engine/evaluate';
import { NATIVE_BLOCK_DEPTH, blockRuns, layerPlan } from '../src/engine/evaluatePlan';
import { nativeKernelsActive, nativeThreads, setNativeThreads } from '../src/engine/kernels/native';
import type { Architecture, WeightedLayer } from '../src/models/architecture';
import { lenet300, lenet5 } from '../src/models/ancestors';
import { type Network, initialiseNetwork } from '../src/models/network';
import { compactNetwork } from '../src/models/compact';
import { loadMnist } from '../src/data/mnist';
import { sampleOffspring } from '../src/encoding/offspring';
import { developFrom } from '../src/encoding/develop';

const data = loadMnist({ trainLimit: 1, testLimit: 300, validation: 0, rng: seedrandom('data') });

/** An offspring of a seeded parent with non-zero biases, sampled at these factors. */
function offspring(arch: Architecture, seed: string, synapseFactor: number, clusterFactor: number): Network {
  const parent = initialiseNetwork(arch, seedrandom(`${seed}:w`));
  const rng = seedrandom(`${seed}:b`);
  for (const p of parent.params) for (let u = 0; u < p.bias.length; u++) p.bias[u] = (rng() - 0.5) * 0.2;
  const factors = { synapseFactor, clusterFactor, tau: 0.01, normalisation: 'calibrated' as const };
  const genome = sampleOffspring(
    parent,
    { ...factors, scope: 'global', granularity: 'filter' },
    seedrandom(`${seed}:g`),
  );
  return developFrom(genome, parent, parent, 'inherit', seedrandom(`${seed}:i`));
}

/** The logits' bits over the test images, evaluated compacted or masked, by the addon or by tfjs ops. */
async function bits(
  net: Network,
  compact: boolean,
  native = false,
): Promise<{ bits: Uint32Array; compacted: boolean }> {
  const e = evaluator(net, compact, native);
  assert.equal(e.native, native, 'the addon computes the logits when asked to');
  const values = await e.logits(data.test, 0, data.test.count);
  e.dispose();
  return { bits: new Uint32Array(values.buffer.slice(0)), compacted: e.compacted };
}

const layer = (kind: 'conv' | 'dense', spatial: number, inUnits: number, prevUnits: number) =>
  ({ kind, spatial, inUnits, outUnits: 4, prevUnits }) as WeightedLayer;

test('block runs and plans: a dense layer in slices, a convolution only where each run stays in one block', () => {
  assert.deepEqual(blockRuns(Int32Array.from([0, 3, 255, 256, 700, 768])), [
    [0, 3],
    [3, 4],
    [4, 5],
    [5, 6],
  ]);
  assert.equal(NATIVE_BLOCK_DEPTH, 256);
  // fc1 of LeNet-5: 16 positions x 50 channels, 3 kept: rows p * 50 + c, four full blocks.
  const kept = Int32Array.from([1, 20, 49]);
  assert.deepEqual(layerPlan(layer('dense', 1, 800, 50), layer('dense', 1, 48, 3), kept), {
    how: 'blocks',
    runs: [
      [0, 16],
      [16, 31],
      [31, 46],
      [46, 48],
    ],
  });
  // conv2 of LeNet-5, 3 of 20 channels: 75 rows, two runs, both within the compacted product's one block.
  const conv = layerPlan(layer('conv', 25, 20, 20), layer('conv', 25, 3, 3), Int32Array.from([0, 5, 19]));
  assert.equal(conv?.how, 'blocks');
  // 15 of 20 channels: 375 rows, and a full block's run crosses the compacted product's block at 256.
  const most = Int32Array.from({ length: 15 }, (_, i) => i);
  assert.equal(layerPlan(layer('conv', 25, 20, 20), layer('conv', 25, 15, 15), most), null);
  assert.deepEqual(layerPlan(layer('conv', 25, 1, 0), layer('conv', 25, 1, 0), undefined), { how: 'one' });
});

test('compacted evaluation gives the masked network logits bit for bit, and the same accuracy', async (t) => {
  await selectBackend('wasm');
  if (!nativeKernelsActive()) return t.skip('the native kernels are not built: evaluation runs masked');
  const cases: [Architecture, string, number, number, boolean][] = [
    [lenet5, 'sparse', 0.02, 0.15, true],
    [lenet5, 'half', 0.3, 0.6, false], // too many conv2 channels live: evaluated masked
    [lenet5, 'dense', 1, 1, false],
    [lenet300, 'sparse', 0.05, 0.3, true],
  ];
  for (const [arch, seed, s, c, compacts] of cases) {
    const net = offspring(arch, seed, s, c);
    const masked = await bits(net, false);
    const compacted = await bits(net, true);
    assert.equal(masked.compacted, false);
    assert.equal(compacted.compacted, compacts, `${arch.name} ${seed}: compacted`);
    assert.deepEqual(compacted.bits, masked.bits, `${arch.name} ${seed}: logits`);
    // The addon's forward pass, on the masked and the compacted network, on 1, 2 and 5 threads;
    // the sparse LeNet-5 sums both a convolution and dense layers in several products.
    if (arch === lenet5 && compacts) {
      const small = compactNetwork(net);
      const plans = small.net.layers.map((l, i) => [l.kind, layerPlan(net.layers[i], l, small.kept[i - 1])?.how]);
      assert.deepEqual(
        plans.filter(([, how]) => how === 'blocks').map(([kind]) => kind),
        ['conv', 'dense', 'dense'],
      );
    }
    const threads = nativeThreads();
    for (const n of [1, 2, 5]) {
      setNativeThreads(n);
      for (const compact of [false, true]) {
        const native = await bits(net, compact, true);
        assert.equal(native.compacted, compact && compacts);
        assert.deepEqual(
          native.bits,
          masked.bits,
          `${arch.name} ${seed}: native logits, compact ${compact}, ${n} threads`,
        );
      }
    }
    setNativeThreads(threads);
    const accuracy = await evaluate(net, data.test, 128);
    const labels = await tf
      .tidy(() => tf.argMax(tf.tensor2d(new Float32Array(masked.bits.buffer), [data.test.count, 10]), 1))
      .data();
    assert.equal(accuracy, labels.filter((p, i) => p === data.test.labels[i]).length / data.test.count);
  }
});
