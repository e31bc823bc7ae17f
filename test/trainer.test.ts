// The engine's one entry point for training: the threads it is given change the speed, never the
// weights, with the JavaScript kernels (one thread) and the native ones (threads inside kernels).
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { nativeThreads, setNativeThreads } from '../src/engine/kernels/native';
import { evaluate, trainNetwork } from '../src/engine/train';
import { closeTraining, setTrainingThreads, trainMasked } from '../src/engine/trainer';
import { cloneNetwork } from '../src/models/network';
import { lenet5 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import { maskedOffspring, paramBytes } from './helpers';

const data = loadMnist({ trainLimit: 512, testLimit: 500, validation: 0, rng: seedrandom('d') });
const options = { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'momentum' as const };

test("JavaScript kernels: 1 and 2 training threads give trainNetwork's weights, masks held", async (t) => {
  const info = await selectBackend('wasm', { kernels: 'tuned' });
  assert.equal(info.kernels, 'tuned');
  const { genome, child } = maskedOffspring(lenet5);
  const [reference, one, two] = [cloneNetwork(child), cloneNetwork(child), cloneNetwork(child)];
  const lossRef = await trainNetwork(reference, data.train, options, seedrandom('s'));
  setTrainingThreads(1);
  const lossOne = await trainMasked(one, data.train, options, seedrandom('s'));
  setTrainingThreads(2);
  const lossTwo = await trainMasked(two, data.train, options, seedrandom('s'));
  await closeTraining();
  assert.ok(Object.is(lossOne, lossRef) && Object.is(lossTwo, lossRef), `losses ${lossRef} ${lossOne} ${lossTwo}`);
  assert.ok(paramBytes(one).equals(paramBytes(reference)), '1 thread differs from trainNetwork');
  assert.ok(paramBytes(two).equals(paramBytes(reference)), '2 threads differ from trainNetwork');
  two.params.forEach((p, l) => {
    p.kernel.forEach((w, k) => {
      if (!genome.masks[l][k]) assert.ok(Object.is(w, 0), `masked synapse ${l}/${k} is ${w}`);
    });
  });
  const [before, after] = [await evaluate(child, data.test), await evaluate(two, data.test)];
  t.diagnostic(`test accuracy ${before} -> ${after}`);
  assert.ok(after > before + 0.2, `test accuracy ${before} -> ${after}`);
});

test('native kernels: every training call runs on the threads set, whatever changed them since', async (t) => {
  const info = await selectBackend('wasm');
  if (info.kernels !== 'native') return t.skip('the native addon is not built');
  setTrainingThreads(2);
  assert.equal(nativeThreads(), 2, 'evaluation uses them too');
  setNativeThreads(1); // e.g. an inference bench in between
  let during = 0;
  await trainMasked(
    maskedOffspring(lenet5).child,
    data.train,
    {
      ...options,
      onBatch: () => {
        during = nativeThreads();
      },
    },
    seedrandom('s'),
  );
  assert.equal(during, 2);
});
