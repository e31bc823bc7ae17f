/**
 * The identity of a run's data: the sizes of its three splits and a SHA-256 of their labels and
 * images, in order. config.json records it (resolved.data) so that --resume refuses data that
 * differ from the run's (another EVOLVE_MNIST_DIR, say), which would silently change the records.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { UsageError } from '../errors';
import type { Dataset } from '../data/dataset';

export interface DataIdentity {
  train: number;
  validation: number;
  test: number;
  sha256: string;
}

export function dataIdentity(data: Dataset): DataIdentity {
  const hash = createHash('sha256');
  for (const split of [data.train, data.validation, data.test]) {
    const count = Buffer.alloc(4);
    count.writeUInt32LE(split.count);
    hash.update(count).update(split.labels).update(split.images);
  }
  return {
    train: data.train.count,
    validation: data.validation.count,
    test: data.test.count,
    sha256: hash.digest('hex'),
  };
}

const describe = (d: Partial<DataIdentity>): string =>
  `${String(d.train)}/${String(d.validation)}/${String(d.test)} samples, sha256 ${String(d.sha256).slice(0, 12)}`;

/**
 * Refuses `data` unless it is the data recorded in `run`'s config.json (`saved`, its resolved.data).
 * Returns a warning when the config records none (a run made before evolve recorded it).
 */
export function checkDataIdentity(run: string, saved: unknown, data: Dataset): string | undefined {
  const file = path.join(run, 'config.json');
  if (saved === undefined)
    return `evolve: ${file}: records no data digest (an older evolve's run); the data are not checked`;
  const now = dataIdentity(data);
  const was = (saved ?? {}) as Partial<DataIdentity>;
  if (
    was.sha256 !== now.sha256 ||
    was.train !== now.train ||
    was.validation !== now.validation ||
    was.test !== now.test
  ) {
    throw new UsageError(
      `${file}: the data differ from the run's ` +
        `(train/validation/test: ${describe(now)} now, ${describe(was)} in the run); ` +
        'resume with the data the run used (the same EVOLVE_MNIST_DIR)',
    );
  }
  return undefined;
}
