import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core's node bundle registers no gradients; tfjs-layers' bundle registers core's full set.
import '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels } from '../src/engine/kernels';

import { type Pad, type Shape4, prng, randArray, size } from './kernelHelpers';

/** Runs `f` on cpu then wasm (with our kernels), checks values, shapes and leaks on wasm. */
async function compare(st: test.TestContext, f: () => tf.Tensor[]): Promise<void> {
  await tf.setBackend('cpu');
  const expected = tf.tidy(() => f().map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array })));
  await tf.setBackend('wasm');
  registerWasmTrainingKernels(); // also fine after init
  const before = tf.memory().numTensors;
  const dataIdsBefore = tf.backend().numDataIds();
  const actual = tf.tidy(() => f().map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array })));
  assert.equal(tf.memory().numTensors, before, 'tensor leak');
  assert.equal(tf.backend().numDataIds(), dataIdsBefore, 'wasm data id leak');
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (const [i, e] of expected.entries()) {
    const a = actual[i];
    assert.deepEqual(a.shape, e.shape);
    let maxDiff = 0,
      maxMag = 0;
    for (let j = 0; j < e.data.length; ++j) {
      maxDiff = Math.max(maxDiff, Math.abs(a.data[j] - e.data[j]));
      maxMag = Math.max(maxMag, Math.abs(e.data[j]));
    }
    assert.ok(maxDiff < 1e-4 * Math.max(1, maxMag), `output ${i}: max abs diff ${maxDiff} (max |value| ${maxMag})`);
    worst = Math.max(worst, maxDiff);
  }
  st.diagnostic(`max abs diff ${worst.toExponential(2)}`);
}

test('registerWasmTrainingKernels is idempotent', () => {
  registerWasmTrainingKernels();
  const k = tf.getKernel('BatchMatMul', 'wasm');
  registerWasmTrainingKernels();
  assert.equal(tf.getKernel('BatchMatMul', 'wasm'), k);
});

test('wasm BatchMatMul / _FusedMatMul match cpu', async (t) => {
  registerWasmTrainingKernels(); // before setBackend('wasm')
  const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const [m, k, n] = [13, 37, 21];
      cases.push({ a: ta ? [k, m] : [m, k], b: tb ? [n, k] : [k, n], ta, tb });
      cases.push({ a: ta ? [1, 64, 65] : [1, 65, 64], b: tb ? [1, 33, 64] : [1, 64, 33], ta, tb });
      // Batched rank 3 (split into per-batch products), broadcast batch, and a tiny batched one.
      cases.push({ a: ta ? [3, 40, 30] : [3, 30, 40], b: tb ? [3, 50, 40] : [3, 40, 50], ta, tb });
      cases.push({ a: ta ? [1, 40, 30] : [1, 30, 40], b: tb ? [4, 50, 40] : [4, 40, 50], ta, tb });
      cases.push({ a: ta ? [2, 3, 5] : [2, 5, 3], b: tb ? [2, 7, 3] : [2, 3, 7], ta, tb });
      cases.push({ a: ta ? [2, 2, 40, 30] : [2, 2, 30, 40], b: tb ? [2, 2, 50, 40] : [2, 2, 40, 50], ta, tb });
    }
  }
  for (const [idx, c] of cases.entries()) {
    await t.test(`a${JSON.stringify(c.a)} b${JSON.stringify(c.b)} tA=${c.ta} tB=${c.tb}`, async (st) => {
      const rand = prng(500 + idx);
      const av = randArray(size(c.a), rand),
        bv = randArray(size(c.b), rand);
      const n = c.tb ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
      const biasv = randArray(n, rand);
      await compare(st, () => {
        const a = tf.tensor(av, c.a),
          b = tf.tensor(bv, c.b),
          bias = tf.tensor1d(biasv);
        const out = [tf.matMul(a, b, c.ta, c.tb)];
        if (c.a.length <= 3) {
          out.push(tf.fused.matMul({ a, b, transposeA: c.ta, transposeB: c.tb, bias, activation: 'relu' }));
        }
        // tfjs-core's MatMul gradient does not reduce broadcast batch dims (fails on cpu too).
        if (size(c.a.slice(0, -2)) !== size(c.b.slice(0, -2))) return out;
        // Gradients go through transposed BatchMatMul calls.
        const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, c.ta, c.tb))))([a, b]);
        return [...out, ...g];
      });
    });
  }
});

