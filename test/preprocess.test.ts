// Per-batch preprocessing: exact x / 255, per-channel statistics, normalisation, and seeded crop/flip.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import type { Split } from '../src/data/dataset';
import { type BatchSettings, channelStats, fillBatch } from '../src/data/preprocess';

/** A generator that returns `values` in order (to pick crop offsets and flips by hand). */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => {
    assert.ok(i < values.length, 'drew more numbers than scripted');
    return values[i++];
  };
}

function batch(settings: Omit<BatchSettings, 'start' | 'end'> & { start?: number; end?: number }): number[] {
  const [h, w, c] = settings.inputShape;
  const start = settings.start ?? 0;
  const end = settings.end ?? settings.split.count;
  return [...fillBatch({ ...settings, start, end }, new Float32Array((end - start) * h * w * c))];
}

// One 2x3 RGB image whose red byte is 10 * (pixel index + 1), green 100 + pixel, blue 200 + pixel.
const tiny: Split = {
  images: Uint8Array.from(
    { length: 18 },
    (_, i) => [10 * (Math.floor(i / 3) + 1), 100 + Math.floor(i / 3), 200 + Math.floor(i / 3)][i % 3],
  ),
  labels: new Uint8Array([4]),
  count: 1,
};
const tinyShape = [2, 3, 3];
const red = (floats: number[]) => floats.filter((_, i) => i % 3 === 0).map((v) => Math.round(v * 255));

test('without normalise or augment the floats are bit-identical to byte / 255, in index order', () => {
  const bytes = Uint8Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => (i * 97) & 255);
  const split: Split = { images: bytes, labels: new Uint8Array(4), count: 4 };
  const out = new Float32Array(2 * 192);
  fillBatch({ split, indices: [3, 0, 2, 1], start: 1, end: 3, inputShape: [8, 8, 3] }, out);
  const expected = new Float32Array(2 * 192);
  for (let j = 0; j < 192; j++) {
    expected[j] = bytes[0 * 192 + j] / 255;
    expected[192 + j] = bytes[2 * 192 + j] / 255;
  }
  assert.deepEqual(Buffer.from(out.buffer), Buffer.from(expected.buffer));
  assert.ok(new Set(bytes).size === 256, 'every byte value is covered');
  assert.throws(() => fillBatch({ split, indices: null, start: 0, end: 3, inputShape: [8, 8, 3] }, out), RangeError);
});

test('channel statistics of a known split, and normalised batches with mean 0 and std 1', () => {
  // Two 1x2 RGB images: red 0, 255, 0, 255; green all 51; blue 0, 0, 0, 102.
  const split: Split = {
    images: new Uint8Array([0, 51, 0, 255, 51, 0, 0, 51, 0, 255, 51, 102]),
    labels: new Uint8Array(2),
    count: 2,
  };
  const stats = channelStats(split, [1, 2, 3]);
  assert.deepEqual(
    stats.mean.map((m) => +m.toFixed(12)),
    [0.5, 0.2, 0.1],
  );
  // Red: half 0, half 1 -> std 0.5; green: constant -> the floor of one grey level; blue: {0,0,0,0.4} -> sqrt(0.03).
  assert.deepEqual(
    stats.std.map((s) => +s.toFixed(12)),
    [0.5, +(1 / 255).toFixed(12), +Math.sqrt(0.03).toFixed(12)],
  );

  const floats = batch({ split, indices: null, inputShape: [1, 2, 3], normalise: stats });
  for (const c of [0, 2]) {
    const values = floats.filter((_, i) => i % 3 === c);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(mean) < 1e-6 && Math.abs(std - 1) < 1e-6, `channel ${c}: mean ${mean}, std ${std}`);
  }
  assert.deepEqual(
    floats.filter((_, i) => i % 3 === 1),
    [0, 0, 0, 0],
  );
});

test('a flip mirrors each row; a crop shifts with zero padding; draws are dy, dx, flip per image', () => {
  // Red plane of the tiny image: row 0 = 10 20 30, row 1 = 40 50 60.
  const noCrop = (flip: number) => scripted([0, 0, flip]);
  assert.deepEqual(
    red(
      batch({ split: tiny, indices: null, inputShape: tinyShape, augment: { pad: 0, flip: true, rng: noCrop(0.49) } }),
    ),
    [30, 20, 10, 60, 50, 40],
  );
  assert.deepEqual(
    red(
      batch({ split: tiny, indices: null, inputShape: tinyShape, augment: { pad: 0, flip: true, rng: noCrop(0.5) } }),
    ),
    [10, 20, 30, 40, 50, 60],
  );
  // flip: false still draws the third number but never mirrors.
  assert.deepEqual(
    red(batch({ split: tiny, indices: null, inputShape: tinyShape, augment: { pad: 0, flip: false, rng: noCrop(0) } })),
    [10, 20, 30, 40, 50, 60],
  );

  // pad 1: offsets 0..2 of the padded image; dy draw 0 -> up one row of padding, dx draw 0.99 -> 2 (one column right).
  const shifted = batch({
    split: tiny,
    indices: null,
    inputShape: tinyShape,
    augment: { pad: 1, flip: false, rng: scripted([0, 0.99, 0.9]) },
  });
  assert.deepEqual(red(shifted), [0, 0, 0, 20, 30, 0]);
  assert.deepEqual(shifted.slice(0, 9), [0, 0, 0, 0, 0, 0, 0, 0, 0], 'padding is 0 in every channel');
  // Crop first, then mirror: the same crop, flipped.
  const both = batch({
    split: tiny,
    indices: null,
    inputShape: tinyShape,
    augment: { pad: 1, flip: true, rng: scripted([0, 0.99, 0.1]) },
  });
  assert.deepEqual(red(both), [0, 0, 0, 0, 30, 20]);
});

test('padding after normalisation is the mean colour (0); a seed reproduces a batch; three draws per image', () => {
  const normalise = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const padded = batch({
    split: tiny,
    indices: null,
    inputShape: tinyShape,
    normalise,
    augment: { pad: 1, flip: false, rng: scripted([0.99, 0.5, 0]) },
  });
  // dy = +1: the output's bottom row reads below the image, which is padding.
  assert.deepEqual(padded.slice(9), [0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(padded[0], Math.fround((40 / 255 - 0.5) / 0.25));

  const images = Uint8Array.from({ length: 6 * 16 * 16 * 3 }, (_, i) => (i * 31 + 7) & 255);
  const split: Split = { images, labels: new Uint8Array(6), count: 6 };
  const settings = (rng: () => number): BatchSettings => ({
    split,
    indices: [5, 4, 3, 2, 1, 0],
    start: 0,
    end: 6,
    inputShape: [16, 16, 3],
    normalise,
    augment: { pad: 4, flip: true, rng },
  });
  const a = fillBatch(settings(seedrandom('aug')), new Float32Array(6 * 768));
  const b = fillBatch(settings(seedrandom('aug')), new Float32Array(6 * 768));
  const c = fillBatch(settings(seedrandom('other')), new Float32Array(6 * 768));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const used = seedrandom('aug');
  fillBatch(settings(used), new Float32Array(6 * 768));
  const fresh = seedrandom('aug');
  for (let i = 0; i < 18; i++) fresh();
  assert.equal(used(), fresh(), 'six images draw exactly eighteen numbers');
});
