/**
 * Checking a data file against its published size and SHA-256, and remembering a success in a
 * `<file>.verified` stamp so a 2.6 GB archive is hashed once, not on every run.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './idx';

/** One file of a data set as its publisher gives it. */
export interface FileSpec {
  /** File name in the cache folder, e.g. `cifar-10-binary.tar.gz`. */
  name: string;
  /** Canonical source. */
  url: string;
  /** Exact size in bytes. */
  bytes: number;
  /** Lower-case hex SHA-256 of the whole file. */
  sha256: string;
  /** The publisher's MD5, kept for people comparing with the source page; never trusted alone. */
  md5?: string;
}

export type VerifyResult =
  | { status: 'ok'; path: string; bytes: number; sha256: string; fromStamp: boolean }
  | { status: 'missing'; path: string }
  | { status: 'wrong-size'; path: string; expectedBytes: number; actualBytes: number }
  | { status: 'wrong-checksum'; path: string; bytes: number; expectedSha256: string; actualSha256: string };

/** Called while hashing with the bytes read so far and the file size. */
export type HashProgress = (done: number, total: number) => void;

export interface VerifyOptions {
  /** Hash even when a valid stamp says the file was verified before. */
  rehash?: boolean;
  onProgress?: HashProgress;
}

interface Stamp {
  sha256: string;
  bytes: number;
  mtimeMs: number;
}

const READ_CHUNK = 1 << 20;

/** SHA-256 and size of a file, streamed (constant memory whatever the size). */
export async function hashFile(file: string, onProgress?: HashProgress): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    const total = (await fs.promises.stat(file)).size;
    for await (const chunk of fs.createReadStream(file, { highWaterMark: READ_CHUNK })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      onProgress?.(bytes, total);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(`${path.basename(file)}: cannot read ${file} (${code ?? (e as Error).message})`);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Checks `file` against `spec`. A wrong size is reported without reading the file; a valid
 * stamp (see isVerified) spares the hash unless `rehash` is set. Success writes a fresh stamp,
 * a checksum mismatch deletes any stamp.
 */
export async function verifyFile(file: string, spec: FileSpec, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const stat = await statOrNull(file);
  if (stat === null) {
    await removeStamp(file);
    return { status: 'missing', path: file };
  }
  if (!stat.isFile()) throw new DataError(`${spec.name}: ${file} is not a regular file`);
  if (stat.size !== spec.bytes) {
    await removeStamp(file);
    return { status: 'wrong-size', path: file, expectedBytes: spec.bytes, actualBytes: stat.size };
  }
  if (!opts.rehash && (await isVerified(file, spec))) {
    return { status: 'ok', path: file, bytes: stat.size, sha256: spec.sha256, fromStamp: true };
  }
  const { bytes, sha256 } = await hashFile(file, opts.onProgress);
  if (sha256 !== spec.sha256.toLowerCase()) {
    await removeStamp(file);
    return { status: 'wrong-checksum', path: file, bytes, expectedSha256: spec.sha256, actualSha256: sha256 };
  }
  await writeStamp(file, sha256, { bytes, mtimeMs: stat.mtimeMs });
  return { status: 'ok', path: file, bytes, sha256, fromStamp: false };
}

/**
 * True when `<file>.verified` vouches for the file as it is now: the file's size and mtime are
 * the stamp's and the stamp's SHA-256 is the spec's. A stamp that fails this is deleted.
 */
export async function isVerified(file: string, spec: FileSpec): Promise<boolean> {
  const stampFile = stampPath(file);
  let stamp: Partial<Stamp>;
  try {
    stamp = JSON.parse(await fs.promises.readFile(stampFile, 'utf8')) as Partial<Stamp>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    await removeStamp(file); // unreadable or not JSON: worthless
    return false;
  }
  const stat = await statOrNull(file);
  const valid =
    stat?.isFile() === true &&
    stamp !== null &&
    typeof stamp === 'object' &&
    stamp.sha256 === spec.sha256.toLowerCase() &&
    stamp.bytes === spec.bytes &&
    stat.size === stamp.bytes &&
    stat.mtimeMs === stamp.mtimeMs;
  if (!valid) await removeStamp(file);
  return valid;
}

/** One line for a person: what is wrong with the file, or that it is fine. */
export function describeVerifyResult(name: string, r: VerifyResult): string {
  switch (r.status) {
    case 'ok':
      return `${name}: ok (${r.bytes} bytes, sha256 ${r.sha256})`;
    case 'missing':
      return `${name}: missing (${r.path})`;
    case 'wrong-size':
      return `${name}: wrong size: expected ${r.expectedBytes} bytes, found ${r.actualBytes} (${r.path})`;
    case 'wrong-checksum':
      return `${name}: wrong checksum: expected sha256 ${r.expectedSha256}, found ${r.actualSha256} (${r.path})`;
  }
}

/** The stamp that remembers a verified file. */
export function stampPath(file: string): string {
  return `${file}.verified`;
}

/**
 * Records that `file` has this SHA-256, provided it is still the file that was hashed: `hashed`
 * is its size (and mtime, when known) at hashing time; a file that changed since gets no stamp.
 * Written to a temporary name and renamed, so a crash never leaves a half stamp. Best effort: a
 * read-only or full cache only costs a re-hash next time, so a failure here is not an error.
 */
export async function writeStamp(
  file: string,
  sha256: string,
  hashed: { bytes: number; mtimeMs?: number },
): Promise<void> {
  const tmp = `${stampPath(file)}.tmp-${process.pid}`;
  try {
    const stat = await fs.promises.stat(file);
    if (stat.size !== hashed.bytes || (hashed.mtimeMs !== undefined && stat.mtimeMs !== hashed.mtimeMs)) return;
    const stamp: Stamp = { sha256: sha256.toLowerCase(), bytes: stat.size, mtimeMs: stat.mtimeMs };
    await fs.promises.writeFile(tmp, `${JSON.stringify(stamp)}\n`);
    await fs.promises.rename(tmp, stampPath(file));
  } catch {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** Deletes the stamp of `file`, if any. */
export async function removeStamp(file: string): Promise<void> {
  await fs.promises.rm(stampPath(file), { force: true }).catch(() => undefined);
}

async function statOrNull(file: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new DataError(`${path.basename(file)}: cannot read ${file} (${code ?? (e as Error).message})`);
  }
}