interface ConvCase {
  x: Shape4;
  f: Shape4;
  stride: number | [number, number];
  pad: Pad;
}
const convCases: ConvCase[] = [];
for (const stride of [1, 2]) {
  for (const pad of ['valid', 'same'] as const) {
    convCases.push({ x: [2, 7, 9, 3], f: [3, 3, 3, 4], stride, pad });
    convCases.push({ x: [3, 12, 12, 5], f: [5, 5, 5, 6], stride, pad });
    convCases.push({ x: [2, 6, 5, 4], f: [1, 1, 4, 3], stride, pad });
    convCases.push({ x: [1, 8, 9, 2], f: [2, 4, 2, 3], stride, pad });
    convCases.push({ x: [2, 12, 12, 20], f: [5, 5, 20, 50], stride, pad });
  }
}
convCases.push({ x: [2, 9, 8, 3], f: [3, 3, 3, 2], stride: [2, 1], pad: 'same' });
convCases.push({ x: [2, 7, 7, 2], f: [3, 3, 2, 3], stride: 2, pad: 1 });

test('wasm Conv2DBackpropInput matches cpu', async (t) => {
  registerWasmTrainingKernels();
  for (const [idx, c] of convCases.entries()) {
    await t.test(`x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} s${c.stride} ${c.pad}`, async (st) => {
      const rand = prng(2000 + idx);
      const xv = randArray(size(c.x), rand),
        fv = randArray(size(c.f), rand);
      await compare(st, () => {
        const x = tf.tensor4d(xv, c.x),
          f = tf.tensor4d(fv, c.f);
        const outShape = tf.conv2d(x, f, c.stride, c.pad).shape;
        const w = tf.tensor(randArray(size(outShape), prng(99 + idx)), outShape);
        // Gradient w.r.t. x of sum(conv2d(x, f) * w) is Conv2DBackpropInput with dy = w.
        const gx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, f, c.stride, c.pad), w)))(x);
        const direct = tf.conv2dTranspose(w as tf.Tensor4D, f, c.x, c.stride, c.pad);
        return [gx, direct];
      });
    });
  }
});

interface PoolCase {
  x: Shape4;
  size: number | [number, number];
  stride: number | [number, number];
  pad: Pad;
}
const poolCases: PoolCase[] = [
  { x: [2, 24, 24, 20], size: 2, stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 50], size: 2, stride: 2, pad: 'valid' },
  { x: [3, 7, 9, 3], size: 2, stride: 2, pad: 'valid' },
  { x: [3, 7, 9, 3], size: 2, stride: 2, pad: 'same' },
  { x: [2, 9, 7, 4], size: 3, stride: 2, pad: 'same' },
  { x: [2, 9, 7, 4], size: 3, stride: 1, pad: 'valid' },
  { x: [1, 10, 11, 5], size: [3, 2], stride: [2, 3], pad: 'valid' },
  { x: [1, 6, 6, 2], size: 3, stride: 2, pad: 1 },
];

test('wasm MaxPoolGrad matches cpu', async (t) => {
  registerWasmTrainingKernels();
  for (const [idx, c] of poolCases.entries()) {
    await t.test(`x${JSON.stringify(c.x)} size ${c.size} s${c.stride} ${c.pad}`, async (st) => {
      const rand = prng(3000 + idx);
      const xv = randArray(size(c.x), rand);
      // Some exact ties, to check the tie-break (first maximum in the window) agrees.
      for (let i = 0; i < xv.length; i += 7) xv[i] = Math.round(xv[i] * 2) / 2;
      await compare(st, () => {
        const x = tf.tensor4d(xv, c.x);
        const outShape = tf.maxPool(x, c.size, c.stride, c.pad).shape;
        const w = tf.tensor(randArray(size(outShape), prng(7 + idx)), outShape);
        return [
          tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xx as tf.Tensor4D, c.size, c.stride, c.pad), w)))(x),
        ];
      });
    });
  }
});

test('LeNet-like training step matches cpu', async (t) => {
  registerWasmTrainingKernels();
  const rand = prng(42);
  const xv = randArray(8 * 28 * 28, rand);
  const k1 = randArray(5 * 5 * 1 * 6, rand),
    k2 = randArray(5 * 5 * 6 * 16, rand);
  const k3 = randArray(256 * 30, rand).map((v) => v * 0.1),
    k4 = randArray(30 * 10, rand);
  const yv = randArray(8 * 10, rand);
  await compare(t, () => {
    const x = tf.tensor4d(xv, [8, 28, 28, 1]),
      y = tf.tensor2d(yv, [8, 10]);
    const ws = [
      tf.tensor4d(k1, [5, 5, 1, 6]),
      tf.tensor4d(k2, [5, 5, 6, 16]),
      tf.tensor2d(k3, [256, 30]),
      tf.tensor2d(k4, [30, 10]),
    ];
    return tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
      let h: tf.Tensor = tf.maxPool(tf.conv2d(x, a as tf.Tensor4D, 1, 'valid'), 2, 2, 'valid');
      h = tf.maxPool(tf.conv2d(h as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'), 2, 2, 'valid');
      h = tf.relu(tf.matMul(tf.reshape(h, [8, -1]) as tf.Tensor2D, c as tf.Tensor2D));
      return tf.sum(tf.square(tf.sub(tf.matMul(h as tf.Tensor2D, d as tf.Tensor2D), y)));
    })(ws);
  });
});
