// Reading fixed-size-record data files (CIFAR-10, STL-10) and checking their sizes, with one-line errors.
import * as fs from 'node:fs';
import { DataError } from './idx';

/** The whole file as bytes (a view of the Buffer, no copy); a missing or unreadable file is a DataError. */
export function readDataFile(file: string): Uint8Array {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(`${file}: ${describeIoError(e as NodeJS.ErrnoException)}`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The file's size in bytes, read before the file itself so a loader can size its arrays first. */
export function dataFileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (e) {
    throw new DataError(`${file}: ${describeIoError(e as NodeJS.ErrnoException)}`);
  }
}

export interface RecordCheck {
  file: string;
  /** The file's size in bytes. */
  bytes: number;
  recordBytes: number;
  /** What one record is, for the message: 'record', 'image', 'label'. */
  what: string;
  /** The exact count the file must hold, or null to accept any whole, non-zero number of records. */
  expected: number | null;
}

/** The number of records in the file; a wrong size is one line with the expected and the actual size. */
export function countRecords(c: RecordCheck): number {
  if (c.expected !== null) {
    const want = c.expected * c.recordBytes;
    if (c.bytes !== want) {
      const records = c.recordBytes === 1 ? `${c.expected} ${c.what}s` : `${c.expected} ${c.what}s of ${c.recordBytes}`;
      throw new DataError(`${c.file}: truncated or corrupt: expected ${want} bytes (${records}), found ${c.bytes}`);
    }
    return c.expected;
  }
  if (c.bytes === 0 || c.bytes % c.recordBytes !== 0) {
    throw new DataError(
      `${c.file}: truncated or corrupt: ` +
        `expected a non-zero multiple of ${c.recordBytes} bytes (whole ${c.what}s), found ${c.bytes}`,
    );
  }
  return c.bytes / c.recordBytes;
}

/** A file whose size changed between the stat and the read (being written or replaced meanwhile). */
export function expectLength(file: string, data: Uint8Array, bytes: number): void {
  if (data.length !== bytes)
    throw new DataError(`${file}: expected ${bytes} bytes, found ${data.length} (the file changed while being read)`);
}

function describeIoError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'file not found';
  return `cannot read (${err.code ?? err.message})`;
}
