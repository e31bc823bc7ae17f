// The native (node-gyp) kernels: built by `npm ci`, equal to the cpu backend, the same floats on
// any thread count, training through them reproducible, and EVOLVE_NATIVE=0 falls back.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../src/engine/backend';
import {
  nativeAddon,
  nativeImageBatch,
  nativeLoadError,
  nativeKernelsActive,
  setNativeThreads,
} from '../src/engine/kernels/native';
import { byteTable, channelStats, fillBatch } from '../src/data/preprocess';
import { evaluate } from '../src/engine/evaluate';
import { setTrainingThreads, trainMasked } from '../src/engine/trainer';
import { cloneNetwork, initialiseNetwork } from '../src/models/network';
import { lenet5 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import { maskedOffspring, paramBytes, tempDir } from './helpers';

function random(shape: number[], seed: string): tf.Tensor {
  const rng = seedrandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng() - 0.5),
    shape,
  );
}

/** `f`'s result on the current backend, as plain floats. */
function valuesOf(f: () => tf.Tensor): Float32Array {
  return tf.tidy(f).dataSync() as Float32Array;
}

const sumOfProduct = (y: tf.Tensor, seed: string) => tf.sum(tf.mul(y, random(y.shape, seed)));

/** Cases through every native kernel: odd sizes, strides, 'same' padding, batched and transposed products. */
const cases: Array<[string, () => tf.Tensor]> = [
  [
    'conv2d valid',
    () => tf.conv2d(random([3, 12, 11, 5], 'x') as tf.Tensor4D, random([5, 4, 5, 7], 'w') as tf.Tensor4D, 1, 'valid'),
  ],
  [
    'conv2d same, stride 2',
    () => tf.conv2d(random([2, 9, 10, 3], 'x') as tf.Tensor4D, random([3, 3, 3, 33], 'w') as tf.Tensor4D, 2, 'same'),
  ],
  [
    'conv2d LeNet conv1',
    () => tf.conv2d(random([4, 28, 28, 1], 'x') as tf.Tensor4D, random([5, 5, 1, 20], 'w') as tf.Tensor4D, 1, 'valid'),
  ],
  [
    'conv dx, same, strides 2x1',
    () =>
      tf.grad((x: tf.Tensor) =>
        sumOfProduct(tf.conv2d(x as tf.Tensor4D, random([3, 3, 3, 33], 'w') as tf.Tensor4D, [2, 1], 'same'), 'dy'),
      )(random([2, 9, 10, 3], 'x')),
  ],
  [
    'conv dw, same, strides 2x1',
    () =>
      tf.grad((w: tf.Tensor) =>
        sumOfProduct(tf.conv2d(random([2, 9, 10, 3], 'x') as tf.Tensor4D, w as tf.Tensor4D, [2, 1], 'same'), 'dy'),
      )(random([3, 3, 3, 33], 'w')),
  ],
  [
    'conv dw, LeNet conv2 (4 partial sums)',
    () =>
      tf.grad((w: tf.Tensor) =>
        sumOfProduct(tf.conv2d(random([16, 12, 12, 20], 'x') as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), 'dy'),
      )(random([5, 5, 20, 50], 'w')),
  ],
  [
    'conv dx, LeNet conv2',
    () =>
      tf.grad((x: tf.Tensor) =>
        sumOfProduct(tf.conv2d(x as tf.Tensor4D, random([5, 5, 20, 50], 'w') as tf.Tensor4D, 1, 'valid'), 'dy'),
      )(random([16, 12, 12, 20], 'x')),
  ],
  [
    'conv2d, one filter (transposed product)',
    () => tf.conv2d(random([8, 28, 28, 1], 'x') as tf.Tensor4D, random([5, 5, 1, 1], 'w') as tf.Tensor4D, 1, 'valid'),
  ],
  [
    'conv dw, 5 filters (transposed product, 4 partial sums)',
    () =>
      tf.grad((w: tf.Tensor) =>
        sumOfProduct(tf.conv2d(random([16, 12, 12, 3], 'x') as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), 'dy'),
      )(random([5, 5, 3, 5], 'w')),
  ],
  // AlexNet's shapes, small: 'same' 5x5 and 3x3 with depths over one packed block (K > 256), the filter
  // packed once per call.
  [
    'conv2d AlexNet-like, same 5x5, K 400',
    () => tf.conv2d(random([3, 9, 8, 16], 'x') as tf.Tensor4D, random([5, 5, 16, 40], 'w') as tf.Tensor4D, 1, 'same'),
  ],
  [
    'conv dx AlexNet-like, same 3x3, K 648',
    () =>
      tf.grad((x: tf.Tensor) =>
        sumOfProduct(tf.conv2d(x as tf.Tensor4D, random([3, 3, 72, 40], 'w') as tf.Tensor4D, 1, 'same'), 'dy'),
      )(random([3, 7, 7, 72], 'x')),
  ],
  [
    'conv dw AlexNet-like, same 3x3, K 648',
    () =>
      tf.grad((w: tf.Tensor) =>
        sumOfProduct(tf.conv2d(random([3, 7, 7, 72], 'x') as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), 'dy'),
      )(random([3, 3, 72, 40], 'w')),
  ],
  // A filter gradient over 2^17 floats: KC-deep chunks (filterChunkRows), in 2 partial sums.
  [
    'conv dw, large gradient (648 x 256), 2 partial sums',
    () =>
      tf.grad((w: tf.Tensor) =>
        sumOfProduct(tf.conv2d(random([4, 12, 12, 72], 'x') as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), 'dy'),
      )(random([3, 3, 72, 256], 'w')),
  ],
  ['matMul', () => tf.matMul(random([37, 53], 'a') as tf.Tensor2D, random([53, 70], 'b') as tf.Tensor2D)],
  [
    'matMul A^T',
    () => tf.matMul(random([53, 37], 'a') as tf.Tensor2D, random([53, 70], 'b') as tf.Tensor2D, true, false),
  ],
  [
    'matMul B^T',
    () => tf.matMul(random([37, 53], 'a') as tf.Tensor2D, random([70, 53], 'b') as tf.Tensor2D, false, true),
  ],
  ['matMul LeNet fc1', () => tf.matMul(random([64, 800], 'a') as tf.Tensor2D, random([800, 500], 'b') as tf.Tensor2D)],
  [
    'batched matMul A^T B^T',
    () => tf.matMul(random([3, 53, 37], 'a') as tf.Tensor3D, random([3, 70, 53], 'b') as tf.Tensor3D, true, true),
  ],
  [
    'batched matMul, broadcast B',
    () => tf.matMul(random([3, 37, 53], 'a') as tf.Tensor3D, random([1, 53, 70], 'b') as tf.Tensor3D),
  ],
  [
    'batched matMul, broadcast A',
    () => tf.matMul(random([1, 37, 53], 'a') as tf.Tensor3D, random([3, 53, 70], 'b') as tf.Tensor3D),
  ],
  ['batched matMul, rank 2 times rank 3', () => tf.matMul(random([37, 53], 'a'), random([3, 53, 70], 'b'))],
  [
    'maxPool grad 2x2',
    () =>
      tf.grad((x: tf.Tensor) => sumOfProduct(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), 'dy'))(
        random([2, 9, 10, 6], 'x'),
      ),
  ],
  // Even sizes (every input in one window, written once) and ties: the first maximum takes dy.
  [
    'maxPool grad 2x2, even sizes, ties',
    () =>
      tf.grad((x: tf.Tensor) => sumOfProduct(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), 'dy'))(
        tf.round(tf.mul(random([3, 6, 40, 1], 'x'), 4)),
      ),
  ],
  [
    'maxPool grad 2x2, 20 channels',
    () =>
      tf.grad((x: tf.Tensor) => sumOfProduct(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), 'dy'))(
        random([2, 8, 6, 20], 'x'),
      ),
  ],
  [
    'maxPool grad 3x3 stride 2 same',
    () =>
      tf.grad((x: tf.Tensor) => sumOfProduct(tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), 'dy'))(
        random([2, 9, 10, 6], 'x'),
      ),
  ],
  [
    'maxPool grad 3x3 stride 2 valid (AlexNet)',
    () =>
      tf.grad((x: tf.Tensor) => sumOfProduct(tf.maxPool(x as tf.Tensor4D, 3, 2, 'valid'), 'dy'))(
        random([2, 15, 15, 6], 'x'),
      ),
  ],
  [
    'maxPool grad 3x3 stride 2 valid, 20 channels, ties',
    () =>
      tf.grad((x: tf.Tensor) => sumOfProduct(tf.maxPool(x as tf.Tensor4D, 3, 2, 'valid'), 'dy'))(
        tf.round(tf.mul(random([2, 9, 11, 20], 'x'), 4)),
      ),
  ],
  // Forward 2x2 pools of fewer channels than a vector has lanes (a compacted offspring's): row
  // pairs of 2-15 channels, a row shorter than a vector, odd sizes, ties.
  ...[2, 3, 5, 8, 15].map((c): [string, () => tf.Tensor] => [
    `maxPool 2x2, ${c} channels`,
    () => tf.maxPool(random([3, 24, 24, c], `x${c}`) as tf.Tensor4D, 2, 2, 'valid'),
  ]),
  ['maxPool 2x2, a short row', () => tf.maxPool(random([2, 4, 4, 3], 'x') as tf.Tensor4D, 2, 2, 'valid')],
  [
    'maxPool 2x2, odd sizes, ties',
    () => tf.maxPool(tf.round(tf.mul(random([2, 9, 11, 5], 'x'), 4)) as tf.Tensor4D, 2, 2, 'valid'),
  ],
  // Forward 3x3 stride-2 pools (AlexNet's), tap by tap over the channels: many, a few, and ties
  // (halves, not whole numbers: a rounded -0 would send the pool to the JavaScript kernel).
  ...[1, 6, 37].map((c): [string, () => tf.Tensor] => [
    `maxPool 3x3 stride 2, ${c} channels`,
    () => tf.maxPool(tf.add(tf.round(tf.mul(random([2, 11, 9, c], `p${c}`), 6)), 0.5) as tf.Tensor4D, 3, 2, 'valid'),
  ]),
  ['sum over leading axes', () => tf.sum(random([4, 6, 5, 7], 'x'), [0, 1, 2])],
  ['sum over trailing axes, keepDims', () => tf.sum(random([4, 6, 5, 7], 'x'), [2, 3], true)],
];

