// The engine's one entry point for training: every call runs on the threads it was given (that the
// threads never change the weights is nativeKernels.test.ts's).
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { nativeThreads, setNativeThreads } from '../src/engine/kernels/native';
import { setTrainingThreads, trainMasked } from '../src/engine/trainer';
import { lenet5 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import { maskedOffspring } from './helpers';

const data = loadMnist({ trainLimit: 512, testLimit: 500, validation: 0, rng: seedrandom('d') });
const options = { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'momentum' as const };

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
