// Masked training in-process: masked weights and dead units' biases stay exactly 0, no tensor leaks.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { evaluate } from '../src/engine/evaluate';
import { trainNetwork } from '../src/engine/train';
import { lenet5 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import { maskedOffspring } from './helpers';

test('a masked lenet5 trains, learns, keeps its masks exactly and leaks no tensors', async () => {
  await selectBackend('wasm');
  const data = loadMnist({ trainLimit: 512, testLimit: 256, validation: 0, rng: seedrandom('d') });
  const { genome, child } = maskedOffspring(lenet5);
  const before = tf.memory().numTensors;
  const untrained = await evaluate(child, data.test);
  const loss = await trainNetwork(
    child,
    data.train,
    { epochs: 2, batchSize: 32, learningRate: 0.05, optimizer: 'momentum' },
    seedrandom('s'),
  );
  const trained = await evaluate(child, data.test);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(Number.isFinite(loss));
  assert.ok(trained > untrained + 0.2, `accuracy ${untrained} -> ${trained}`);
  let live = 0;
  child.params.forEach((p, l) => {
    p.kernel.forEach((w, k) => {
      if (!genome.masks[l][k]) assert.equal(w, 0, `layer ${l} synapse ${k}`);
      else live++;
    });
    p.bias.forEach((b, u) => {
      if (!genome.units[l][u]) assert.equal(b, 0, `layer ${l} dead unit ${u}`);
    });
  });
  assert.ok(
    genome.units.slice(0, -1).some((u) => u.includes(0)),
    'some unit died',
  );
  assert.ok(live > 0);
});
