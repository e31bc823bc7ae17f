/**
 * The fused native training step against the tfjs path it replaces: the same losses and the same
 * weights, bit for bit, on real MNIST batches, for sgd and momentum, with and without weight
 * decay, dense and masked, full-size and compacted, on 1, 2, 3 and 5 threads (the batch split
 * unevenly), continued from an epoch's saved state, and with a last batch shorter than the rest.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend';
import { setTrainingThreads, trainMasked } from '../src/engine/trainer';
import { fusedTraining } from '../src/engine/fused';
import type { EpochState, TrainOptions } from '../src/engine/train';
import { type Network, cloneNetwork, initialiseNetwork } from '../src/models/network';
import { compactNetwork } from '../src/models/compact';
import { lenet5, lenet300 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import type { Split } from '../src/data/dataset';
import { maskedOffspring, paramBytes } from './helpers';

const data = loadMnist({ trainLimit: 300, testLimit: 0, validation: 0, rng: seedrandom('d') });

/** Trains a copy of `net` both ways; asserts the same loss and weights, and returns the fused copy. */
async function bothWays(net: Network, split: Split, options: TrainOptions, what: string): Promise<Network> {
  assert.ok(
    fusedTraining(net, split, { ...options, optimizer: options.optimizer }),
    `${what}: the fused step covers it`,
  );
  const [fused, plain] = [cloneNetwork(net), cloneNetwork(net)];
  const tensors = tf.memory().numTensors;
  const lossFused = await trainMasked(fused, split, options, seedrandom('s'));
  const lossPlain = await trainMasked(plain, split, { ...options, fusedStep: false }, seedrandom('s'));
  assert.equal(tf.memory().numTensors, tensors, `${what}: no tensor leaked`);
  assert.ok(Object.is(lossFused, lossPlain), `${what}: loss ${lossFused} vs ${lossPlain}`);
  assert.ok(paramBytes(fused).equals(paramBytes(plain)), `${what}: the weights differ`);
  assert.notDeepEqual(fused.params[0].kernel, net.params[0].kernel, `${what}: it trained`);
  return fused;
}

const base = { epochs: 2, batchSize: 64, learningRate: 0.05 };

test('the fused step covers LeNet-5 and LeNet-300 on the native kernels, not Adam or augmented batches', async () => {
  await selectBackend('wasm');
  const net = initialiseNetwork(lenet5, seedrandom('w'));
  assert.ok(fusedTraining(net, data.train, { ...base, optimizer: 'momentum' }));
  assert.ok(fusedTraining(initialiseNetwork(lenet300, seedrandom('w')), data.train, { ...base, optimizer: 'sgd' }));
  assert.equal(fusedTraining(net, data.train, { ...base, optimizer: 'adam' }), null);
  const augmented = { ...data.train, input: { augment: { pad: 2, flip: false } } } as unknown as Split;
  assert.equal(fusedTraining(net, augmented, { ...base, optimizer: 'momentum' }), null);
  await selectBackend('cpu');
  assert.equal(fusedTraining(net, data.train, { ...base, optimizer: 'momentum' }), null);
});

test('fused and tfjs steps give the same weights: sgd, momentum, weight decay, masked and compacted', async () => {
  await selectBackend('wasm');
  setTrainingThreads(2);
  const { genome, child } = maskedOffspring(lenet5);
  const compact = compactNetwork(child).net;
  const dense = initialiseNetwork(lenet5, seedrandom('w'));
  for (const optimizer of ['sgd', 'momentum'] as const) {
    await bothWays(dense, data.train, { ...base, optimizer }, `dense ${optimizer}`);
    const masked = await bothWays(child, data.train, { ...base, optimizer, weightDecay: 5e-4 }, `masked ${optimizer}`);
    masked.params.forEach((p, l) => {
      p.kernel.forEach((w, k) => {
        if (!genome.masks[l][k]) assert.ok(Object.is(w, 0), `masked synapse ${l}/${k} is ${w}`);
      });
    });
    await bothWays(compact, data.train, { ...base, optimizer }, `compacted ${optimizer}`);
  }
  await bothWays(
    initialiseNetwork(lenet300, seedrandom('w')),
    data.train,
    { ...base, optimizer: 'momentum' },
    'lenet300',
  );
});

test('the fused step: the same weights on 1, 2, 3 and 5 threads, and continued from an epoch exactly', async () => {
  await selectBackend('wasm');
  const net = compactNetwork(maskedOffspring(lenet5).child).net;
  const options: TrainOptions = { ...base, epochs: 3, optimizer: 'momentum', weightDecay: 5e-4 };
  const runs: Network[] = [];
  let saved: EpochState | undefined;
  for (const threads of [1, 2, 3, 5]) {
    setTrainingThreads(threads);
    const copy = cloneNetwork(net);
    const keep = (e: EpochState) => {
      saved ??= e;
    };
    await trainMasked(copy, data.train, { ...options, onEpochEnd: keep }, seedrandom('s'));
    runs.push(copy);
  }
  for (const [i, threads] of [2, 3, 5].entries())
    assert.ok(
      paramBytes(runs[0]).equals(paramBytes(runs[i + 1])),
      `the weights differ between 1 and ${threads} threads`,
    );
  assert.equal(saved?.epochsDone, 1);
  const resumed = cloneNetwork(net);
  saved!.params.forEach((p, l) => {
    resumed.params[l].kernel = p.kernel;
    resumed.params[l].bias = p.bias;
  });
  const resume = { epochsDone: 1, optimizer: saved!.optimizer };
  await trainMasked(resumed, data.train, { ...options, resume }, seedrandom('s'));
  assert.ok(paramBytes(resumed).equals(paramBytes(runs[0])), 'the continued training differs');
});
