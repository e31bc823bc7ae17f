import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError, parseIdx, readIdxFile } from '../src/data/idx';
import { defaultMnistDir } from '../src/data/mnist';

/** Builds an IDX buffer: header for `dims`, then `data` (or the exact number of zero bytes). */
function idx(dims: number[], data?: number[], dtype = 0x08): Uint8Array {
  const n = data ? data.length : dims.reduce((a, b) => a * b, 1);
  const buf = new Uint8Array(4 + 4 * dims.length + n);
  const view = new DataView(buf.buffer);
  buf[2] = dtype;
  buf[3] = dims.length;
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d);
  });
  if (data) buf.set(data, 4 + 4 * dims.length);
  return buf;
}

function throwsData(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'message is one line');
    return true;
  });
}

test('parses real MNIST files', () => {
  const dir = defaultMnistDir();
  const trainImages = readIdxFile(path.join(dir, 'train-images-idx3-ubyte'));
  assert.deepEqual(trainImages.dims, [60000, 28, 28]);
  assert.equal(trainImages.data.length, 60000 * 784);
  const trainLabels = readIdxFile(path.join(dir, 'train-labels-idx1-ubyte'));
  const testLabels = readIdxFile(path.join(dir, 't10k-labels-idx1-ubyte'));
  assert.deepEqual(trainLabels.dims, [60000]);
  assert.deepEqual(testLabels.dims, [10000]);
  assert.equal(trainLabels.data[0], 5);
  assert.equal(testLabels.data[0], 7);
  assert.ok(trainLabels.data.every((l) => l <= 9));
  assert.ok(testLabels.data.every((l) => l <= 9));
  assert.deepEqual(readIdxFile(path.join(dir, 't10k-images-idx3-ubyte')).dims, [10000, 28, 28]);
});

test('parses hand-built rank 1, 2 and 3 buffers', () => {
  const r1 = parseIdx(idx([3], [7, 8, 9]), 'r1');
  assert.deepEqual(r1.dims, [3]);
  assert.deepEqual([...r1.data], [7, 8, 9]);

  const buf2 = idx([2, 3], [1, 2, 3, 4, 5, 6]);
  const r2 = parseIdx(buf2, 'r2');
  assert.deepEqual(r2.dims, [2, 3]);
  assert.deepEqual([...r2.data], [1, 2, 3, 4, 5, 6]);
  assert.equal(r2.data.buffer, buf2.buffer, 'data is a view, not a copy');
  assert.equal(r2.data.byteOffset, 12);

  const r3 = parseIdx(idx([2, 1, 2], [0, 255, 128, 3]), 'r3');
  assert.deepEqual(r3.dims, [2, 1, 2]);
  assert.deepEqual([...r3.data], [0, 255, 128, 3]);

  // Works on a view that does not start at offset 0 of its ArrayBuffer.
  const padded = new Uint8Array(5 + buf2.length);
  padded.set(buf2, 5);
  assert.deepEqual([...parseIdx(padded.subarray(5), 'off').data], [1, 2, 3, 4, 5, 6]);

  assert.deepEqual(parseIdx(idx([0, 28, 28]), 'empty').dims, [0, 28, 28]);
});

test('rejects bad headers', () => {
  const bad = idx([2], [1, 2]);
  bad.set([0x12, 0x34, 0x56, 0x78]);
  throwsData(
    () => parseIdx(bad, 'train-images-idx3-ubyte'),
    /^train-images-idx3-ubyte: not an IDX file \(bad magic 0x12345678\)$/,
  );
  throwsData(() => parseIdx(idx([2], [1, 2], 0x0d), 'f.idx'), /^f\.idx: unsupported IDX data type 0x0d/);
  throwsData(
    () => parseIdx(new Uint8Array([0, 0, 8]), 'short'),
    /^short: truncated header: expected at least 4 bytes, found 3$/,
  );
  throwsData(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'rank0'), /^rank0: unsupported rank 0/);
  throwsData(() => parseIdx(new Uint8Array([0, 0, 8, 5]), 'rank5'), /^rank5: unsupported rank 5/);
  throwsData(
    () => parseIdx(idx([60000, 28, 28]).subarray(0, 10), 'hdr'),
    /^hdr: truncated header: rank 3 needs 16 bytes, found 10$/,
  );
});

test('rejects truncated data and trailing bytes', () => {
  const full = idx([2, 3], [1, 2, 3, 4, 5, 6]);
  throwsData(
    () => parseIdx(full.subarray(0, full.length - 2), 'cut'),
    /^cut: truncated: expected 6 bytes of data, found 4$/,
  );
  const longer = new Uint8Array(full.length + 3);
  longer.set(full);
  throwsData(() => parseIdx(longer, 'long'), /^long: 3 trailing bytes after data/);
});

test('readIdxFile wraps missing files and reports corrupt files by name', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'idx-test-'));
  try {
    throwsData(() => readIdxFile(path.join(tmp, 'nope-idx1-ubyte')), /^nope-idx1-ubyte: file not found/);
    const file = path.join(tmp, 'cut-idx1-ubyte');
    fs.writeFileSync(file, idx([10], [1, 2, 3]));
    throwsData(() => readIdxFile(file), /^cut-idx1-ubyte: truncated: expected 10 bytes of data, found 3$/);
    fs.writeFileSync(file, idx([3], [1, 2, 3]));
    assert.deepEqual([...readIdxFile(file).data], [1, 2, 3]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
