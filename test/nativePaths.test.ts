// The native kernels' paths (native/target.h: AVX-512, AVX2 with FMA, the x86-64 baseline) give the
// same floats: kernel by kernel, and a whole short run's records and weights, on every path this
// CPU runs. The baseline computes its fused multiply-adds in doubles, rounding to odd; its first
// test is a case where rounding twice would give another float.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { bin, readRecords, readWeights, tempDir, withoutTiming } from './helpers';
import { nativeAddon, nativeLoadError } from '../src/engine/kernels/native';

const addon = nativeAddon();
const paths = addon?.paths() ?? [];

/** The same call on every path, its output bytes by path. */
function onEveryPath(run: () => Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const p of paths) {
    addon!.usePath(p);
    out.set(p, Buffer.from(run())); // a copy: the next path writes the same heap
  }
  addon!.usePath(paths[0]);
  return out;
}

function assertSame(outputs: Map<string, Buffer>, what: string): void {
  const [first, ...rest] = [...outputs.entries()];
  for (const [p, bytes] of rest) assert.ok(bytes.equals(first[1]), `${what}: ${p} differs from ${first[0]}`);
}

test('the paths are those this CPU runs, widest first, and the widest is the default', () => {
  assert.ok(addon, `native addon: ${nativeLoadError()}`);
  assert.ok(paths.length >= 1 && paths.at(-1) === 'baseline', paths.join(', '));
  assert.equal(addon!.simd(), paths[0]);
  assert.throws(() => addon!.usePath('avx1024'), RangeError);
});

test('every path times its own multiply-add peak; a thread count out of range is a RangeError', () => {
  assert.ok(addon, `native addon: ${nativeLoadError()}`);
  for (const p of paths) {
    addon!.usePath(p);
    for (const threads of [1, 2]) {
      const gflops = addon!.fmaPeak(threads);
      assert.ok(Number.isFinite(gflops) && gflops > 0, `${p} on ${threads} threads: ${gflops}`);
    }
  }
  addon!.usePath(paths[0]);
  for (const bad of [0, -1, 65]) assert.throws(() => addon!.fmaPeak(bad), RangeError, String(bad));
});

test('a multiply-add rounds once on every path, where rounding the double sum again would not', () => {
  // 1 + 2^-23 plus a product 2^-24 - 2^-70 (or minus it): the double sum lands on a float
  // midpoint, which ties to the even float; the exact sum is on the side of 1 + 2^-23.
  const u = 2 ** -23;
  for (const sign of [1, -1]) {
    const heap = new ArrayBuffer(5 * 4);
    const f = new Float32Array(heap);
    f.set([1 + u, sign * 2 ** -12 * (1 + u), 1, 2 ** -12 * (1 - u)]);
    assert.notEqual(Math.fround(f[0] * f[2] + f[1] * f[3]), 1 + u, 'rounding twice would differ');
    const out = onEveryPath(() => {
      addon!.matmul(heap, 0, 8, 16, 1, 1, 1, 1, 2, 0, 0, 1); // [a0 a1] x [b0; b1], k = 2
      return Buffer.from(heap, 16, 4);
    });
    for (const [p, bytes] of out) assert.equal(bytes.readFloatLE(0), 1 + u, `${p}, sign ${sign}`);
  }
});

/** A heap of `floats` seeded values in [-0.5, 0.5). */
function seededHeap(floats: number, seed: number): ArrayBuffer {
  const heap = new ArrayBuffer(floats * 4);
  const f = new Float32Array(heap);
  let s = seed;
  for (let i = 0; i < floats; i++) {
    s = (s * 48271) % 2147483647;
    f[i] = s / 2147483647 - 0.5;
  }
  return heap;
}

// [batch, h, w, cin, oh, ow, cout, kh, kw, sh, sw, top, left]: LeNet's layers with 1-50 filters
// (the direct kernels below 4, 8 or 16 filters, by path), and a K-500 layer of 256 positions an
// image (whose filter gradient the AVX2 build of -march=native days summed in other chunks).
const geometries = [
  ...[1, 5, 10, 20].map((cout) => [4, 28, 28, 1, 24, 24, cout, 5, 5, 1, 1, 0, 0]),
  ...[3, 12, 50].map((cout) => [4, 12, 12, 20, 8, 8, cout, 5, 5, 1, 1, 0, 0]),
  [2, 20, 20, 20, 16, 16, 50, 5, 5, 1, 1, 0, 0],
  [2, 9, 10, 3, 5, 10, 6, 3, 3, 2, 1, 1, 1],
];