test('the addon was built by npm ci and loads', () => {
  assert.ok(nativeAddon(), `native addon: ${nativeLoadError()}`);
  assert.match(nativeAddon()!.simd(), /^(avx512|avx2|baseline)$/);
});

test('every native kernel matches the cpu backend, and is bit-identical on 1, 2 and 5 threads', async () => {
  const info = await selectBackend('wasm');
  assert.equal(info.kernels, 'native');
  assert.ok(nativeKernelsActive());
  const results: Float32Array[][] = [];
  for (const threads of [1, 2, 5]) {
    setNativeThreads(threads);
    results.push(cases.map(([, f]) => valuesOf(f)));
  }
  setNativeThreads(1);
  await tf.setBackend('cpu');
  const reference = cases.map(([, f]) => valuesOf(f));
  await tf.setBackend('wasm');
  cases.forEach(([name], i) => {
    const [one, two, five] = results.map((r) => r[i]);
    assert.equal(one.length, reference[i].length, name);
    let scale = 0;
    let diff = 0;
    for (let j = 0; j < one.length; j++) {
      scale = Math.max(scale, Math.abs(reference[i][j]));
      diff = Math.max(diff, Math.abs(one[j] - reference[i][j]));
    }
    assert.ok(
      diff <= 1e-5 * Math.max(1, scale),
      `${name}: max difference ${diff} from the cpu backend (scale ${scale})`,
    );
    assert.ok(Buffer.from(one.buffer).equals(Buffer.from(two.buffer)), `${name}: 1 and 2 threads differ`);
    assert.ok(Buffer.from(one.buffer).equals(Buffer.from(five.buffer)), `${name}: 1 and 5 threads differ`);
  });
});

