/**
 * Safe, streaming extraction of a data set's .tar.gz. Every entry is checked as node-tar parses
 * it: an absolute path, a `..` component, a link or a device refuses the whole archive. Only the
 * members the caller keeps are written (STL-10's 2.6 GB are mostly an unlabelled split we never
 * use), into `<dest>.tmp-<pid>` renamed to `dest` at the end, so `dest` is complete or absent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Unpack } from 'tar';
import { DataError } from './idx';
import { processAlive } from '../processes';

/** An archive that cannot be extracted; one line starting with the archive's name. Exit code 1. */
export class ExtractError extends DataError {
  constructor(message: string) {
    super(message);
    this.name = 'ExtractError';
  }
}

export interface ArchiveEntry {
  /** Path inside the archive, without a leading `./`. */
  path: string;
  /** 'File', 'Directory', ... as node-tar names header types. */
  type: string;
  size: number;
  /** Whether it is written (a file the caller keeps). */
  kept: boolean;
}

export interface ExtractOptions {
  archive: string;
  /** Folder that will hold the kept members; replaced as a whole if it exists. */
  dest: string;
  /** Which files to write, by their path inside the archive (e.g. `cifar-10-batches-bin/test_batch.bin`). */
  keep: (memberPath: string) => boolean;
  /** Called for every entry, kept or not, as it is reached. */
  onEntry?: (entry: ArchiveEntry) => void;
  /** Compressed bytes read so far, for a progress bar. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Header types that hold a plain file's bytes or a folder; anything else is refused. */
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const DIR_TYPES = new Set(['Directory', 'GNUDumpDir']);

/** Why an entry must not be extracted, or null when it is a plain file or folder inside the archive. */
export function unsafeEntryReason(entryPath: string, type: string): string | null {
  if (type === 'SymbolicLink' || type === 'Link') return `is a ${type === 'Link' ? 'hard link' : 'symbolic link'}`;
  if (!FILE_TYPES.has(type) && !DIR_TYPES.has(type)) return `has unsupported type ${type}`;
  if (entryPath === '' || entryPath.includes('\0')) return 'has an empty or invalid name';
  if (path.posix.isAbsolute(entryPath) || path.win32.isAbsolute(entryPath)) return 'has an absolute path';
  if (entryPath.split(/[\\/]/).includes('..')) return "has a '..' component";
  return null;
}

/**
 * Extracts the kept members of a .tar.gz into `dest` and resolves to their archive paths, in
 * archive order. Any refused entry, corrupt data or write error rejects with an ExtractError,
 * removes the temporary folder and leaves `dest` as it was.
 */
export async function extractTarGz(opts: ExtractOptions): Promise<string[]> {
  const name = path.basename(opts.archive);
  const dest = path.resolve(opts.dest);
  const tmp = `${dest}.tmp-${process.pid}`;
  const total = await archiveSize(opts.archive, name);
  await removeAbandoned(dest);
  try {
    await fs.promises.mkdir(tmp, { recursive: true });
    const kept = await unpackInto(opts, tmp, total);
    await replaceFolder(tmp, dest);
    return kept;
  } catch (e) {
    await fs.promises.rm(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    throw e instanceof ExtractError
      ? e
      : new ExtractError(`${name}: cannot extract into ${dest} (${describeError(e)})`);
  }
}

async function archiveSize(archive: string, name: string): Promise<number> {
  try {
    return (await fs.promises.stat(archive)).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExtractError(
      code === 'ENOENT' ? `${name}: file not found (${archive})` : `${name}: cannot read ${archive} (${code})`,
    );
  }
}

/** Streams the archive through node-tar into `tmp`, checking each entry before anything is written. */
async function unpackInto(opts: ExtractOptions, tmp: string, total: number): Promise<string[]> {
  const name = path.basename(opts.archive);
  const kept: string[] = [];
  const state: { refusal: ExtractError | null } = { refusal: null };
  const unpack: Unpack = new Unpack({
    cwd: tmp,
    strict: true, // every warning (bad header, truncated data, write failure) is an error
    preservePaths: false,
    filter: (entryPath, entry) => {
      const type = 'type' in entry ? String(entry.type) : 'File';
      const size = 'size' in entry ? Number(entry.size) : 0;
      const verdict = judgeEntry(opts, name, entryPath, type);
      if (verdict instanceof ExtractError) {
        state.refusal ??= verdict;
        unpack.abort(verdict); // stops parsing: no later entry is even looked at
        return false;
      }
      if (verdict.keep) kept.push(verdict.clean);
      opts.onEntry?.({ path: verdict.clean, type, size, kept: verdict.keep });
      return verdict.keep;
    },
  });
  const source = fs.createReadStream(opts.archive, { highWaterMark: 1 << 20 });
  let done = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      opts.onProgress?.({ done, total });
      cb(null, chunk);
    },
  });
  const gunzip = zlib.createGunzip();
  // At the archive's end, stop reading: whatever follows is never parsed.
  const tarEnd = new TarEnd(() => source.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      unpack.on('error', reject);
      source.on('error', reject);
      gunzip.on('error', reject);
      unpack.on('close', () => resolve());
      source
        .pipe(meter)
        .pipe(gunzip)
        .pipe(tarEnd)
        .pipe(unpack as unknown as NodeJS.WritableStream);
    });
  } catch (e) {
    source.destroy();
    unpack.abort(e as Error); // a write error does not stop node-tar by itself: stop it before cleaning up
    throw state.refusal ?? archiveError(name, e);
  }
  return kept;
}

