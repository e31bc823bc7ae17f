// CIFAR-10 binary parser on generated files in the published format: pixel placement, labels,
// sizes, and that the generated images are learnable by the real engine.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import { DataError } from '../src/data/idx';
import type { Split } from '../src/data/dataset';
import { type LoadOptions, datasets, getDataset } from '../src/data/sets';
import { tempDir, expectOneLineError } from './helpers';
import { tarGz, writeCifar10 } from './fixtures/datasetFiles';
import * as tar from 'tar';
import * as crypto from 'node:crypto';
import { learnsAboveChance } from './fixtures/learnable';

const RECORD = 3073;
const loadCifar10 = (dir: string, opts: LoadOptions) => datasets.cifar10.load(dir, opts);
const rng = () => seedrandom('split');

/** A distinct byte for every (sample, channel, row, column), so any misplacement shows. */
const pattern = (id: number, c: number, y: number, x: number) => (id * 37 + c * 101 + y * 7 + x * 3) & 255;

/** Batches whose records carry `pattern`, sample id in the R byte of pixel (0, 0), label id % 10. */
function writePatternFiles(dir: string, perBatch: number): string {
  const folder = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(folder, { recursive: true });
  const files = [
    'data_batch_1.bin',
    'data_batch_2.bin',
    'data_batch_3.bin',
    'data_batch_4.bin',
    'data_batch_5.bin',
    'test_batch.bin',
  ];
  files.forEach((f, b) => {
    const buf = Buffer.alloc(perBatch * RECORD);
    for (let r = 0; r < perBatch; r++) {
      const id = b * perBatch + r;
      buf[r * RECORD] = id % 10;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 32; y++)
          for (let x = 0; x < 32; x++) buf[r * RECORD + 1 + c * 1024 + y * 32 + x] = pattern(id, c, y, x);
      }
      buf[r * RECORD + 1] = id; // R plane, row 0, column 0
    }
    fs.writeFileSync(path.join(folder, f), buf);
  });
  return folder;
}

function checkPattern(split: Split): number[] {
  const ids: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const img = split.images.subarray(i * 3072, (i + 1) * 3072);
    const id = img[0];
    ids.push(id);
    assert.equal(split.labels[i], id % 10);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          if (y + x + c === 0) continue;
          assert.equal(img[(y * 32 + x) * 3 + c], pattern(id, c, y, x), `sample ${id} (${y}, ${x}) channel ${c}`);
        }
      }
    }
  }
  return ids;
}

function expectDataError(fn: () => unknown, pattern: RegExp): void {
  expectOneLineError(fn, DataError, pattern);
}

test('R, G and B planes land interleaved in NHWC; batches concatenate; test keeps file order', () => {
  const dir = tempDir();
  writePatternFiles(dir, 4);
  const ds = loadCifar10(dir, { validation: 3, rng: rng(), realCounts: false });
  assert.equal(ds.name, 'cifar10');
  assert.deepEqual(ds.inputShape, [32, 32, 3]);
  assert.equal(ds.train.count, 17);
  assert.equal(ds.validation.count, 3);
  assert.deepEqual(checkPattern(ds.test), [20, 21, 22, 23]);
  const ids = [...checkPattern(ds.train), ...checkPattern(ds.validation)].sort((a, b) => a - b);
  assert.deepEqual(
    ids,
    Array.from({ length: 20 }, (_, i) => i),
  );
  fs.rmSync(dir, { recursive: true });
});