/** MaxPoolGrad's result for x and dy (size x size windows at `stride`, valid) on the current backend. */
function poolGrad(x: Float32Array, dy: Float32Array, shape: number[], size: number, stride: number): Float32Array {
  const [n, h, w, c] = shape;
  const out = [n, Math.floor((h - size) / stride) + 1, Math.floor((w - size) / stride) + 1, c];
  return tf
    .tidy(() => {
      const inputs = {
        dy: tf.tensor(
          dy.subarray(
            0,
            out.reduce((a, b) => a * b, 1),
          ),
          out,
        ),
        input: tf.tensor(x, shape),
      };
      const attrs = { filterSize: size, strides: stride, pad: 'valid' };
      return tf.engine().runKernel('MaxPoolGrad', { ...inputs, output: tf.zeros(out) }, attrs) as tf.Tensor;
    })
    .dataSync() as Float32Array;
}

test('the max-pool gradient passes NaN, -0, infinities and ties as the cpu backend does', async () => {
  const special = [Number.NaN, -0, 0, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 1, 1, -1];
  const rng = seedrandom('special');
  const pick = (count: number) => Float32Array.from({ length: count }, () => special[Math.floor(rng() * 8)]);
  // 2x2: 1, 2, 3, 5 and 7 channels (rows of lanes, or half vectors), odd sizes leaving inputs no
  // window covers; 12, 20 and 38 (vectors overlapping at the end).
  // 3x3 stride 2 (AlexNet's, overlapping windows): 20 channels.
  for (const [shape, size, stride] of [
    [[2, 6, 40, 1], 2, 2],
    [[2, 5, 8, 2], 2, 2],
    [[3, 6, 7, 3], 2, 2],
    [[2, 4, 6, 5], 2, 2],
    [[2, 4, 10, 7], 2, 2],
    [[2, 4, 6, 20], 2, 2],
    [[2, 4, 6, 12], 2, 2],
    [[2, 4, 6, 38], 2, 2],
    [[2, 7, 9, 20], 3, 2],
  ] as [number[], number, number][]) {
    const x = pick(shape.reduce((a, b) => a * b, 1));
    const dy = pick(x.length / 4);
    await selectBackend('wasm');
    const native = poolGrad(x, dy, shape, size, stride);
    await tf.setBackend('cpu');
    const reference = poolGrad(x, dy, shape, size, stride);
    await tf.setBackend('wasm');
    const differs = Array.from(native).findIndex((v, i) => !Object.is(v, reference[i]));
    assert.equal(differs, -1, `${shape}: at ${differs}, ${native[differs]} against the cpu's ${reference[differs]}`);
  }
});

