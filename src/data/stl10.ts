// STL-10 binary format (http://ai.stanford.edu/~acoates/stl10/): `*_X.bin` holds uint8 images of
// 3 channel planes, each plane column-major (Matlab order); `*_y.bin` one label 1..classes per image.
// A data set's manifest names the files, the image shape and the classes.
import * as path from 'node:path';
import type { Dataset, Split } from './dataset';
import { DataError } from './idx';
import { countRecords, readDataFile } from './binary';
import { splitTraining } from './splits';
import type { LoadOptions } from './sets/types';

/** One split's image and label files and the number of images published. */
export interface StlSplitFiles {
  images: string;
  labels: string;
  records: number;
}

/** Where a data set in STL-10's binary format keeps its files, and what its images hold. */
export interface StlLayout {
  name: string;
  /** [height, width, channels] */
  shape: [number, number, number];
  classes: number;
  train: StlSplitFiles;
  test: StlSplitFiles;
}

/**
 * Loads the labelled train and test splits in `folder` (an unlabelled split is not used).
 * With `realCounts` (the default) the files must hold exactly the published counts; otherwise any
 * whole number of images whose count matches the labels file.
 */
export function loadStlBinary(folder: string, layout: StlLayout, opts: LoadOptions): Dataset {
  const real = opts.realCounts !== false;
  const train = readLabelled(folder, layout, layout.train, real);
  const test = readLabelled(folder, layout, layout.test, real);
  return { name: layout.name, inputShape: layout.shape, classes: layout.classes, ...splitTraining(train, test, opts) };
}

function readLabelled(folder: string, layout: StlLayout, files: StlSplitFiles, real: boolean): Split {
  const imagesFile = path.join(folder, files.images);
  const labelsFile = path.join(folder, files.labels);
  const image = layout.shape[0] * layout.shape[1] * layout.shape[2];
  // Labels first: they are small, and a wrong count there is cheaper to report than after 221 MB.
  const labels = readDataFile(labelsFile);
  const count = countRecords({
    file: labelsFile,
    bytes: labels.length,
    recordBytes: 1,
    what: 'label',
    expected: real ? files.records : null,
  });
  const images = readDataFile(imagesFile);
  countRecords({ file: imagesFile, bytes: images.length, recordBytes: image, what: 'image', expected: count });
  for (let i = 0; i < count; i++) {
    const l = labels[i];
    if (l < 1 || l > layout.classes) {
      throw new DataError(`${labelsFile}: label ${l} at index ${i} is not in 1..${layout.classes}`);
    }
    labels[i] = l - 1;
  }
  toNhwcInPlace(images, count, layout.shape);
  return { images, labels, count };
}

/**
 * Rewrites each image from planar column-major to interleaved row-major NHWC in place, one image
 * at a time through a scratch copy (27 KB for STL-10), so the 221 MB test split is never held twice.
 */
function toNhwcInPlace(images: Uint8Array, count: number, shape: [number, number, number]): void {
  const [h, w, channels] = shape;
  const plane = h * w;
  const size = plane * channels;
  const scratch = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    const base = i * size;
    scratch.set(images.subarray(base, base + size));
    for (let c = 0; c < channels; c++) {
      for (let x = 0; x < w; x++) {
        const column = c * plane + x * h;
        for (let y = 0; y < h; y++) images[base + (y * w + x) * channels + c] = scratch[column + y];
      }
    }
  }
}
