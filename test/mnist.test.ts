import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import { DataError } from '../src/data/idx';
import { firstN, subset, type Split } from '../src/data/dataset';
import { UsageError } from '../src/errors';
import { defaultMnistDir, loadMnist } from '../src/data/mnist';
import { datasetNames, getDataset } from '../src/data/sets';

const FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

/** Identifies samples by their (label, pixels) content, to compare splits across loads. */
function keys(split: Split): Set<string> {
  const size = split.images.length / split.count;
  const out = new Set<string>();
  for (let i = 0; i < split.count; i++) {
    out.add(`${split.labels[i]}:${Buffer.from(split.images.subarray(i * size, (i + 1) * size)).toString('base64')}`);
  }
  return out;
}

test('loads full MNIST with a validation split', () => {
  const t0 = performance.now();
  const ds = loadMnist({ validation: 5000, rng: seedrandom('1') });
  const ms = performance.now() - t0;
  console.log(`loadMnist (full): ${ms.toFixed(0)} ms`);
  assert.equal(ds.name, 'mnist');
  assert.deepEqual(ds.inputShape, [28, 28, 1]);
  assert.equal(ds.classes, 10);
  assert.equal(ds.train.count, 55000);
  assert.equal(ds.validation.count, 5000);
  assert.equal(ds.test.count, 10000);
  for (const s of [ds.train, ds.validation, ds.test]) {
    assert.equal(s.images.length, s.count * 784);
    assert.equal(s.labels.length, s.count);
    assert.ok(s.labels.every((l) => l <= 9));
  }
  assert.equal(ds.test.labels[0], 7);
  // Train and validation partition the 60000 training samples (which are all distinct by content).
  const train = keys(ds.train);
  assert.equal(train.size, 55000);
  for (const k of keys(ds.validation)) assert.ok(!train.has(k), 'validation sample also in train');
  const labels5 = [...ds.train.labels, ...ds.validation.labels].filter((l) => l === 5).length;
  const raw = fs.readFileSync(path.join(defaultMnistDir(), 'train-labels-idx1-ubyte')).subarray(8);
  assert.equal(labels5, raw.filter((l) => l === 5).length);
});

test('splits are deterministic per seed and respect limits', () => {
  const a = loadMnist({ validation: 5000, trainLimit: 3000, testLimit: 500, rng: seedrandom('1') });
  const b = loadMnist({ validation: 5000, trainLimit: 3000, testLimit: 500, rng: seedrandom('1') });
  const c = loadMnist({ validation: 5000, trainLimit: 3000, testLimit: 500, rng: seedrandom('2') });
  assert.equal(a.train.count, 3000);
  assert.equal(a.validation.count, 273); // round(3000 * 5000 / 55000)
  assert.equal(a.test.count, 500);
  assert.deepEqual(a.train, b.train);
  assert.deepEqual(a.validation, b.validation);
  assert.notDeepEqual(a.train.labels, c.train.labels);
  assert.deepEqual(a.test, c.test); // test split does not depend on the seed
  const full = loadMnist({ validation: 5000, rng: seedrandom('1') });
  assert.deepEqual(a.test, firstN(full.test, 500));
  // trainLimit takes a prefix of the same shuffled order.
  assert.deepEqual(a.train, firstN(full.train, 3000));
  assert.deepEqual(a.validation, firstN(full.validation, 273));
  const trainKeys = keys(a.train);
  for (const k of keys(a.validation)) assert.ok(!trainKeys.has(k), 'validation overlaps train');

  assert.equal(loadMnist({ validation: 0, trainLimit: 100, rng: seedrandom('1') }).validation.count, 0);
  assert.equal(loadMnist({ validation: 5000, trainLimit: 10, rng: seedrandom('1') }).validation.count, 1);
  assert.throws(() => loadMnist({ validation: 60000, rng: seedrandom('1') }), UsageError); // exit 2, one line
});

test('subset copies and firstN views', () => {
  const split: Split = { images: new Uint8Array([1, 1, 2, 2, 3, 3]), labels: new Uint8Array([1, 2, 3]), count: 3 };
  const s = subset(split, [2, 0]);
  assert.deepEqual(s, { images: new Uint8Array([3, 3, 1, 1]), labels: new Uint8Array([3, 1]), count: 2 });
  assert.notEqual(s.images.buffer, split.images.buffer);
  assert.throws(() => subset(split, [3]), RangeError);
  const f = firstN(split, 2);
  assert.deepEqual([...f.images], [1, 1, 2, 2]);
  assert.equal(f.count, 2);
  assert.equal(firstN(split, 10).count, 3);
});

test('loadMnist reports corrupt and missing files', () => {
  const src = defaultMnistDir();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mnist-test-'));
  const rng = seedrandom('1');
  const expectError = (pattern: RegExp) =>
    assert.throws(
      () => loadMnist({ dir: tmp, validation: 100, rng }),
      (e: unknown) => {
        assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
        assert.match(e.message, pattern);
        return true;
      },
    );
  try {
    for (const f of FILES) if (f.includes('labels')) fs.copyFileSync(path.join(src, f), path.join(tmp, f));
    const trainImages = fs.readFileSync(path.join(src, FILES[0]));
    fs.copyFileSync(path.join(src, FILES[2]), path.join(tmp, FILES[2]));

    expectError(/^train-images-idx3-ubyte: file not found/);
    fs.writeFileSync(path.join(tmp, FILES[0]), trainImages.subarray(0, 16 + 1000));
    expectError(/^train-images-idx3-ubyte: truncated: expected 47040000 bytes of data, found 1000$/);

    // Consistent header but fewer images than labels.
    const fewer = Buffer.from(trainImages.subarray(0, 16 + 784 * 10));
    fewer.writeUInt32BE(10, 4);
    fs.writeFileSync(path.join(tmp, FILES[0]), fewer);
    expectError(/^train-labels-idx1-ubyte: 60000 labels but train-images-idx3-ubyte has 10 images$/);

    // Labels file where images belong: wrong magic.
    fs.copyFileSync(path.join(src, FILES[1]), path.join(tmp, FILES[0]));
    expectError(/^train-images-idx3-ubyte: expected magic 2051, found 2049/);

    fs.copyFileSync(path.join(src, FILES[0]), path.join(tmp, FILES[0]));
    const badLabel = fs.readFileSync(path.join(src, FILES[3]));
    badLabel[8 + 3] = 10;
    fs.writeFileSync(path.join(tmp, FILES[3]), badLabel);
    expectError(/^t10k-labels-idx1-ubyte: label 10 at index 3 is not in 0\.\.9$/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the mnist registry module loads what loadMnist loads and ignores the cache folder', () => {
  assert.deepEqual(datasetNames, ['mnist', 'cifar10', 'stl10']);
  const mnist = getDataset('mnist')!;
  const opts = { validation: 10, trainLimit: 50, testLimit: 20 };
  const ds = mnist.load('/nonexistent', { ...opts, rng: seedrandom('1') });
  assert.deepEqual(ds, loadMnist({ ...opts, rng: seedrandom('1') }));
  assert.deepEqual(
    [ds.inputShape, ds.classes, mnist.archive, mnist.extracted],
    [mnist.inputShape, mnist.classes, undefined, ''],
  );
});
