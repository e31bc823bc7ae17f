// The native kernels' direct convolutions for layers with few filters (native/direct.h) give the
// floats of the GEMM path they replace: a layer of a few filters equals the first filters of the
// same layer widened to 16 (which the GEMM computes), bit for bit, on any thread count; its input
// gradient equals that of the layer padded to 16 with zero filters. So do the
// native bias addition and sums, against the arithmetic they stand for.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../src/engine/backend';
import { nativeKernelsActive, setNativeThreads } from '../src/engine/kernels/native';

function random(shape: number[], seed: string): tf.Tensor {
  const rng = seedrandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng() - 0.5),
    shape,
  );
}

/** A layer's geometry: input [n, h, w, cin], a kh x kw filter, stride, padding. */
interface Geometry {
  name: string;
  x: number[];
  kernel: [number, number];
  stride: number | [number, number];
  pad: 'valid' | 'same';
}

const geometries: Geometry[] = [
  { name: 'LeNet conv1', x: [8, 28, 28, 1], kernel: [5, 5], stride: 1, pad: 'valid' },
  { name: 'LeNet conv2 of a compacted offspring', x: [64, 12, 12, 3], kernel: [5, 5], stride: 1, pad: 'valid' },
  { name: 'same 3x3, stride 2x1', x: [3, 9, 10, 3], kernel: [3, 3], stride: [2, 1], pad: 'same' },
  { name: 'same 5x3, stride 2 (GEMM forward)', x: [2, 11, 9, 2], kernel: [5, 3], stride: 2, pad: 'same' },
  { name: 'K 300 over two packed blocks', x: [5, 12, 12, 12], kernel: [5, 5], stride: 1, pad: 'valid' },
  { name: 'narrow rows in pairs, an odd last row', x: [3, 11, 7, 2], kernel: [3, 3], stride: 1, pad: 'valid' },
  { name: 'narrow rows in pairs, stride 2x1', x: [2, 13, 6, 2], kernel: [3, 3], stride: [2, 1], pad: 'same' },
  { name: 'rows of two outputs (pairs on every path)', x: [2, 9, 4, 1], kernel: [3, 3], stride: 1, pad: 'valid' },
];

const WIDE = 16; // NR / 2 on the AVX-512 path (8 on AVX2, 4 on the baseline): from here every path uses the GEMM

function convAttrs(g: Geometry) {
  return { strides: g.stride, pad: g.pad, dataFormat: 'NHWC' as const };
}

/** y, dw and dx of the layer with filters `f` and output gradient `dy`, as plain floats. */
function layer(g: Geometry, x: tf.Tensor, f: tf.Tensor, dy: tf.Tensor): Float32Array[] {
  const e = tf.engine();
  const y = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, g.stride, g.pad);
  const dw = e.runKernel('Conv2DBackpropFilter', { x, dy }, { ...convAttrs(g), filterShape: f.shape }) as tf.Tensor;
  const dx = e.runKernel(
    'Conv2DBackpropInput',
    { dy, filter: f },
    { ...convAttrs(g), inputShape: x.shape },
  ) as tf.Tensor;
  const out = [y, dw].map((t) => t.dataSync() as Float32Array);
  out.push(dx.dataSync() as Float32Array);
  tf.dispose([y, dw, dx]);
  return out;
}

/** The first `filters` of the last axis of `t` ([..., WIDE]). */
function firstFilters(t: tf.Tensor, filters: number): Float32Array {
  return tf.tidy(
    () =>
      tf
        .slice(
          t,
          t.shape.map(() => 0),
          [...t.shape.slice(0, -1), filters],
        )
        .dataSync() as Float32Array,
  );
}