test('a bias add and a column sum of 1 to 17 columns give the floats of one addition each, in row order', async () => {
  await selectBackend('wasm');
  assert.ok(nativeKernelsActive());
  for (let cols = 1; cols <= 17; cols++) {
    const rows = 37 + cols;
    const x = random([rows, cols], `x${cols}`);
    const b = random([cols], `b${cols}`);
    const xs = x.dataSync() as Float32Array;
    const bs = b.dataSync() as Float32Array;
    const added = valuesOf(() => tf.add(x, b));
    const sums = valuesOf(() => tf.sum(x, 0));
    for (let i = 0; i < rows * cols; i++) assert.equal(added[i], Math.fround(xs[i] + bs[i % cols]), `${cols} columns`);
    for (let j = 0; j < cols; j++) {
      let chain = 0;
      for (let r = 0; r < rows; r++) chain = Math.fround(chain + xs[r * cols + j]);
      assert.equal(sums[j], chain, `the sum of column ${j} of ${cols}`);
    }
    tf.dispose([x, b]);
  }
});

test('a batch gathered natively holds the floats of fillBatch; a sample outside the images is refused', async () => {
  await selectBackend('wasm');
  const rng = seedrandom('bytes');
  for (const shape of [
    [28, 28, 1],
    [5, 4, 3],
  ]) {
    const size = shape[0] * shape[1] * shape[2];
    const split = {
      images: Uint8Array.from({ length: 30 * size }, () => rng() * 256),
      labels: new Uint8Array(30),
      count: 30,
    };
    const normalise = shape[2] === 3 ? channelStats(split, shape) : undefined;
    const indices = Uint32Array.from({ length: 30 }, (_, i) => (i * 7) % 30);
    for (const order of [indices, null]) {
      const expected = fillBatch(
        { split, indices: order, start: 3, end: 19, inputShape: shape, normalise },
        new Float32Array(16 * size),
      );
      const table = byteTable(shape[2], normalise);
      const batch = nativeImageBatch({ images: split.images, indices: order, start: 3, end: 19, shape, table })!;
      assert.deepEqual(batch.shape, [16, ...shape]);
      assert.ok(
        Buffer.from((await batch.data()).buffer).equals(Buffer.from(expected.buffer)),
        `${shape}, ${order ? 'shuffled' : 'in order'}`,
      );
      batch.dispose();
    }
    const table = byteTable(shape[2]);
    const before = tf.memory().numTensors;
    const outside = Uint32Array.of(0, 30);
    assert.throws(
      () => nativeImageBatch({ images: split.images, indices: outside, start: 0, end: 2, shape, table }),
      RangeError,
    );
    assert.throws(
      () => nativeImageBatch({ images: split.images, indices: null, start: 25, end: 31, shape, table }),
      RangeError,
    );
    assert.equal(tf.memory().numTensors, before, 'the refused batch left a tensor behind');
  }
});

