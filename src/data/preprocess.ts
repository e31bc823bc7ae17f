// Per-batch conversion of byte images to the floats the network sees: scaling, per-channel
// normalisation and seeded augmentation. Whole splits stay bytes; only one batch is ever float.
import type { Split } from './dataset';

export interface ChannelStats {
  /** Per channel, on the [0, 1] scale (byte / 255). */
  mean: number[];
  std: number[];
}

/** A channel whose values never vary would divide by zero; one grey level is the smallest std used. */
const MIN_STD = 1 / 255;

/**
 * Mean and (population) standard deviation of each channel over all pixels of `split`, on the
 * [0, 1] scale. Sums of bytes and of their squares are integers below 2^53 even for 50000
 * 32x32 images, so they are exact; the result does not depend on summation order.
 */
export function channelStats(split: Split, inputShape: readonly number[]): ChannelStats {
  const channels = inputShape[2];
  const pixels = split.count * inputShape[0] * inputShape[1];
  const sum = new Array<number>(channels).fill(0);
  const squares = new Array<number>(channels).fill(0);
  const img = split.images;
  for (let c = 0; c < channels; c++) {
    let s = 0;
    let q = 0;
    for (let i = c; i < pixels * channels; i += channels) {
      const v = img[i];
      s += v;
      q += v * v;
    }
    sum[c] = s;
    squares[c] = q;
  }
  const mean = sum.map((s) => (pixels === 0 ? 0 : s / pixels / 255));
  const std = squares.map((q, c) => {
    if (pixels === 0) return 1;
    const m = sum[c] / pixels;
    return Math.max(MIN_STD, Math.sqrt(Math.max(0, q / pixels - m * m)) / 255);
  });
  return { mean, std };
}

export interface Augmentation {
  /** Zero padding on every side before a random crop back to the input size; 0 for no crop. */
  pad: number;
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
  /** Uniform [0, 1) stream; each image draws exactly three numbers from it, in the order dy, dx, flip. */
  rng: () => number;
}

export interface BatchSettings {
  split: Split;
  /** Sample order (e.g. a shuffled permutation); null for the split's own order. */
  indices: ArrayLike<number> | null;
  /** The batch is positions start..end-1 of `indices` (or of the split). */
  start: number;
  end: number;
  inputShape: readonly number[];
  normalise?: ChannelStats;
  augment?: Augmentation;
}

/**
 * Writes samples start..end-1 as floats NHWC into `out` (from index 0) and returns `out`: x / 255,
 * then (x - mean) / std per channel if `normalise` is given. Without `normalise` and `augment` the
 * floats are bit-identical to a plain `byte / 255` into a Float32Array.
 *
 * Augmentation crops the image padded with `pad` pixels on each side, at an offset (dy, dx) in
 * 0..2*pad drawn per image, then mirrors it if the third draw is below 1/2. Padding is 0 in the
 * OUTPUT, i.e. after normalisation: the training set's mean colour rather than black, so padded
 * borders carry no signal the network could learn to key on (without `normalise` it is black).
 * Each image always draws three numbers (dy, dx, flip), whatever pad and flip are, so a seed
 * reproduces a batch exactly and the stream's position depends only on how many images were drawn.
 */
export function fillBatch(settings: BatchSettings, out: Float32Array): Float32Array {
  const { split, indices, start, end, inputShape, augment } = settings;
  const size = inputShape[0] * inputShape[1] * inputShape[2];
  if (out.length < (end - start) * size)
    throw new RangeError(`fillBatch: out holds ${out.length} floats, the batch needs ${(end - start) * size}`);
  const table = byteTable(inputShape[2], settings.normalise);
  for (let i = start; i < end; i++) {
    const src = (indices ? indices[i] : i) * size;
    const dst = (i - start) * size;
    if (augment) {
      const pad = augment.pad;
      const dy = Math.floor(augment.rng() * (2 * pad + 1)) - pad;
      const dx = Math.floor(augment.rng() * (2 * pad + 1)) - pad;
      const flip = augment.rng() < 0.5 && augment.flip;
      writeShifted(split.images, src, out, dst, { shape: inputShape, table, dy, dx, flip });
    } else {
      copyImage(split.images, src, out, dst, { size, channels: inputShape[2], table });
    }
  }
  return out;
}

/**
 * One image's bytes through the table into `out`. The images and the table are locals, and one
 * channel has a loop of its own: written inline in fillBatch's loop this took ~200 us for a
 * 64-image MNIST batch, a tenth of a small offspring's training step.
 */
function copyImage(
  images: Uint8Array,
  src: number,
  out: Float32Array,
  dst: number,
  s: { size: number; channels: number; table: Float32Array },
): void {
  const { size, channels, table } = s;
  if (channels === 1) {
    for (let p = 0; p < size; p++) out[dst + p] = table[images[src + p]];
    return;
  }
  for (let p = 0; p < size; p += channels) {
    for (let c = 0; c < channels; c++) out[dst + p + c] = table[c * 256 + images[src + p + c]];
  }
}

/**
 * The float for every (channel, byte) pair: 256 entries per channel. A lookup is faster than the
 * arithmetic and, computed in double and rounded once to float32, equals `byte / 255` exactly.
 */
export function byteTable(channels: number, normalise?: ChannelStats): Float32Array {
  const table = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) {
      table[c * 256 + v] = normalise ? (v / 255 - normalise.mean[c]) / normalise.std[c] : v / 255;
    }
  }
  return table;
}

interface Shift {
  shape: readonly number[];
  table: Float32Array;
  /** Source offset of the crop relative to the image: output (y, x) reads input (y + dy, x' + dx). */
  dy: number;
  dx: number;
  /** x' = W-1-x when mirrored (crop first, then mirror). */
  flip: boolean;
}

function writeShifted(images: Uint8Array, src: number, out: Float32Array, dst: number, s: Shift): void {
  const [h, w, channels] = s.shape;
  for (let y = 0; y < h; y++) {
    const sy = y + s.dy;
    for (let x = 0; x < w; x++) {
      const sx = (s.flip ? w - 1 - x : x) + s.dx;
      const o = dst + (y * w + x) * channels;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        for (let c = 0; c < channels; c++) out[o + c] = 0;
      } else {
        const p = src + (sy * w + sx) * channels;
        for (let c = 0; c < channels; c++) out[o + c] = s.table[c * 256 + images[p + c]];
      }
    }
  }
}
