// How every data set turns its files' training and test splits into train / validation / test.
import { type Split, firstN, subset } from './dataset';
import { UsageError } from '../errors';

export interface SplitOptions {
  /** Use only the first N (shuffled) training samples. */
  trainLimit?: number;
  /** Use only the first N test samples (file order, deterministic). */
  testLimit?: number;
  /** Number of training samples held out for validation (e.g. 5000). */
  validation: number;
  /** Uniform [0, 1) generator; the same seed gives the same splits. */
  rng: () => number;
}

export interface Splits {
  train: Split;
  validation: Split;
  test: Split;
}

/**
 * Holds out `validation` shuffled training samples and applies the limits. The draws (one
 * Fisher–Yates pass over all training indices) are the same for every data set, so a seed names
 * the same split whichever loader calls this. Train and validation are copies; test is a view.
 */
export function splitTraining(train: Split, test: Split, opts: SplitOptions): Splits {
  const n = train.count;
  const validation = checkCount('validation', opts.validation);
  if (validation >= n)
    throw new UsageError(`--validation ${validation}: must be smaller than the training set (${n} samples)`);

  // Fisher–Yates shuffle of all training indices; the first `validation` become the validation split.
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(opts.rng() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  let valIdx = perm.subarray(0, validation);
  let trainIdx = perm.subarray(validation);

  if (opts.trainLimit !== undefined) {
    const limit = Math.min(checkCount('trainLimit', opts.trainLimit), trainIdx.length);
    trainIdx = trainIdx.subarray(0, limit);
    // Keep the validation:train ratio of the full split, so a small experiment does not spend most of
    // its evaluation time on validation (trainLimit 3000, validation 5000 -> 273). At least 1 if any.
    const scaled = Math.max(1, Math.round((limit * validation) / (n - validation)));
    valIdx = valIdx.subarray(0, Math.min(validation, scaled));
  }

  let testSplit = test;
  if (opts.testLimit !== undefined) testSplit = firstN(test, checkCount('testLimit', opts.testLimit));

  return { train: subset(train, trainIdx), validation: subset(train, valIdx), test: testSplit };
}

function checkCount(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${what} must be a non-negative integer, got ${v}`);
  return v;
}
