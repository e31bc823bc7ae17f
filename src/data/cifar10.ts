// CIFAR-10 binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each record is one label
// byte, then the red, green and blue planes of the image, each plane row-major (1 + 3 * 32 * 32 bytes
// for CIFAR-10 itself). A data set's manifest names the files, the image shape and the classes.
import * as path from 'node:path';
import type { Dataset, Split } from './dataset';
import { DataError } from './idx';
import { countRecords, dataFileSize, expectLength, readDataFile } from './binary';
import { splitTraining } from './splits';
import type { LoadOptions } from './sets/types';

/** One split's files and the records each published file holds. */
export interface CifarSplitFiles {
  files: string[];
  recordsPerFile: number;
}

/** Where a data set in CIFAR-10's binary format keeps its files, and what its records hold. */
export interface CifarLayout {
  name: string;
  /** [height, width, channels] */
  shape: [number, number, number];
  classes: number;
  train: CifarSplitFiles;
  test: CifarSplitFiles;
}

/**
 * Loads the files in `folder`: the train files are the training split, the test files the test split.
 * With `realCounts` (the default) every file must hold exactly its published record count;
 * otherwise the files of a split must hold the same whole number of records, so one cut short is caught.
 */
export function loadCifarBinary(folder: string, layout: CifarLayout, opts: LoadOptions): Dataset {
  const read = (s: CifarSplitFiles) =>
    readBatches(
      layout,
      s.files.map((f) => path.join(folder, f)),
      opts.realCounts === false ? null : s.recordsPerFile,
    );
  const train = read(layout.train);
  const test = read(layout.test);
  return { name: layout.name, inputShape: layout.shape, classes: layout.classes, ...splitTraining(train, test, opts) };
}

/** Reads the files into one split, NHWC bytes; sizes are checked before anything is read. */
function readBatches(layout: CifarLayout, files: string[], expected: number | null): Split {
  const image = layout.shape[0] * layout.shape[1] * layout.shape[2];
  const recordBytes = 1 + image;
  const sizes = files.map(dataFileSize);
  const counts = files.map((file, i) => countRecords({ file, bytes: sizes[i], recordBytes, what: 'record', expected }));
  // Without the real count the largest batch sets it: the batches are equal, so a shorter one was cut.
  const most = Math.max(...counts);
  const largest = path.basename(files[counts.indexOf(most)]);
  counts.forEach((n, i) => {
    if (n !== most) {
      throw new DataError(
        `${files[i]}: truncated or corrupt: ` +
          `expected ${most * recordBytes} bytes (${most} records, as in ${largest}), found ${sizes[i]}`,
      );
    }
  });
  const count = counts.reduce((a, b) => a + b, 0);
  const split: Split = { images: new Uint8Array(count * image), labels: new Uint8Array(count), count };
  let at = 0;
  files.forEach((file, i) => {
    const buf = readDataFile(file);
    expectLength(file, buf, sizes[i]);
    decodeRecords(buf, { file, layout, out: split, at });
    at += counts[i];
  });
  return split;
}

interface Decode {
  file: string;
  layout: CifarLayout;
  /** The split being filled, from sample `at` on. */
  out: Split;
  at: number;
}

/** Decodes whole records of `buf`: planar channels to interleaved NHWC. */
function decodeRecords(buf: Uint8Array, d: Decode): void {
  const [h, w, channels] = d.layout.shape;
  const plane = h * w;
  const image = plane * channels;
  const n = buf.length / (1 + image);
  for (let r = 0; r < n; r++) {
    const src = r * (1 + image);
    const label = buf[src];
    if (label >= d.layout.classes) {
      throw new DataError(`${d.file}: label ${label} in record ${r} is not in 0..${d.layout.classes - 1}`);
    }
    d.out.labels[d.at + r] = label;
    const dst = (d.at + r) * image;
    for (let c = 0; c < channels; c++) {
      const from = src + 1 + c * plane;
      for (let p = 0; p < plane; p++) d.out.images[dst + channels * p + c] = buf[from + p];
    }
  }
}
