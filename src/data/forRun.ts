/**
 * A data set as a run uses it: made ready in the cache (download, verify, extract), loaded with
 * the run's split, and given its input transform (normalisation from the training split's
 * statistics, augmentation for training). What was used goes into config.json.
 */
import type { Dataset } from './dataset';
import type { DatasetModule } from './sets/types';
import { type ChannelStats, channelStats } from './preprocess';
import { dataRoot } from './cache';
import { getDataset } from './sets';
import { type PrepareOptions, SKIP_CHECKSUM_ENV, prepareDataset, skipChecksumRequested } from './store';

/** Pixels of padding for the random crop (the usual CIFAR recipe: 4 of 32). */
export const AUGMENT_PAD = 4;

export interface RunDataSettings {
  trainLimit?: number;
  testLimit?: number;
  validation: number;
  rng: () => number;
  augment: boolean;
}

/** config.json's record of the data a run trained on. */
export interface DataIdentity {
  dataset: string;
  /** SHA-256 of the verified archive; absent for embedded data or a skipped checksum. */
  archiveSha256?: string;
  checksumSkipped: boolean;
  normalise?: ChannelStats;
  augment?: { pad: number; flip: boolean };
}

export async function loadForRun(
  ds: DatasetModule,
  s: RunDataSettings,
  prepare: Omit<PrepareOptions, 'download'>,
): Promise<{ data: Dataset; identity: DataIdentity }> {
  if (prepare.skipChecksum && ds.archive) {
    prepare.log(
      `evolve: ${SKIP_CHECKSUM_ENV}=1: ${ds.name} files are used even if they differ from the published ones`,
    );
  }
  const ready = await prepareDataset(ds, { ...prepare, download: true });
  const data = ds.load(ready.dir, {
    trainLimit: s.trainLimit,
    testLimit: s.testLimit,
    validation: s.validation,
    rng: s.rng,
    realCounts: ready.sha256 !== undefined || !ds.archive,
  });
  const normalise = ds.normalise ? channelStats(data.train, data.inputShape) : undefined;
  const augment = s.augment ? { pad: AUGMENT_PAD, flip: true } : undefined;
  data.train.input = { normalise, augment };
  data.validation.input = { normalise };
  data.test.input = { normalise };
  const identity: DataIdentity = {
    dataset: ds.name,
    checksumSkipped: prepare.skipChecksum && ds.archive !== undefined,
  };
  if (ready.sha256) identity.archiveSha256 = ready.sha256;
  if (normalise) identity.normalise = normalise;
  if (augment) identity.augment = augment;
  return { data, identity };
}

/**
 * Before a batch of runs (`evolve reproduce`): the data set made ready once, from the cache only
 * (verified, extracted), so a missing or wrong archive is one message before any run starts rather
 * than a download attempt and a failure per run. The runs then find it ready.
 */
export async function readyForRuns(name: string, log: (line: string) => void): Promise<void> {
  const ds = getDataset(name);
  if (!ds?.archive) return;
  await prepareDataset(ds, { root: dataRoot(), skipChecksum: skipChecksumRequested(), download: false, log });
}
