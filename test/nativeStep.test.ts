// The native max pool gives the WASM backend's (XNNPACK's) floats bit for bit: on finite inputs it
// computes them, on inputs with NaN or -0 (where the comparison order decides) it hands them back.
// The native path's Identity shares memory, which the in-place masked step checks for. And the
// convolutions above the one-thread threshold (1M multiply-adds) give the same floats on 1, 2, 5 threads.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers' registers them all.
import '@tensorflow/tfjs-layers';
import { selectBackend } from '../src/engine/backend';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmMemoryOffset } from '../src/engine/tfjsInternals';
import {
  nativeKernelsActive,
  nativeMaskedStep,
  registerNativeKernels,
  setNativeThreads,
  unregisterNativeKernels,
} from '../src/engine/kernels/native';

type Pool = {
  shape: [number, number, number, number];
  size: number | [number, number];
  stride: number | [number, number];
};

const pools: Record<string, Pool> = {
  'LeNet pool1, one channel': { shape: [64, 24, 24, 1], size: 2, stride: 2 },
  'LeNet pool2, five channels': { shape: [64, 8, 8, 5], size: 2, stride: 2 },
  'LeNet pool1, twenty channels (two threads)': { shape: [64, 24, 24, 20], size: 2, stride: 2 },
  'odd size, one channel': { shape: [3, 9, 7, 1], size: 2, stride: 2 },
  'AlexNet 3x3 stride 2': { shape: [2, 13, 13, 17], size: 3, stride: 2 },
  'overlapping, stride 1': { shape: [2, 5, 6, 2], size: 2, stride: 1 },
  'rectangular windows and strides': { shape: [2, 7, 9, 3], size: [2, 3], stride: [1, 2] },
};

/** Seeded inputs: plain, or with every 7th value NaN, -0 or an infinity (ReLU-like zeros in between). */
function input(shape: number[], kind: 'finite' | 'nan' | 'negative zero' | 'infinite'): tf.Tensor4D {
  const rng = seedrandom(`${shape}:${kind}`);
  const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.max(0, rng() - 0.3));
  const special = { finite: null, nan: NaN, 'negative zero': -0, infinite: -Infinity }[kind];
  if (special !== null) for (let i = 0; i < values.length; i += 7) values[i] = special;
  return tf.tensor4d(values, shape as [number, number, number, number]);
}

function pooled(x: tf.Tensor4D, p: Pool, padding: 'valid' | 'same'): Buffer {
  const y = tf.maxPool(x, p.size, p.stride, padding);
  const bytes = Buffer.from((y.dataSync() as Float32Array).buffer);
  y.dispose();
  return bytes;
}

test('the native max pool equals the WASM backend bit for bit, also with NaN, -0 and infinities', async () => {
  await selectBackend('wasm');
  assert.ok(nativeKernelsActive());
  const tensors = tf.memory().numTensors;
  for (const [name, p] of Object.entries(pools)) {
    for (const kind of ['finite', 'nan', 'negative zero', 'infinite'] as const) {
      const x = input(p.shape, kind);
      for (const padding of ['valid', 'same'] as const) {
        const results = [1, 2, 5].map((threads) => {
          setNativeThreads(threads);
          return pooled(x, p, padding);
        });
        setNativeThreads(1);
        unregisterNativeKernels();
        const wasm = pooled(x, p, padding);
        registerNativeKernels();
        for (const [i, r] of results.entries()) {
          assert.ok(r.equals(wasm), `${name}, ${kind}, ${padding}: on ${[1, 2, 5][i]} threads it differs`);
        }
      }
      x.dispose();
    }
  }
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaked (the fallback disposes its output)');
  await selectBackend('wasm');
});

test('the native max pool replaces the WASM one and is put back with the other kernels', async () => {
  await selectBackend('wasm', { kernels: 'tuned' });
  const stock = tf.getKernel('MaxPool', 'wasm')!.kernelFunc;
  await selectBackend('wasm');
  assert.notEqual(tf.getKernel('MaxPool', 'wasm')!.kernelFunc, stock);
  await selectBackend('wasm', { kernels: 'tuned' });
  assert.equal(tf.getKernel('MaxPool', 'wasm')!.kernelFunc, stock);
  await selectBackend('wasm');
});

test('a clone shares its memory on the native path, and the in-place step refuses a shared variable', async () => {
  await selectBackend('wasm');
  const backend = tf.backend() as unknown as BackendWasm;
  const v = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3]), true));
  const [g, mask] = [tf.ones([3]), tf.ones([3])];
  const clone = tf.clone(v);
  assert.equal(wasmMemoryOffset(backend, clone), wasmMemoryOffset(backend, v));
  assert.throws(() => nativeMaskedStep(v, g, mask, null, 0.5, 0), /shares the memory written/);
  assert.deepEqual(Array.from(clone.dataSync()), [1, 2, 3], 'the refused step wrote nothing');
  clone.dispose();
  nativeMaskedStep(v, g, mask, null, 0.5, 0);
  assert.deepEqual(Array.from(v.dataSync()), [0.5, 1.5, 2.5]);
  tf.dispose([v, g, mask]);
});

test('convolutions just above the one-thread threshold are bit-identical on 1, 2 and 5 threads', async () => {
  await selectBackend('wasm');
  const rng = seedrandom('threads');
  const random = (shape: number[]) =>
    tf.tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() - 0.5),
      shape,
    );
  // 16 x 8 x 8 positions x 300 taps x 7 filters = 2.15M multiply-adds: the direct kernels, two K blocks.
  const [x, w] = [random([16, 12, 12, 12]) as tf.Tensor4D, random([5, 5, 12, 7]) as tf.Tensor4D];
  const dy = random([16, 8, 8, 7]);
  const step = () =>
    tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'), dy));
      const [dx, dw] = tf.grads(f)([x, w]);
      return [tf.conv2d(x, w, 1, 'valid'), dx, dw].map((t) => Buffer.from((t.dataSync() as Float32Array).buffer));
    });
  const runs = [1, 2, 5].map((threads) => {
    setNativeThreads(threads);
    return step();
  });
  setNativeThreads(1);
  for (const [t, run] of runs.entries()) {
    run.forEach((bytes, i) => {
      assert.ok(bytes.equals(runs[0][i]), `output ${i} differs on ${[1, 2, 5][t]} threads`);
    });
  }
  tf.dispose([x, w, dy]);
});