/** A refusal for an unsafe entry, else whether to write it and its path without a leading `./`. */
function judgeEntry(
  opts: ExtractOptions,
  name: string,
  entryPath: string,
  type: string,
): ExtractError | { keep: boolean; clean: string } {
  const reason = unsafeEntryReason(entryPath, type);
  if (reason !== null)
    return new ExtractError(`${name}: refused: entry ${JSON.stringify(entryPath)} ${reason}; nothing was extracted`);
  const clean = entryPath.replace(/^(\.\/)+/, '');
  // Folders are made as the kept files need them; an empty one is of no use to a data set.
  return { keep: FILE_TYPES.has(type) && opts.keep(clean), clean };
}

/** A one-line error for corrupt data or a failed write, naming the member when there is one. */
function archiveError(name: string, e: unknown): ExtractError {
  const err = e as NodeJS.ErrnoException & { entry?: { path?: string }; tarCode?: string };
  const member = err.entry?.path ? ` ${err.entry.path}` : '';
  if (err.code === 'ENOSPC')
    return new ExtractError(`${name}: cannot write${member} (no space left on device); nothing was extracted`);
  if (
    err.code === 'Z_DATA_ERROR' ||
    err.code === 'Z_BUF_ERROR' ||
    err.tarCode === 'TAR_BAD_ARCHIVE' ||
    err.tarCode === 'TAR_ABORT'
  ) {
    return new ExtractError(`${name}: corrupt or truncated archive (${err.message}); nothing was extracted`);
  }
  return new ExtractError(`${name}: cannot extract${member} (${describeError(e)}); nothing was extracted`);
}

/**
 * Removes `<dest>.tmp-<pid>` and `<dest>.old-<pid>` folders whose process is gone (an extraction
 * stopped by Ctrl-C or a crash), so interrupted runs do not pile up gigabytes beside the cache.
 */
async function removeAbandoned(dest: string): Promise<void> {
  const parent = path.dirname(dest);
  const pattern = new RegExp(`^${escapeRegExp(path.basename(dest))}\\.(tmp|old)-(\\d+)$`);
  const names = await fs.promises.readdir(parent).catch(() => [] as string[]);
  for (const n of names) {
    const m = pattern.exec(n);
    if (m === null) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && processAlive(pid)) continue; // another extraction is at work
    await fs.promises.rm(path.join(parent, n), { recursive: true, force: true });
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Puts `tmp` where `dest` is; an old `dest` is moved aside first and deleted after, never half-replaced. */
async function replaceFolder(tmp: string, dest: string): Promise<void> {
  const old = `${dest}.old-${process.pid}`;
  const hadDest = fs.existsSync(dest);
  if (hadDest) await fs.promises.rename(dest, old);
  try {
    await fs.promises.rename(tmp, dest);
  } catch (e) {
    if (hadDest) await fs.promises.rename(old, dest);
    throw e;
  }
  if (hadDest) await fs.promises.rm(old, { recursive: true, force: true });
}

function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && err.code !== err.message ? `${err.code}: ` : '') + (err.message ?? String(e)).split('\n')[0];
}

const BLOCK = 512;

/**
 * Passes a tar stream on up to its end-of-archive marker (two zero blocks where a header is due)
 * and ends there, calling `onEnd`. What follows (a tape's zero padding, anything appended) is not
 * read: node-tar would parse it block by block, minutes for a few hundred megabytes of zeros.
 * Entry sizes come from the ustar size field (octal or GNU base-256), or a pax header's `size`.
 */
class TarEnd extends Transform {
  private at = 0;
  private nextHeader = 0;
  private header = Buffer.alloc(0);
  private zeroBlocks = 0;
  private pax: Buffer[] | null = null;
  private paxSize: number | undefined;
  private ended = false;

  constructor(private readonly onEnd: () => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let i = 0;
    while (i < chunk.length && !this.ended) {
      if (this.at < this.nextHeader) {
        const body = chunk.subarray(i, i + Math.min(chunk.length - i, this.nextHeader - this.at));
        this.pax?.push(body);
        this.push(body);
        i += body.length;
        this.at += body.length;
        continue;
      }
      const part = chunk.subarray(i, i + BLOCK - this.header.length);
      this.header = Buffer.concat([this.header, part]);
      i += part.length;
      this.at += part.length;
      if (this.header.length === BLOCK) this.onHeader();
    }
    cb();
  }

  private onHeader(): void {
    const block = this.header;
    this.header = Buffer.alloc(0);
    this.push(block);
    if (this.pax !== null) this.paxSize = paxSize(Buffer.concat(this.pax)) ?? this.paxSize;
    this.pax = null;
    if (block.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) {
        this.ended = true;
        this.push(null);
        this.onEnd();
      }
      return;
    }
    this.zeroBlocks = 0;
    const type = String.fromCharCode(block[156]);
    const size = type === 'x' || type === 'g' ? ustarSize(block) : (this.paxSize ?? ustarSize(block));
    if (type !== 'x' && type !== 'g') this.paxSize = undefined;
    if (type === 'x' && size <= 1 << 20) this.pax = [];
    // A size we cannot read: pass everything on and let node-tar judge the archive.
    this.nextHeader = Number.isSafeInteger(size) ? this.at + Math.ceil(size / BLOCK) * BLOCK : Infinity;
  }
}

/** The size field of a tar header: octal digits, or big-endian base-256 when its first byte has bit 7. */
function ustarSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (let k = 1; k < field.length; k++) n = n * 256 + field[k];
    return n;
  }
  const digits = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return /^[0-7]+$/.test(digits) ? Number.parseInt(digits, 8) : digits === '' ? 0 : Number.NaN;
}

/** The `size` record of a pax extended header's body, if any. */
function paxSize(body: Buffer): number | undefined {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(body.toString('utf8'));
  return m ? Number(m[1]) : undefined;
}
