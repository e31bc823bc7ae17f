import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core's node bundle registers no gradients; tfjs-layers' bundle registers core's full set.
import '@tensorflow/tfjs-layers';
import { registerWasmConv2DBackpropFilter } from '../src/engine/kernels/conv2dBackpropFilter';

import { type Pad, type Shape4, prng, randArray, size } from './kernelHelpers';

interface Case {
  name: string;
  x: Shape4;
  f: Shape4;
  stride: number | [number, number];
  pad: Pad;
}

const cases: Case[] = [];
for (const stride of [1, 2]) {
  for (const pad of ['valid', 'same'] as const) {
    cases.push({ name: `x[2,7,9,3] f[3,3,3,4] s${stride} ${pad}`, x: [2, 7, 9, 3], f: [3, 3, 3, 4], stride, pad });
    cases.push({ name: `x[3,12,12,5] f[5,5,5,6] s${stride} ${pad}`, x: [3, 12, 12, 5], f: [5, 5, 5, 6], stride, pad });
    cases.push({ name: `x[2,6,5,4] f[1,1,4,3] s${stride} ${pad}`, x: [2, 6, 5, 4], f: [1, 1, 4, 3], stride, pad });
    cases.push({ name: `x[4,11,10,1] f[5,5,1,7] s${stride} ${pad}`, x: [4, 11, 10, 1], f: [5, 5, 1, 7], stride, pad });
    cases.push({ name: `x[1,8,9,2] f[2,4,2,3] s${stride} ${pad}`, x: [1, 8, 9, 2], f: [2, 4, 2, 3], stride, pad });
  }
}
cases.push({
  name: 'x[2,9,8,3] f[3,3,3,2] s[2,1] same',
  x: [2, 9, 8, 3],
  f: [3, 3, 3, 2],
  stride: [2, 1],
  pad: 'same',
});
cases.push({ name: 'x[2,7,7,2] f[3,3,2,3] s2 explicit pad 1', x: [2, 7, 7, 2], f: [3, 3, 2, 3], stride: 2, pad: 1 });

// Gradient of sum(conv2d(x, f) * w) w.r.t. f, i.e. Conv2DBackpropFilter with dy = w.
function filterGrad(c: Case, xv: Float32Array, fv: Float32Array, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const f = tf.tensor4d(fv, c.f);
    const outShape = tf.conv2d(x, f, c.stride, c.pad).shape;
    const w = tf.tensor(randArray(size(outShape), prng(seed)), outShape);
    // Functional ops: chained methods (.mul) are only added by the full @tensorflow/tfjs bundle.
    const g = tf.grad((ff: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, ff as tf.Tensor4D, c.stride, c.pad), w)))(f);
    assert.deepEqual(g.shape, c.f);
    return g.dataSync() as Float32Array;
  });
}

test('wasm Conv2DBackpropFilter matches cpu', async (t) => {
  registerWasmConv2DBackpropFilter(); // before setBackend('wasm')
  registerWasmConv2DBackpropFilter(); // idempotent

  for (const [idx, c] of cases.entries()) {
    await t.test(c.name, async (st) => {
      const rand = prng(1000 + idx);
      const xv = randArray(size(c.x), rand);
      const fv = randArray(size(c.f), rand);

      await tf.setBackend('cpu');
      const expected = filterGrad(c, xv, fv, 77 + idx);

      await tf.setBackend('wasm');
      registerWasmConv2DBackpropFilter(); // also fine after init
      const before = tf.memory().numTensors;
      const dataIdsBefore = tf.backend().numDataIds();
      const actual = filterGrad(c, xv, fv, 77 + idx);
      assert.equal(tf.memory().numTensors, before, 'tensor leak');
      assert.equal(tf.backend().numDataIds(), dataIdsBefore, 'wasm data id leak');

      assert.equal(actual.length, expected.length);
      let maxDiff = 0,
        maxMag = 0;
      for (let i = 0; i < expected.length; ++i) {
        maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
        maxMag = Math.max(maxMag, Math.abs(expected[i]));
      }
      st.diagnostic(`max abs diff ${maxDiff.toExponential(2)}, max |dW| ${maxMag.toFixed(2)}`);
      assert.ok(maxDiff < 1e-4 * Math.max(1, maxMag), `max abs diff ${maxDiff} (max |dW| ${maxMag})`);
    });
  }
});

test('wasm Conv2DBackpropFilter rejects NCHW', async () => {
  registerWasmConv2DBackpropFilter();
  await tf.setBackend('wasm');
  const x = tf.zeros([1, 2, 5, 5]);
  const dy = tf.zeros([1, 3, 3, 3]);
  assert.throws(
    () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy },
          { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] },
        ),
    /NHWC/,
  );
  tf.dispose([x, dy]);
});
