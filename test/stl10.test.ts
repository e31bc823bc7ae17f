// STL-10 binary parser on generated files in the published format: column-major planes to NHWC,
// labels 1..10 to 0..9, sizes, and that the generated images are learnable by the real engine.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import { DataError } from '../src/data/idx';
import type { Split } from '../src/data/dataset';
import { type LoadOptions, datasets, getDataset } from '../src/data/sets';
import { tempDir, expectOneLineError } from './helpers';
import { tarGz, writeStl10 } from './fixtures/datasetFiles';
import * as tar from 'tar';
import { learnsAboveChance } from './fixtures/learnable';

const IMAGE = 96 * 96 * 3;
const loadStl10 = (dir: string, opts: LoadOptions) => datasets.stl10.load(dir, opts);
const rng = () => seedrandom('split');

/** A byte for every (sample, channel, row, column) that differs between (y, x) and (x, y). */
const pattern = (id: number, c: number, y: number, x: number) => (id * 37 + c * 101 + y * 7 + x * 3) & 255;

/** Images carrying `pattern` in column-major planes, sample id in the first byte, labels 1 + id % 10. */
function writePatternPair(folder: string, split: string, ids: number[]): void {
  const x = Buffer.alloc(ids.length * IMAGE);
  ids.forEach((id, i) => {
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < 96; col++) {
        for (let row = 0; row < 96; row++) x[i * IMAGE + c * 9216 + col * 96 + row] = pattern(id, c, row, col);
      }
    }
    x[i * IMAGE] = id; // channel 0, row 0, column 0
  });
  fs.writeFileSync(path.join(folder, `${split}_X.bin`), x);
  fs.writeFileSync(path.join(folder, `${split}_y.bin`), Buffer.from(ids.map((id) => 1 + (id % 10))));
}

function checkPattern(split: Split): number[] {
  const ids: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const img = split.images.subarray(i * IMAGE, (i + 1) * IMAGE);
    const id = img[0];
    ids.push(id);
    assert.equal(split.labels[i], id % 10);
    for (let y = 0; y < 96; y++) {
      for (let x = 0; x < 96; x++) {
        for (let c = 0; c < 3; c++) {
          if (y + x + c === 0) continue;
          if (img[(y * 96 + x) * 3 + c] !== pattern(id, c, y, x)) assert.fail(`sample ${id} (${y}, ${x}) channel ${c}`);
        }
      }
    }
  }
  return ids;
}

function expectDataError(fn: () => unknown, pattern: RegExp): void {
  expectOneLineError(fn, DataError, pattern);
}

