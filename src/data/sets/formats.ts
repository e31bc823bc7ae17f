// The file formats a manifest can name, each with its parser in src/data/. A data set in one of these
// formats is one manifest file; a new format is one entry here and its parser.
import type { Dataset } from '../dataset';
import { loadCifarBinary } from '../cifar10';
import { loadIdx } from '../mnist';
import { loadStlBinary } from '../stl10';
import type { Fields } from './fields';
import type { LoadOptions } from './types';

/** What a format needs to know of the data set besides its files. */
export interface FormatContext {
  name: string;
  shape: [number, number, number];
  classes: number;
  /** The manifest's fields, for an error about the shape or the classes. */
  manifest: Fields;
}

export interface ParsedFiles {
  /** Loads the files from `folder`, the one holding them. */
  load(folder: string, opts: LoadOptions): Dataset;
  /** The files it reads, relative to that folder. */
  reads: string[];
}

export interface Format {
  /** One line for the docs: what the files hold. */
  description: string;
  /** Reads the manifest's "files" object. */
  parse(files: Fields, c: FormatContext): ParsedFiles;
}

/** A file name inside the data set's folder: no separators, not '.' or '..'. */
const FILE = /^(?!\.\.?$)[^/\\]+$/;
const FILE_WHAT = 'a file name (no folders)';

const splits = ['train', 'test'] as const;

function imageAndLabels(files: Fields, split: string, records: boolean) {
  const f = files.object(split);
  f.only(records ? ['images', 'labels', 'records'] : ['images', 'labels']);
  const images = f.string('images', FILE, FILE_WHAT);
  const labels = f.string('labels', FILE, FILE_WHAT);
  return { images, labels, records: records ? f.integer('records', 1) : 0 };
}

const idx: Format = {
  description: 'one IDX file of grey images and one of labels 0..classes-1 per split (MNIST)',
  parse(files, c) {
    files.only([...splits]);
    if (c.shape[2] !== 1) c.manifest.fail('inputShape', `must have 1 channel for the idx format, found ${c.shape[2]}`);
    const [train, test] = splits.map((s) => imageAndLabels(files, s, false));
    const layout = { name: c.name, shape: c.shape, classes: c.classes, train, test };
    return {
      load: (folder, opts) => loadIdx(folder, layout, opts),
      reads: [train.images, train.labels, test.images, test.labels],
    };
  },
};

const cifar10Binary: Format = {
  description: 'records of one label byte (0..classes-1) then the channel planes, each row-major (CIFAR-10)',
  parse(files, c) {
    files.only([...splits]);
    const [train, test] = splits.map((s) => {
      const f = files.object(s);
      f.only(['files', 'recordsPerFile']);
      const names = f.strings('files');
      for (const n of names)
        if (!FILE.test(n)) f.fail('files', `must hold file names (no folders), found ${JSON.stringify(n)}`);
      return { files: names, recordsPerFile: f.integer('recordsPerFile', 1) };
    });
    const layout = { name: c.name, shape: c.shape, classes: c.classes, train, test };
    return { load: (folder, opts) => loadCifarBinary(folder, layout, opts), reads: [...train.files, ...test.files] };
  },
};

const stl10Binary: Format = {
  description: 'an images file of column-major channel planes and a labels file (1..classes) per split (STL-10)',
  parse(files, c) {
    files.only([...splits]);
    const [train, test] = splits.map((s) => imageAndLabels(files, s, true));
    const layout = { name: c.name, shape: c.shape, classes: c.classes, train, test };
    return {
      load: (folder, opts) => loadStlBinary(folder, layout, opts),
      reads: [train.images, train.labels, test.images, test.labels],
    };
  },
};

export const formats = { idx, 'cifar10-binary': cifar10Binary, 'stl10-binary': stl10Binary } satisfies Record<
  string,
  Format
>;

export const formatNames = Object.keys(formats);

export function getFormat(name: string): Format | undefined {
  return Object.hasOwn(formats, name) ? formats[name as keyof typeof formats] : undefined;
}