test('sizes: the real count by default, whole and equal batches otherwise, one line each', () => {
  const dir = tempDir();
  const folder = writeCifar10(dir, { perBatch: 20, testCount: 10, seed: 1 });
  const opts = { validation: 0, rng: rng() };
  const file = (f: string) => path.join(folder, f).replace(/[.]/g, '\\.');
  // The whole message for file `f`, after its path and "truncated or corrupt: " (`rest` is a regex).
  const cut = (f: string, rest: string) => new RegExp(`^${file(f)}: truncated or corrupt: ${rest}$`);
  expectDataError(
    () => loadCifar10(dir, opts),
    cut('data_batch_1.bin', String.raw`expected 30730000 bytes \(10000 records of 3073\), found 61460`),
  );
  const loose = { ...opts, realCounts: false };
  assert.equal(loadCifar10(dir, loose).train.count, 100);

  fs.truncateSync(path.join(folder, 'data_batch_3.bin'), 19 * RECORD); // cut at a record boundary
  expectDataError(
    () => loadCifar10(dir, loose),
    cut('data_batch_3.bin', String.raw`expected 61460 bytes \(20 records, as in data_batch_1\.bin\), found 58387`),
  );
  fs.truncateSync(path.join(folder, 'data_batch_3.bin'), 19 * RECORD + 1000); // mid-record
  expectDataError(
    () => loadCifar10(dir, loose),
    cut('data_batch_3.bin', String.raw`expected a non-zero multiple of 3073 bytes \(whole records\), found 59387`),
  );
  fs.writeFileSync(path.join(folder, 'data_batch_3.bin'), Buffer.alloc(0));
  expectDataError(() => loadCifar10(dir, loose), /data_batch_3\.bin: .*found 0$/);
  fs.rmSync(path.join(folder, 'data_batch_3.bin'));
  expectDataError(() => loadCifar10(dir, loose), /data_batch_3\.bin: file not found$/);
  fs.rmSync(dir, { recursive: true });
});

test('a label outside 0..9 names the file and the record', () => {
  const dir = tempDir();
  const folder = writeCifar10(dir, { perBatch: 5, testCount: 5, seed: 2 });
  const test = fs.readFileSync(path.join(folder, 'test_batch.bin'));
  test[3 * RECORD] = 10;
  fs.writeFileSync(path.join(folder, 'test_batch.bin'), test);
  expectDataError(
    () => loadCifar10(dir, { validation: 0, rng: rng(), realCounts: false }),
    /test_batch\.bin: label 10 in record 3 is not in 0\.\.9$/,
  );
  fs.rmSync(dir, { recursive: true });
});

test('the registry module loads generated files, and a small network learns them', async () => {
  const dir = tempDir();
  writeCifar10(dir, { perBatch: 60, testCount: 100, seed: 3 });
  const cifar10 = getDataset('cifar10')!;
  assert.equal(datasets.cifar10, cifar10);
  assert.equal(getDataset('toString'), undefined);
  assert.deepEqual(cifar10.members.slice(0, 2), [
    'cifar-10-batches-bin/data_batch_1.bin',
    'cifar-10-batches-bin/data_batch_2.bin',
  ]);
  const ds = cifar10.load(dir, { validation: 30, trainLimit: 240, rng: rng(), realCounts: false });
  assert.deepEqual([ds.name, ds.inputShape, ds.classes], [cifar10.name, cifar10.inputShape, cifar10.classes]);
  assert.equal(ds.train.count, 240);
  assert.equal(ds.validation.count, 27); // round(240 * 30 / 270): the ratio of the full split
  const accuracy = await learnsAboveChance(ds, 0.01);
  console.log(`generated CIFAR-10: test accuracy ${accuracy} after 4 epochs of a tiny dense net`);
  assert.ok(accuracy > 0.5, `test accuracy ${accuracy} after a short training on generated CIFAR-10`);
  fs.rmSync(dir, { recursive: true });
});

test('tarGz lays the files out like the published archive, the same bytes every time', () => {
  const dir = tempDir();
  writeCifar10(dir, { perBatch: 3, testCount: 2, seed: 4 });
  const archive = (name: string) => {
    tarGz(dir, ['cifar-10-batches-bin'], path.join(dir, name));
    return crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(dir, name)))
      .digest('hex');
  };
  assert.equal(archive('a.tar.gz'), archive('b.tar.gz'));
  const entries: string[] = [];
  tar.t({
    file: path.join(dir, 'a.tar.gz'),
    sync: true,
    onReadEntry: (e) => {
      entries.push(e.path);
    },
  });
  assert.deepEqual(entries, [
    'cifar-10-batches-bin/',
    'cifar-10-batches-bin/batches.meta.txt',
    ...[1, 2, 3, 4, 5].map((i) => `cifar-10-batches-bin/data_batch_${i}.bin`),
    'cifar-10-batches-bin/readme.html',
    'cifar-10-batches-bin/test_batch.bin',
  ]);
  for (const m of getDataset('cifar10')!.members) assert.ok(entries.includes(m), `${m} is in the archive`);
  fs.rmSync(dir, { recursive: true });
});