test('column-major planes land row-major NHWC; labels 1..10 become 0..9; test keeps file order', () => {
  const dir = tempDir();
  const folder = path.join(dir, 'stl10_binary');
  fs.mkdirSync(folder);
  writePatternPair(folder, 'train', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  writePatternPair(folder, 'test', [20, 29, 21]);
  const ds = loadStl10(dir, { validation: 2, rng: rng(), realCounts: false });
  assert.equal(ds.name, 'stl10');
  assert.deepEqual(ds.inputShape, [96, 96, 3]);
  assert.deepEqual([ds.train.count, ds.validation.count, ds.test.count], [10, 2, 3]);
  assert.deepEqual(checkPattern(ds.test), [20, 29, 21]);
  assert.deepEqual([...ds.test.labels], [0, 9, 1]);
  const ids = [...checkPattern(ds.train), ...checkPattern(ds.validation)].sort((a, b) => a - b);
  assert.deepEqual(
    ids,
    Array.from({ length: 12 }, (_, i) => i),
  );
  fs.rmSync(dir, { recursive: true });
});

test('sizes: the real counts by default, whole images matching the labels otherwise, one line each', () => {
  const dir = tempDir();
  const folder = writeStl10(dir, { trainCount: 10, testCount: 6, seed: 1 });
  const opts = { validation: 0, rng: rng() };
  const loose = { ...opts, realCounts: false };
  expectDataError(
    () => loadStl10(dir, opts),
    /stl10_binary\/train_y\.bin: truncated or corrupt: expected 5000 bytes \(5000 labels\), found 10$/,
  );
  assert.equal(loadStl10(dir, loose).test.count, 6);

  const testX = path.join(folder, 'test_X.bin');
  fs.truncateSync(testX, 5 * IMAGE); // one image short of the labels
  expectDataError(
    () => loadStl10(dir, loose),
    new RegExp(
      `^${testX.replace(/[.]/g, '\\.')}: truncated or corrupt: ` +
        String.raw`expected 165888 bytes \(6 images of 27648\), found 138240$`,
    ),
  );
  fs.truncateSync(testX, 5 * IMAGE + 100); // not whole images
  expectDataError(
    () => loadStl10(dir, loose),
    /test_X\.bin: truncated or corrupt: expected 165888 bytes \(6 images of 27648\), found 138340$/,
  );
  fs.rmSync(path.join(folder, 'test_y.bin'));
  expectDataError(() => loadStl10(dir, loose), /test_y\.bin: file not found$/);
  fs.rmSync(dir, { recursive: true });
});

test('a label of 0 or 11 names the file and the index', () => {
  const dir = tempDir();
  const folder = writeStl10(dir, { trainCount: 8, testCount: 4, seed: 2 });
  const labels = path.join(folder, 'train_y.bin');
  for (const bad of [0, 11]) {
    const y = fs.readFileSync(labels);
    y[5] = bad;
    fs.writeFileSync(labels, y);
    expectDataError(
      () => loadStl10(dir, { validation: 0, rng: rng(), realCounts: false }),
      new RegExp(`train_y\\.bin: label ${bad} at index 5 is not in 1\\.\\.10$`),
    );
  }
  fs.rmSync(dir, { recursive: true });
});

test('the registry module loads generated files, and a small network learns them', async () => {
  const dir = tempDir();
  writeStl10(dir, { trainCount: 150, testCount: 100, seed: 3 });
  const stl10 = getDataset('stl10')!;
  assert.ok(!stl10.members.some((m) => m.includes('unlabeled')), 'the unlabelled split is never extracted');
  assert.ok(stl10.members.includes('stl10_binary/test_X.bin'));
  const ds = stl10.load(dir, { validation: 10, rng: rng(), realCounts: false });
  assert.deepEqual([ds.name, ds.inputShape, ds.classes], [stl10.name, stl10.inputShape, stl10.classes]);
  assert.deepEqual([ds.train.count, ds.validation.count, ds.test.count], [140, 10, 100]);
  const accuracy = await learnsAboveChance(ds, 0.003);
  console.log(`generated STL-10: test accuracy ${accuracy} after 4 epochs of a tiny dense net`);
  assert.ok(accuracy > 0.5, `test accuracy ${accuracy} after a short training on generated STL-10`);
  fs.rmSync(dir, { recursive: true });
});

test('tarGz of the generated STL-10 folder holds the published member names', () => {
  const dir = tempDir();
  writeStl10(dir, { trainCount: 5, testCount: 5, seed: 4 });
  tarGz(dir, ['stl10_binary'], path.join(dir, 'stl10_binary.tar.gz'));
  const entries: string[] = [];
  tar.t({
    file: path.join(dir, 'stl10_binary.tar.gz'),
    sync: true,
    onReadEntry: (e) => {
      entries.push(e.path);
    },
  });
  assert.deepEqual(entries, [
    'stl10_binary/',
    ...[
      'class_names.txt',
      'fold_indices.txt',
      'test_X.bin',
      'test_y.bin',
      'train_X.bin',
      'train_y.bin',
      'unlabeled_X.bin',
    ].map((f) => `stl10_binary/${f}`),
  ]);
  for (const m of getDataset('stl10')!.members) assert.ok(entries.includes(m), `${m} is in the archive`);
  const folds = fs
    .readFileSync(path.join(dir, 'stl10_binary', 'fold_indices.txt'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(folds.length, 10);
  fs.rmSync(dir, { recursive: true });
});
