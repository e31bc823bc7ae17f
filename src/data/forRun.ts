/**
 * A data set as a run uses it: made ready in the cache (download, verify, extract), loaded with
 * the run's split, and given its input transform (normalisation from the training split's
 * statistics, augmentation for training). What was used goes into config.json.
 */
import type { Dataset } from './dataset';
import type { DatasetModule } from './sets/types';
import { type ChannelStats, channelStats } from './preprocess';
import { type PrepareOptions, SKIP_CHECKSUM_ENV, prepareDataset } from './store';

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
