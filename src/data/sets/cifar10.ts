import {
  CIFAR10_CLASSES,
  CIFAR10_FOLDER,
  CIFAR10_SHAPE,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
  loadCifar10,
} from '../cifar10';
import type { DatasetModule } from './types';

export const cifar10: DatasetModule = {
  name: 'cifar10',
  title: 'CIFAR-10',
  description: 'small colour photos in 10 classes, 32x32x3, 50000 training and 10000 test images',
  source: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  inputShape: CIFAR10_SHAPE,
  classes: CIFAR10_CLASSES,
  defaultArch: 'alexnet',
  augment: true,
  normalise: true,
  validation: 5000,
  weightDecay: 0.0005,
  archive: {
    name: 'cifar-10-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    bytes: 170052171,
    sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd',
    md5: 'c32a1d4ab5d03f1284b67883e8d87530',
  },
  extracted: CIFAR10_FOLDER,
  members: [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE, 'batches.meta.txt'].map((f) => `${CIFAR10_FOLDER}/${f}`),
  load: loadCifar10,
};
