// CIFAR-10 binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each record is one label
// byte 0..9, then the 1024 red, 1024 green and 1024 blue bytes of a 32x32 image, each plane row-major.
import * as path from 'node:path';
import type { Dataset, Split } from './dataset';
import { DataError } from './idx';
import { countRecords, dataFileSize, expectLength, readDataFile } from './binary';
import { splitTraining } from './splits';
import type { LoadOptions } from './sets/types';

export const CIFAR10_FOLDER = 'cifar-10-batches-bin';
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_SHAPE: [number, number, number] = [32, 32, 3];
export const CIFAR10_CLASSES = 10;

const PLANE = 32 * 32;
const IMAGE = PLANE * 3;
export const CIFAR10_RECORD = 1 + IMAGE;
/** Records in each published file (five data batches and the test batch). */
const REAL_RECORDS = 10000;

/**
 * Loads `dir/cifar-10-batches-bin/`: the five data batches are the training split, test_batch.bin
 * the test split. With `realCounts` (the default) every file must be exactly 10000 records; otherwise
 * the five data batches must hold the same whole number of records, so a batch cut short is caught.
 */
export function loadCifar10(dir: string, opts: LoadOptions): Dataset {
  const folder = path.join(dir, CIFAR10_FOLDER);
  const expected = opts.realCounts === false ? null : REAL_RECORDS;
  const train = readBatches(
    CIFAR10_TRAIN_FILES.map((f) => path.join(folder, f)),
    expected,
  );
  const test = readBatches([path.join(folder, CIFAR10_TEST_FILE)], expected);
  return { name: 'cifar10', inputShape: CIFAR10_SHAPE, classes: CIFAR10_CLASSES, ...splitTraining(train, test, opts) };
}

/** Reads the files into one split, NHWC bytes; sizes are checked before anything is read. */
function readBatches(files: string[], expected: number | null): Split {
  const sizes = files.map(dataFileSize);
  const counts = files.map((file, i) =>
    countRecords({ file, bytes: sizes[i], recordBytes: CIFAR10_RECORD, what: 'record', expected }),
  );
  // Without the real count the largest batch sets it: the batches are equal, so a shorter one was cut.
  const most = Math.max(...counts);
  const largest = path.basename(files[counts.indexOf(most)]);
  counts.forEach((n, i) => {
    if (n !== most) {
      throw new DataError(
        `${files[i]}: truncated or corrupt: ` +
          `expected ${most * CIFAR10_RECORD} bytes (${most} records, as in ${largest}), found ${sizes[i]}`,
      );
    }
  });
  const count = counts.reduce((a, b) => a + b, 0);
  const split: Split = { images: new Uint8Array(count * IMAGE), labels: new Uint8Array(count), count };
  let at = 0;
  files.forEach((file, i) => {
    const buf = readDataFile(file);
    expectLength(file, buf, sizes[i]);
    decodeCifar10(buf, file, split, at);
    at += counts[i];
  });
  return split;
}

/** Decodes whole records of `buf` into `out` from sample `at` on: planar RGB to interleaved NHWC. */
function decodeCifar10(buf: Uint8Array, file: string, out: Split, at: number): void {
  const n = buf.length / CIFAR10_RECORD;
  for (let r = 0; r < n; r++) {
    const src = r * CIFAR10_RECORD;
    const label = buf[src];
    if (label >= CIFAR10_CLASSES) throw new DataError(`${file}: label ${label} in record ${r} is not in 0..9`);
    out.labels[at + r] = label;
    const dst = (at + r) * IMAGE;
    for (let p = 0; p < PLANE; p++) {
      out.images[dst + 3 * p] = buf[src + 1 + p];
      out.images[dst + 3 * p + 1] = buf[src + 1 + PLANE + p];
      out.images[dst + 3 * p + 2] = buf[src + 1 + 2 * PLANE + p];
    }
  }
}
