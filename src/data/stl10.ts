// STL-10 binary format (https://cs.stanford.edu/~acoates/stl10/): `*_X.bin` holds uint8 images of
// 3x96x96, each channel plane stored column-major (Matlab order); `*_y.bin` one label 1..10 per image.
import * as path from 'node:path';
import type { Dataset, Split } from './dataset';
import { DataError } from './idx';
import { countRecords, readDataFile } from './binary';
import { splitTraining } from './splits';
import type { LoadOptions } from './sets/types';

export const STL10_FOLDER = 'stl10_binary';
export const STL10_SHAPE: [number, number, number] = [96, 96, 3];
export const STL10_CLASSES = 10;
export const STL10_FILES = {
  train: { images: 'train_X.bin', labels: 'train_y.bin', real: 5000 },
  test: { images: 'test_X.bin', labels: 'test_y.bin', real: 8000 },
};

const SIDE = 96;
const PLANE = SIDE * SIDE;
export const STL10_IMAGE = PLANE * 3;

/**
 * Loads the labelled train and test splits of `dir/stl10_binary/` (the unlabelled split is not
 * used). With `realCounts` (the default) the files must hold exactly 5000 and 8000 images;
 * otherwise any whole number of images whose count matches the labels file.
 */
export function loadStl10(dir: string, opts: LoadOptions): Dataset {
  const folder = path.join(dir, STL10_FOLDER);
  const real = opts.realCounts !== false;
  const train = readPair(folder, STL10_FILES.train, real);
  const test = readPair(folder, STL10_FILES.test, real);
  return { name: 'stl10', inputShape: STL10_SHAPE, classes: STL10_CLASSES, ...splitTraining(train, test, opts) };
}

interface PairFiles {
  images: string;
  labels: string;
  real: number;
}

function readPair(folder: string, files: PairFiles, real: boolean): Split {
  const imagesFile = path.join(folder, files.images);
  const labelsFile = path.join(folder, files.labels);
  // Labels first: they are small, and a wrong count there is cheaper to report than after 221 MB.
  const labels = readDataFile(labelsFile);
  const count = countRecords({
    file: labelsFile,
    bytes: labels.length,
    recordBytes: 1,
    what: 'label',
    expected: real ? files.real : null,
  });
  const images = readDataFile(imagesFile);
  countRecords({ file: imagesFile, bytes: images.length, recordBytes: STL10_IMAGE, what: 'image', expected: count });
  for (let i = 0; i < count; i++) {
    const l = labels[i];
    if (l < 1 || l > STL10_CLASSES) throw new DataError(`${labelsFile}: label ${l} at index ${i} is not in 1..10`);
    labels[i] = l - 1;
  }
  toNhwcInPlace(images, count);
  return { images, labels, count };
}

/**
 * Rewrites each image from planar column-major to interleaved row-major NHWC in place, one image
 * at a time through a 27 KB scratch copy, so the 221 MB test split is never held twice.
 */
function toNhwcInPlace(images: Uint8Array, count: number): void {
  const scratch = new Uint8Array(STL10_IMAGE);
  for (let i = 0; i < count; i++) {
    const base = i * STL10_IMAGE;
    scratch.set(images.subarray(base, base + STL10_IMAGE));
    for (let c = 0; c < 3; c++) {
      const plane = c * PLANE;
      for (let x = 0; x < SIDE; x++) {
        const column = plane + x * SIDE;
        for (let y = 0; y < SIDE; y++) images[base + (y * SIDE + x) * 3 + c] = scratch[column + y];
      }
    }
  }
}
