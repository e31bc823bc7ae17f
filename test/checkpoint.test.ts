// Epoch checkpoints in-process: a training continued from an epoch's state (weights + optimizer
// state) equals the uninterrupted one bit for bit; the file format round-trips and recognises
// corruption.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import type { EpochState, TrainOptions } from '../src/engine/train';
import { type OptimizerName, disposeOptimizer, makeOptimizer, optimizerChoices } from '../src/engine/optimizer';
import { restoreOptimizerState, saveOptimizerState } from '../src/engine/optimizerState';
import { trainMasked } from '../src/engine/trainer';
import { type Network, cloneNetwork, initialiseNetwork } from '../src/models/network';
import type { Architecture } from '../src/models/architecture';
import { lenet300 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import {
  type BestOffspring,
  type Expected,
  type TrainingCheckpoint,
  checkpointProblem,
  fingerprint,
} from '../src/evolution/checkpoint';
import { compactNetwork } from '../src/models/compact';
import { decodeCheckpoint, encodeCheckpoint } from '../src/run/checkpoint';
import { maskedOffspring, paramBytes } from './helpers';

const data = loadMnist({ trainLimit: 192, testLimit: 10, validation: 0, rng: seedrandom('d') });

function maskedChild(arch: Architecture): Network {
  return maskedOffspring(arch).child;
}

const bits = paramBytes;

/** Trains `start` for 3 epochs straight, and again continued from each epoch state it reported; all must agree. */
// 8 steps per epoch: after 8 steps adam's running beta1^t differs from setWeights' pow(beta1, t) in the last bit.
async function checkContinued(start: Network, optimizer: OptimizerName): Promise<void> {
  const options: TrainOptions = { epochs: 3, batchSize: 24, learningRate: 0.02, optimizer };
  const straight = cloneNetwork(start);
  const states: EpochState[] = [];
  const loss = await trainMasked(
    straight,
    data.train,
    {
      ...options,
      onEpochEnd: (s) => {
        states.push(s);
      },
    },
    seedrandom('s'),
  );
  assert.deepEqual(
    states.map((s) => s.epochsDone),
    [1, 2],
    'a state after every epoch but the last',
  );
  assert.equal(states[0].optimizer.slots.length, { sgd: 0, momentum: 1, adam: 2 }[optimizer] * 2 * start.params.length);
  // The state restored into a fresh optimizer reads back the same, adam's running beta powers included.
  const fresh = makeOptimizer(options);
  await restoreOptimizerState(fresh, states[0].optimizer, [
    ...start.layers.map((l) => l.kernelShape),
    ...start.layers.map((l) => [l.outUnits]),
  ]);
  assert.deepEqual(await saveOptimizerState(fresh, optimizer), states[0].optimizer);
  disposeOptimizer(fresh);
  for (const s of states) {
    const continued = cloneNetwork(start);
    s.params.forEach((p, l) => {
      continued.params[l].kernel = p.kernel;
      continued.params[l].bias = p.bias;
    });
    const seen: number[] = [];
    const resumedLoss = await trainMasked(
      continued,
      data.train,
      {
        ...options,
        resume: { epochsDone: s.epochsDone, optimizer: s.optimizer },
        onBatch: (p) => seen.push(p.epoch),
      },
      seedrandom('s'),
    );
    assert.equal(seen[0], s.epochsDone, 'starts at the next epoch');
    assert.ok(bits(continued).equals(bits(straight)), `${optimizer}, continued after epoch ${s.epochsDone}`);
    assert.ok(Object.is(resumedLoss, loss));
  }
}

test('continued after epoch 1 or 2 equals 3 epochs straight (sgd, momentum, adam), no tensor leaked', async () => {
  await selectBackend('wasm');
  const before = tf.memory().numTensors;
  for (const optimizer of optimizerChoices) await checkContinued(maskedChild(lenet300), optimizer);
  assert.equal(tf.memory().numTensors, before);
});

test('checkpoint.bin round-trips exactly and a flipped byte or a cut is an error, not a crash', () => {
  const net = maskedChild(lenet300);
  const cp: TrainingCheckpoint = {
    generation: 2,
    offspring: 1,
    epochsDone: 1,
    epochs: 3,
    start: 'abc',
    network: net.params.map((p) => ({ kernel: p.kernel, bias: p.bias })),
    optimizer: {
      optimizer: 'adam',
      iterations: 7,
      slots: [Float32Array.of(1.5, -0, NaN), Float32Array.of(3)],
      scalars: [0.9 ** 8, 0.999 ** 8],
    },
    loss: 0.25,
    candidates: [{ offspring: 0, synapses: 10, validationAccuracy: 12.5 }],
    best: {
      offspring: 0,
      validation: 1 / 3,
      synapses: 10,
      loss: NaN,
      expectedSynapses: 9.87654321,
      capped: false,
      params: net.params,
    },
    seconds: 1.5,
    trainSeconds: 1.25,
  };
  const bytes = encodeCheckpoint(cp);
  const back = decodeCheckpoint(bytes);
  assert.deepEqual(back, cp);
  assert.ok(Object.is(back.optimizer!.slots[0][1], -0) && Number.isNaN(back.best!.loss));
  assert.ok(back.best!.params[0].mask instanceof Uint8Array);
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)] ^= 1;
  assert.throws(() => decodeCheckpoint(flipped), /corrupt \(checksum mismatch\)/);
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, 1000)), /corrupt/);
  assert.throws(() => decodeCheckpoint(Buffer.from('hello')), /not an evolve checkpoint/);
  // Progress saved before the best offspring's budgetExceeded was named capped continues as capped.
  const { capped, ...before } = cp.best!;
  const saved = encodeCheckpoint({ ...cp, best: { ...before, budgetExceeded: !capped } as unknown as BestOffspring });
  assert.deepEqual(decodeCheckpoint(saved), { ...cp, best: { ...cp.best, capped: !capped } });
});

