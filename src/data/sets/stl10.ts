import { STL10_CLASSES, STL10_FILES, STL10_FOLDER, STL10_SHAPE, loadStl10 } from '../stl10';
import type { DatasetModule } from './types';

export const stl10: DatasetModule = {
  name: 'stl10',
  title: 'STL-10',
  description: 'colour photos in 10 classes, 96x96x3, 5000 labelled training and 8000 test images',
  source: 'https://cs.stanford.edu/~acoates/stl10/',
  inputShape: STL10_SHAPE,
  classes: STL10_CLASSES,
  defaultArch: 'stl10net',
  augment: true,
  normalise: true,
  validation: 500,
  weightDecay: 0.0005,
  archive: {
    name: 'stl10_binary.tar.gz',
    url: 'http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz',
    bytes: 2640397119,
    sha256: 'f31fd99273a1acb8609c8db427cebb1de3f71de77758cdc0e22956e1289b9866',
    md5: '91f7769df0f17e558f3565bffb0c7dfb',
  },
  extracted: STL10_FOLDER,
  // The 2.6 GB archive is mostly the unlabelled split (unlabeled_X.bin), which evolve does not use.
  members: [STL10_FILES.train, STL10_FILES.test]
    .flatMap((f) => [f.images, f.labels])
    .concat('class_names.txt')
    .map((f) => `${STL10_FOLDER}/${f}`),
  load: loadStl10,
};
