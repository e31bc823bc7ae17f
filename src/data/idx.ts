// Minimal parser for the IDX format used by MNIST (http://yann.lecun.com/exdb/mnist/).
// Only the unsigned-byte element type is supported, which is all MNIST needs.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A problem with a data file; the message is one line and starts with the file name. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;
const MAX_RANK = 4;

/** Parses an IDX buffer. `data` is a view into `buf` (no copy). `name` is used in error messages. */
export function parseIdx(buf: Uint8Array, name: string): IdxArray {
  const fail = (msg: string): never => {
    throw new DataError(`${name}: ${msg}`);
  };
  if (buf.length < 4) fail(`truncated header: expected at least 4 bytes, found ${buf.length}`);
  // DataView handles the big-endian header fields without copying.
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (buf[0] !== 0 || buf[1] !== 0) fail(`not an IDX file (bad magic 0x${hex(magic)})`);
  const dtype = buf[2];
  if (dtype !== UBYTE)
    fail(`unsupported IDX data type 0x${dtype.toString(16).padStart(2, '0')} (only 0x08 unsigned byte is supported)`);
  const rank = buf[3];
  if (rank < 1 || rank > MAX_RANK) fail(`unsupported rank ${rank} (expected 1..${MAX_RANK})`);
  const headerLen = 4 + 4 * rank;
  if (buf.length < headerLen) fail(`truncated header: rank ${rank} needs ${headerLen} bytes, found ${buf.length}`);

  const dims: number[] = [];
  let expected = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i);
    dims.push(d);
    expected *= d;
  }
  const found = buf.length - headerLen;
  if (found < expected) fail(`truncated: expected ${expected} bytes of data, found ${found}`);
  if (found > expected)
    fail(`${found - expected} trailing bytes after data (expected ${expected} bytes of data, found ${found})`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerLen, expected) };
}

/** Reads and parses an IDX file; I/O errors (e.g. ENOENT) become DataErrors too. */
export function readIdxFile(file: string): IdxArray {
  const name = path.basename(file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new DataError(`${name}: file not found (${file})`);
    throw new DataError(`${name}: cannot read ${file} (${err.code ?? err.message})`);
  }
  return parseIdx(buf, name);
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
