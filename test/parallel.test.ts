// Data-parallel training across worker threads: masks held, learns, reproducible, close to trainNetwork.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { evaluate, trainNetwork, TrainOptions } from '../src/engine/train';
import { TrainingPool, closeTrainingPool, trainNetworkParallel, trainingPool } from '../src/engine/parallel';
import { Network, cloneNetwork, initialiseNetwork } from '../src/models/network';
import { lenet300, lenet5 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import { maskedOffspring } from './helpers';

after(() => closeTrainingPool());

const data = loadMnist({ trainLimit: 512, testLimit: 500, validation: 0, rng: seedrandom('d') });

function maskedChild(arch = lenet5) {
  return maskedOffspring(arch);
}

function assertMasked(net: Network, genome: ReturnType<typeof maskedChild>['genome']): void {
  net.params.forEach((p, l) => {
    p.kernel.forEach((w, k) => { if (!genome.masks[l][k]) assert.ok(Object.is(w, 0), `layer ${l} synapse ${k} is ${w}`); });
    p.bias.forEach((b, u) => { if (!genome.units[l][u]) assert.ok(Object.is(b, 0), `layer ${l} dead unit ${u} bias ${b}`); });
  });
}

function sameBits(a: Network, b: Network): boolean {
  return a.params.every((p, l) =>
    Buffer.from(p.kernel.buffer, p.kernel.byteOffset, p.kernel.byteLength).equals(Buffer.from(b.params[l].kernel.buffer, b.params[l].kernel.byteOffset, b.params[l].kernel.byteLength))
    && Buffer.from(p.bias.buffer, p.bias.byteOffset, p.bias.byteLength).equals(Buffer.from(b.params[l].bias.buffer, b.params[l].bias.byteOffset, b.params[l].bias.byteLength)));
}

test('2 workers: a masked lenet5 learns, keeps its masks, is reproducible and tracks trainNetwork', async () => {
  await selectBackend('wasm', { kernels: 'tuned' }); // the JS kernels: with the native ones trainNetworkParallel uses no workers
  const { genome, child } = maskedChild();
  const options: TrainOptions = { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'momentum' };
  const untrained = await evaluate(child, data.test);

  const a = cloneNetwork(child);
  const seen: number[] = [];
  const lossA = await trainNetworkParallel(a, data.train, { ...options, onBatch: (p) => seen.push(p.batch) }, seedrandom('s'), 2);
  assert.deepEqual(seen, Array.from({ length: 16 }, (_, i) => i));
  const b = cloneNetwork(child);
  const lossB = await trainNetworkParallel(b, data.train, { ...options, checkReplicas: true }, seedrandom('s'), 2);
  const reference = cloneNetwork(child);
  const lossRef = await trainNetwork(reference, data.train, options, seedrandom('s'));

  assertMasked(a, genome);
  assert.ok(sameBits(a, b), 'two runs with the same seed give bit-identical weights');
  assert.equal(lossA, lossB);
  const [accA, accRef] = [await evaluate(a, data.test), await evaluate(reference, data.test)];
  assert.ok(accA > untrained + 0.2, `accuracy ${untrained} -> ${accA}`);
  assert.ok(Math.abs(lossA - lossRef) / lossRef < 0.03, `loss ${lossA} vs single-threaded ${lossRef}`);
  assert.ok(Math.abs(accA - accRef) < 0.03, `accuracy ${accA} vs single-threaded ${accRef}`);
  const profile = trainingPool()!.lastProfile!;
  assert.equal(profile.workers.length, 2);
  for (const w of profile.workers) assert.equal(w.leakedTensors, 0);
});

test('uneven slices and a partial last batch (3 workers, batch 45) match trainNetwork closely', async () => {
  await selectBackend('wasm', { kernels: 'tuned' });
  const { genome, child } = maskedChild(lenet300);
  const options: TrainOptions = { epochs: 2, batchSize: 45, learningRate: 0.05, optimizer: 'momentum' }; // 11 x 45 + 17
  const pool = new TrainingPool(3);
  try {
    const a = cloneNetwork(child);
    const loss = await pool.train(a, data.train, { ...options, checkReplicas: true }, seedrandom('s'));
    const reference = cloneNetwork(child);
    const lossRef = await trainNetwork(reference, data.train, options, seedrandom('s'));
    assertMasked(a, genome);
    assert.ok(Math.abs(loss - lossRef) / lossRef < 0.02, `loss ${loss} vs single-threaded ${lossRef}`);
    let maxDiff = 0;
    let maxW = 0;
    a.params.forEach((p, l) => p.kernel.forEach((w, k) => {
      maxDiff = Math.max(maxDiff, Math.abs(w - reference.params[l].kernel[k]));
      maxW = Math.max(maxW, Math.abs(w));
    }));
    assert.ok(maxDiff < 1e-3 * maxW, `largest weight difference ${maxDiff} (largest weight ${maxW})`);
  } finally {
    await pool.close();
  }
});

test('a failing worker rejects the call with its message, and the pool recovers', async () => {
  const pool = new TrainingPool(2);
  const options: TrainOptions = { epochs: 1, batchSize: 64, learningRate: 0.05, optimizer: 'sgd' };
  try {
    // Mid-training: worker 0 is left blocked at the barrier, waiting for worker 1's gradient.
    await assert.rejects(
      pool.train(initialiseNetwork(lenet300, seedrandom('w')), data.train, { ...options, fault: { worker: 1, step: 3 } }, seedrandom('s')),
      /injected fault in worker 1 at step 3/,
    );
    // At set-up: a kernel of the wrong size fails in tfjs inside every worker.
    const broken = initialiseNetwork(lenet300, seedrandom('w'));
    broken.params[0].kernel = new Float32Array(10);
    await assert.rejects(pool.train(broken, data.train, options, seedrandom('s')), /should have 235200 values but has 10/);
    // A throwing onBatch (main thread) stops the workers too.
    await assert.rejects(
      pool.train(initialiseNetwork(lenet300, seedrandom('w')), data.train, { ...options, onBatch: () => { throw new Error('stop'); } }, seedrandom('s')),
      /^Error: stop$/,
    );
    const net = initialiseNetwork(lenet300, seedrandom('w'));
    assert.ok(Number.isFinite(await pool.train(net, data.train, options, seedrandom('s'))));
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.train(initialiseNetwork(lenet300, seedrandom('w')), data.train, options, seedrandom('s')), /closed/);
});
