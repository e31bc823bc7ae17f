// The ancestor registry and the layer-kind table: shapes and counts of every ancestor, and the
// engine's forward pass agreeing with the saved tfjs-layers model (so export means what it says).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { forward } from '../src/engine/network';
import { layersModel } from '../src/engine/modelio';
import { kernelSize, weightedLayers } from '../src/models/architecture';
import { ancestors, alexnet, stl10net } from '../src/models/ancestors';
import { windowOut } from '../src/models/layers';
import { initialiseNetwork } from '../src/models/network';
import { compactNetwork } from '../src/models/compact';

test('windows: valid and same padding, overlapping pools', () => {
  assert.equal(windowOut(32, 3, 2, 'valid'), 15);
  assert.equal(windowOut(15, 3, 2, 'valid'), 7);
  assert.equal(windowOut(7, 3, 2, 'valid'), 3);
  assert.equal(windowOut(32, 5, 1, 'same'), 32);
  assert.equal(windowOut(28, 5, 1, 'valid'), 24);
  assert.equal(windowOut(5, 2, 2, 'same'), 3);
});

test('every ancestor: input shape, weighted layers and synapse counts', () => {
  const counts: Record<string, number> = { lenet5: 430500, lenet300: 266200, alexnet: 5868224, stl10net: 4848480 };
  for (const [name, arch] of Object.entries(ancestors)) {
    assert.equal(arch.name, name);
    const layers = weightedLayers(arch);
    assert.equal(
      layers.reduce((a, l) => a + kernelSize(l), 0),
      counts[name],
      name,
    );
    assert.equal(layers[layers.length - 1].outUnits, 10, name);
  }
  const a = weightedLayers(alexnet);
  assert.deepEqual(
    a.filter((l) => l.kind === 'conv').map((l) => l.kernelShape),
    [
      [5, 5, 3, 64],
      [5, 5, 64, 192],
      [3, 3, 192, 384],
      [3, 3, 384, 256],
      [3, 3, 256, 256],
    ],
  );
  assert.deepEqual(
    a.filter((l) => l.kind === 'conv').map((l) => l.outHeight),
    [32, 15, 7, 7, 7],
  );
  assert.deepEqual(a[5].kernelShape, [3 * 3 * 256, 1024]);
  assert.deepEqual(weightedLayers(stl10net)[3].kernelShape, [12 * 12 * 128, 256]);
});

test('a layer that cannot follow the one before it is refused by name', () => {
  assert.throws(
    () =>
      weightedLayers({
        name: 'x',
        inputShape: [8, 8, 1],
        layers: [
          { kind: 'flatten', name: 'f' },
          { kind: 'conv', name: 'c', kernelSize: 3, filters: 2, stride: 1, padding: 'valid', activation: 'relu' },
        ],
      }),
    /layer c needs an image-shaped input/,
  );
  assert.throws(
    () =>
      weightedLayers({
        name: 'x',
        inputShape: [8, 8, 1],
        layers: [{ kind: 'dense', name: 'd', units: 3, activation: 'relu' }],
      }),
    /dense layer d needs a flatten/,
  );
  assert.throws(
    () =>
      weightedLayers({
        name: 'x',
        inputShape: [4, 4, 1],
        layers: [
          { kind: 'conv', name: 'big', kernelSize: 5, filters: 2, stride: 1, padding: 'valid', activation: 'relu' },
        ],
      }),
    /big leaves no output/,
  );
});

test('the forward pass equals the saved layers model, full and compacted, for alexnet and stl10net', async () => {
  await selectBackend('wasm');
  for (const arch of [alexnet, stl10net]) {
    const net = initialiseNetwork(arch, seedrandom(arch.name));
    // Kill some conv filters so compaction removes units between same-padded convs and overlapping pools.
    net.params[1].mask.forEach((_, k) => {
      if (k % arch.layers.filter((s) => s.kind === 'conv')[1].filters < 3) net.params[1].mask[k] = 0;
    });
    for (const p of net.params) {
      for (let k = 0; k < p.kernel.length; k++) if (!p.mask[k]) p.kernel[k] = 0;
    }
    const outputs: Float32Array[] = [];
    for (const candidate of [net, compactNetwork(net).net]) {
      const [h, w, c] = arch.inputShape;
      const rng = seedrandom('x');
      const x = tf.tensor4d(
        Float32Array.from({ length: 2 * h * w * c }, () => rng()),
        [2, h, w, c],
      );
      const kernels = candidate.params.map((p, l) => tf.tensor(p.kernel, candidate.layers[l].kernelShape));
      const biases = candidate.params.map((p) => tf.tensor1d(p.bias));
      const ours = forward(candidate, kernels, biases, x);
      const model = layersModel(candidate.arch);
      model.setWeights(kernels.flatMap((k, l) => [k, biases[l]]));
      const theirs = model.predict(x) as tf.Tensor;
      assert.deepEqual(theirs.shape, [2, 10]);
      const a = ours.dataSync(),
        b = theirs.dataSync();
      for (let i = 0; i < a.length; i++)
        assert.ok(
          Math.abs(a[i] - b[i]) <= 1e-3 * (1 + Math.abs(b[i])),
          `${candidate.arch.name}[${i}]: ${a[i]} vs ${b[i]}`,
        );
      outputs.push(Float32Array.from(a));
      model.dispose();
      tf.dispose([x, ours, theirs, ...kernels, ...biases]);
    }
    assert.ok(compactNetwork(net).net.layers[1].outUnits < net.layers[1].outUnits);
    outputs[0].forEach((v, i) => {
      assert.ok(Math.abs(v - outputs[1][i]) <= 1e-3 * (1 + Math.abs(v)), `compacted ${arch.name}[${i}]`);
    });
  }
});