function same(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

test('a layer of 1-7 filters gives the GEMM floats of a layer of 16, on 1, 2 and 5 threads', async () => {
  await selectBackend('wasm');
  assert.ok(nativeKernelsActive());
  for (const g of geometries) {
    const x = random(g.x, `x ${g.name}`);
    const wide = random([...g.kernel, g.x[3], WIDE], `f ${g.name}`);
    const yShape = tf.tidy(() => tf.conv2d(x as tf.Tensor4D, wide as tf.Tensor4D, g.stride, g.pad).shape);
    const dyWide = random(yShape, `dy ${g.name}`);
    setNativeThreads(2);
    const [yWide, dwWide] = layer(g, x, wide, dyWide);
    const yRef = tf.tensor(yWide, yShape);
    const dwRef = tf.tensor(dwWide, wide.shape);
    for (const filters of [1, 2, 3, 5, 7]) {
      const f = tf.tensor(firstFilters(wide, filters), [...g.kernel, g.x[3], filters]);
      const dy = tf.tensor(firstFilters(dyWide, filters), [...yShape.slice(0, 3), filters]);
      const runs = [1, 2, 5].map((threads) => {
        setNativeThreads(threads);
        return layer(g, x, f, dy);
      });
      const what = `${g.name}, ${filters} filters`;
      assert.ok(same(runs[0][0], firstFilters(yRef, filters)), `${what}: forward differs from the GEMM's`);
      assert.ok(same(runs[0][1], firstFilters(dwRef, filters)), `${what}: filter gradient differs from the GEMM's`);
      // The input gradient sums over filters: 16 where the rest are zero (adding +0 changes no sum) is the GEMM's.
      const zeros = (t: tf.Tensor) => tf.concat([t, tf.zeros([...t.shape.slice(0, 3), WIDE - filters])], 3);
      const [fZero, dyZero] = [zeros(f), zeros(dy)];
      const [, , dxGemm] = layer(g, x, fZero, dyZero);
      assert.ok(same(runs[0][2], dxGemm), `${what}: input gradient differs from the GEMM's`);
      tf.dispose([fZero, dyZero]);
      for (const run of runs.slice(1)) {
        run.forEach((r, i) => {
          assert.ok(same(r, runs[0][i]), `${what}: threads differ`);
        });
      }
      tf.dispose([f, dy]);
    }
    tf.dispose([x, wide, dyWide, yRef, dwRef]);
  }
  setNativeThreads(1);
});

test('the native bias addition gives the floats of the cpu backend', async () => {
  const cases: Array<[string, () => tf.Tensor]> = [
    ['bias of one channel', () => tf.add(random([64, 24, 24, 1], 'a'), random([1], 'b'))],
    ['bias of 5 channels', () => tf.add(random([64, 8, 8, 5], 'a'), random([5], 'b'))],
    ['bias of a dense layer', () => tf.add(random([64, 54], 'a'), random([54], 'b'))],
    ['addition of equal shapes (stock kernel)', () => tf.add(random([6, 5], 'a'), random([6, 5], 'b'))],
  ];
  await selectBackend('wasm');
  const wasm = cases.map(([, f]) => tf.tidy(f).dataSync() as Float32Array);
  await tf.setBackend('cpu');
  const cpu = cases.map(([, f]) => tf.tidy(f).dataSync() as Float32Array);
  await tf.setBackend('wasm');
  cases.forEach(([name], i) => {
    assert.ok(same(wasm[i], cpu[i]), `${name}: differs from the cpu backend`);
  });
});

test('the native sum over leading axes adds in float32, row by row, as before', async () => {
  await selectBackend('wasm');
  for (const [rows, cols] of [
    [64 * 24 * 24, 1],
    [40, 150],
  ]) {
    const x = random([rows, cols], `x ${cols}`);
    const values = x.dataSync() as Float32Array;
    const expected = new Float32Array(cols);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) expected[c] = Math.fround(expected[c] + values[r * cols + c]);
    const got = tf.tidy(() => tf.sum(x, 0).dataSync() as Float32Array);
    assert.ok(same(got, expected), `sum of ${rows} rows of ${cols}`);
    x.dispose();
  }
});
