// One test per private TensorFlow.js field evolve reaches (src/engine/tfjsInternals.ts): if a tfjs
// release moves one, this names it.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers' registers them.
import '@tensorflow/tfjs-layers';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../src/engine/backend';
import {
  adamBetaPowers,
  sgdLearningRateScalar,
  silenceCpuNotice,
  wasmHeap,
  wasmMemoryOffset,
} from '../src/engine/tfjsInternals';

test("wasm: dataIdMap offsets point into HEAPU8 at the tensor's values", async () => {
  await selectBackend('wasm');
  const t = tf.tensor1d([1.5, -2, 3.25]);
  const backend = tf.backend() as unknown as BackendWasm;
  const view = new Float32Array(wasmHeap(backend), wasmMemoryOffset(backend, t), 3);
  assert.deepEqual(Array.from(view), [1.5, -2, 3.25]);
  t.dispose();
});

test('adam keeps beta1^t and beta2^t; sgd and momentum keep -learningRate', async () => {
  await selectBackend('wasm');
  const v = tf.variable(tf.tensor1d([1, 2]));
  const adam = tf.train.adam(0.1, 0.9, 0.99);
  for (let i = 0; i < 2; i++) adam.minimize(() => tf.sum(tf.square(v)) as tf.Scalar, false, [v]);
  const powers = adamBetaPowers(adam)!;
  assert.ok(Math.abs(powers.beta1.dataSync()[0] - 0.9 ** 3) < 1e-6, `beta1^t ${powers.beta1.dataSync()[0]}`);
  assert.ok(Math.abs(powers.beta2.dataSync()[0] - 0.99 ** 3) < 1e-6);
  assert.equal(adamBetaPowers(tf.train.sgd(0.1)), undefined);
  for (const o of [tf.train.sgd(0.25), tf.train.momentum(0.25, 0.9)]) {
    assert.equal(sgdLearningRateScalar(o)!.dataSync()[0], -0.25);
    o.dispose();
  }
  adam.dispose();
  v.dispose();
});

test('the cpu backend has the firstUse flag evolve clears', async () => {
  await selectBackend('cpu');
  assert.doesNotThrow(() => silenceCpuNotice(tf.backend()));
  assert.equal((tf.backend() as unknown as { firstUse: boolean }).firstUse, false);
  await selectBackend('wasm');
});