test('a checkpoint not fitting the generation, epochs, starting network or shapes is refused with a reason', () => {
  const full = initialiseNetwork(lenet300, seedrandom('w'));
  const compact = compactNetwork(maskedChild(lenet300)).net;
  const sizes = [...compact.params.map((p) => p.kernel.length), ...compact.params.map((p) => p.bias.length)];
  const good: TrainingCheckpoint = {
    generation: 1,
    offspring: 0,
    epochsDone: 1,
    epochs: 3,
    start: fingerprint(compact),
    network: compact.params.map((p) => ({ kernel: p.kernel.slice(), bias: p.bias.slice() })),
    optimizer: { optimizer: 'momentum', iterations: 3, slots: sizes.map((n) => new Float32Array(n)), scalars: [] },
    loss: 1,
    candidates: [],
    best: null,
    seconds: 1,
    trainSeconds: 1,
  };
  const expected: Expected = {
    generation: 1,
    offspring: 2,
    population: 1,
    epochs: 3,
    optimizer: 'momentum',
    full,
    compact,
  };
  assert.equal(checkpointProblem(good, expected), null);
  const cases: [Partial<TrainingCheckpoint>, RegExp][] = [
    [{ generation: 2 }, /of generation 2, not 1/],
    [{ offspring: 2 }, /offspring 2 does not fit 2 offspring/],
    [{ offspring: 1 }, /lists 0 earlier offspring, expected 1/],
    [{ epochsDone: 3 }, /epoch 3 of 3 does not fit/],
    [{ start: 'another' }, /another starting network/],
    [{ network: good.network!.slice(1) }, /network does not fit/],
    [{ optimizer: { ...good.optimizer!, optimizer: 'adam' } }, /optimizer state does not fit momentum/],
    [{ optimizer: { ...good.optimizer!, slots: good.optimizer!.slots.slice(1) } }, /optimizer state does not fit/],
  ];
  for (const [change, reason] of cases)
    assert.match(String(checkpointProblem({ ...good, ...change }, expected)), reason);
});