test('every path gives the same convolutions, gradients and products, bit for bit', () => {
  for (const g of geometries) {
    const [batch, h, w, cin, oh, ow, cout, kh, kw] = g;
    const nx = batch * h * w * cin;
    const ny = batch * oh * ow * cout;
    const nf = kh * kw * cin * cout;
    const heap = seededHeap(nx + ny + nf, 7);
    const [x, y, f] = [0, nx * 4, (nx + ny) * 4];
    const kernels = [
      { what: 'conv2d', at: y, n: ny, run: () => addon!.conv2d(heap, x, f, y, ...g, 2) },
      { what: 'filter gradient', at: f, n: nf, run: () => addon!.conv2dBackpropFilter(heap, x, y, f, ...g, 2) },
      { what: 'input gradient', at: x, n: nx, run: () => addon!.conv2dBackpropInput(heap, y, f, x, ...g, 2) },
    ];
    for (const k of kernels) {
      const output = () => {
        k.run();
        return Buffer.from(heap, k.at, k.n * 4);
      };
      assertSame(onEveryPath(output), `${k.what} [${g.join(',')}]`);
    }
  }
  for (const [m, n, k] of [
    [64, 500, 800],
    [7, 3, 300],
    [33, 37, 513],
  ]) {
    const heap = seededHeap(m * k + k * n + m * n, 3);
    const product = () => {
      addon!.matmul(heap, 0, m * k * 4, (m * k + k * n) * 4, 1, 1, m, n, k, 0, 0, 2);
      return Buffer.from(heap, (m * k + k * n) * 4);
    };
    assertSame(onEveryPath(product), `matmul ${m}x${k} by ${k}x${n}`);
  }
});

function runEvolve(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

test('a short LeNet-5 run writes the same records and weights on every path (EVOLVE_CPU)', async () => {
  const root = tempDir();
  const args = ['--arch', 'lenet5', '--generations', '1', '--train-limit', '200', '--test-limit', '100'];
  args.push('--epochs', '1', '--ancestor-epochs', '1', '--workers', '1', '--json');
  // All at once: the baseline's multiply-adds in doubles make it the slowest by far.
  const runs = await Promise.all(
    paths.map((p) => runEvolve([...args, '--out', path.join(root, p)], { EVOLVE_CPU: p })),
  );
  const records = runs.map((r, i) => {
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`native kernels \\(${paths[i]}\\)`), 'the backend line names the path');
    return r.out
      .trim()
      .split('\n')
      .map((l) => JSON.stringify(withoutTiming(JSON.parse(l))));
  });
  assert.equal(records[0].length, 2);
  for (const [i, p] of paths.entries()) {
    assert.deepEqual(records[i], records[0], `${p}'s records`);
    assert.deepEqual(readRecords(path.join(root, p, 'generations.ndjson')).length, 2);
    for (const gen of ['gen-00', 'gen-01']) {
      const weights = readWeights(path.join(root, p, gen));
      const first = readWeights(path.join(root, paths[0], gen));
      for (const [j, w] of weights.entries()) {
        assert.ok(
          Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength).equals(
            Buffer.from(first[j].values.buffer, first[j].values.byteOffset, first[j].values.byteLength),
          ),
          `${p}: ${gen} ${w.name}`,
        );
      }
    }
  }
});

test('EVOLVE_CPU naming no path, or one this CPU lacks, is a one-line usage error', async () => {
  const lacking = ['avx512', 'avx2'].filter((p) => !paths.includes(p));
  for (const wanted of ['sse9', ...lacking]) {
    const r = await runEvolve(['--arch', 'lenet5', '--generations', '0', '--train-limit', '50'], {
      EVOLVE_CPU: wanted,
    });
    assert.equal(r.code, 2, r.err);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, new RegExp(`^evolve: EVOLVE_CPU=${wanted}: `));
  }
});