test('choosing the JavaScript kernels afterwards puts the replaced kernels back', async () => {
  await selectBackend('wasm');
  const native = tf.getKernel('Conv2D', 'wasm')!.kernelFunc;
  const info = await selectBackend('wasm', { kernels: 'tuned' });
  assert.equal(info.kernels, 'tuned');
  assert.equal(nativeKernelsActive(), false);
  assert.notEqual(tf.getKernel('Conv2D', 'wasm')!.kernelFunc, native);
  await selectBackend('wasm');
  assert.ok(nativeKernelsActive());
});

test('an operand outside the heap is a RangeError, not a crash', async () => {
  await selectBackend('wasm');
  const heap = new ArrayBuffer(1024);
  assert.throws(() => nativeAddon()!.matmul(heap, 0, 0, 1000, 1, 1, 8, 8, 8, 0, 0, 1), RangeError);
  assert.throws(() => nativeAddon()!.matmul(heap, 0, 0, 0, 1, 1), TypeError);
});

test('LeNet-5 trains through the native kernels: learns, leaks nothing, same weights on 1 and 2 threads', async () => {
  await selectBackend('wasm');
  const data = loadMnist({ trainLimit: 640, testLimit: 500, validation: 0, rng: seedrandom('d') });
  const net = initialiseNetwork(lenet5, seedrandom('w'));
  const options = { epochs: 1, batchSize: 64, learningRate: 0.05, optimizer: 'momentum' as const };
  const before = await evaluate(net, data.test);
  const tensors = tf.memory().numTensors;
  const [one, two] = [cloneNetwork(net), cloneNetwork(net)];
  setTrainingThreads(1);
  const lossOne = await trainMasked(one, data.train, options, seedrandom('s'));
  setTrainingThreads(2);
  const lossTwo = await trainMasked(two, data.train, options, seedrandom('s'));
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaked');
  assert.equal(lossOne, lossTwo);
  assert.ok(paramBytes(one).equals(paramBytes(two)), 'the weights differ');
  const after = await evaluate(one, data.test);
  assert.ok(after > before + 0.3, `test accuracy ${before} -> ${after} after one epoch of 640`);
});

test('the fused native update (sgd, momentum) gives the weights of masking around the tfjs optimizer', async () => {
  await selectBackend('wasm');
  const data = loadMnist({ trainLimit: 320, testLimit: 0, validation: 0, rng: seedrandom('d') });
  const { genome, child } = maskedOffspring(lenet5);
  setTrainingThreads(2);
  for (const optimizer of ['sgd', 'momentum'] as const) {
    const options = { epochs: 2, batchSize: 64, learningRate: 0.05, optimizer };
    const tensors = tf.memory().numTensors;
    const [fused, plain] = [cloneNetwork(child), cloneNetwork(child)];
    const lossFused = await trainMasked(fused, data.train, options, seedrandom('s'));
    const lossPlain = await trainMasked(plain, data.train, { ...options, fusedUpdate: false }, seedrandom('s'));
    assert.equal(tf.memory().numTensors, tensors, 'no tensor leaked');
    assert.ok(Object.is(lossFused, lossPlain), `${optimizer}: loss ${lossFused} vs ${lossPlain}`);
    assert.ok(paramBytes(fused).equals(paramBytes(plain)), `${optimizer}: the weights differ`);
    fused.params.forEach((p, l) => {
      p.kernel.forEach((w, k) => {
        if (!genome.masks[l][k]) assert.ok(Object.is(w, 0), `masked synapse ${l}/${k} is ${w}`);
      });
    });
    assert.notDeepEqual(fused.params[0].kernel, child.params[0].kernel, 'it trained');
  }
});

test('EVOLVE_NATIVE=0: the run says it uses the JavaScript kernels, and still trains', () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 'evolve');
  const run = (env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      [
        bin,
        '--dataset',
        'mnist',
        '--arch',
        'lenet300',
        '--generations',
        '1',
        '--train-limit',
        '300',
        '--test-limit',
        '200',
        '--validation',
        '100',
        '--ancestor-epochs',
        '1',
        '--out',
        path.join(tempDir(), 'run'),
      ],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } },
    );
  const fallback = run({ EVOLVE_NATIVE: '0' });
  assert.equal(fallback.status, 0, fallback.stderr);
  assert.match(fallback.stderr, /JavaScript kernels/);
  const native = run({});
  assert.equal(native.status, 0, native.stderr);
  assert.match(native.stderr, /native kernels \((avx512|avx2|baseline)\)/);
});
