/**
 * The data set store: where each data set's files live in the cache folder, what state they are
 * in, and how they become ready to load (download, verify, extract). Layout:
 *   <root>/<name>/<archive>             the published archive, as downloaded or put there by hand
 *   <root>/<name>/<archive>.verified    stamp: size, mtime and SHA-256 of a verified archive
 *   <root>/<name>/<extracted>/          the members evolve uses, extracted from that archive
 *   <root>/<name>/<extracted>/.evolve-source.json   the SHA-256 of the archive they came from
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './idx';
import type { DatasetModule } from './sets/types';
import { type FileSpec, type VerifyResult, isVerified, verifyFile } from './verify';
import { type DownloadProgress, download } from './download';
import { extractTarGz } from './extract';
import { CacheLock, describeErrno } from './cacheLock';

const SOURCE_STAMP = '.evolve-source.json';

/** Set to 1 to use archives or extracted files whose checksum does not match (printed on every run). */
export const SKIP_CHECKSUM_ENV = 'EVOLVE_SKIP_CHECKSUM';

export function skipChecksumRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[SKIP_CHECKSUM_ENV] === '1';
}

export function datasetDir(root: string, ds: DatasetModule): string {
  return path.join(root, ds.name);
}

export function archiveSpec(ds: DatasetModule): FileSpec {
  if (!ds.archive) throw new Error(`${ds.name} has no archive`);
  return { ...ds.archive };
}

function archivePath(root: string, ds: DatasetModule): string {
  return path.join(datasetDir(root, ds), archiveSpec(ds).name);
}

function extractedPath(root: string, ds: DatasetModule): string {
  return path.join(datasetDir(root, ds), ds.extracted);
}

export type ArchiveState = 'embedded' | 'missing' | 'unverified' | 'verified';

export interface DatasetState {
  archive: ArchiveState;
  /** The extracted members are there and came from the archive as it is now (or no archive to compare). */
  extracted: boolean;
  /** Bytes of everything in the data set's folder. */
  bytesOnDisk: number;
  dir: string;
}

/** What is on disk for `ds`, without hashing anything (a stamp says whether it was verified). */
export async function datasetState(root: string, ds: DatasetModule): Promise<DatasetState> {
  const dir = datasetDir(root, ds);
  if (!ds.archive) return { archive: 'embedded', extracted: true, bytesOnDisk: 0, dir };
  const file = archivePath(root, ds);
  const present = fs.existsSync(file);
  const verified = present && (await isVerified(file, archiveSpec(ds)));
  return {
    archive: !present ? 'missing' : verified ? 'verified' : 'unverified',
    extracted: extractedFrom(root, ds) !== undefined,
    bytesOnDisk: folderBytes(dir, (name) => !isLeftover(name)),
    dir,
  };
}

/** The SHA-256 recorded for the extracted folder, or undefined when there is none (or no folder). */
function extractedFrom(root: string, ds: DatasetModule): string | undefined {
  try {
    const stamp = JSON.parse(fs.readFileSync(path.join(extractedPath(root, ds), SOURCE_STAMP), 'utf8')) as {
      sha256?: unknown;
    };
    return typeof stamp.sha256 === 'string' ? stamp.sha256 : undefined;
  } catch {
    return undefined;
  }
}

function folderBytes(dir: string, counted: (name: string) => boolean = () => true): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries.filter((x) => counted(x.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += folderBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/** One line for a verification that failed, naming the checksum the archive must have. */
export function verifyProblem(r: VerifyResult, spec: FileSpec): string | undefined {
  switch (r.status) {
    case 'ok':
      return undefined;
    case 'missing':
      return `${spec.name}: not in ${path.dirname(r.path)}`;
    case 'wrong-size':
      return (
        `${r.path}: ${r.actualBytes} bytes, the published ${spec.name} has ${spec.bytes} (SHA-256 ${spec.sha256}): ` +
        'not the published archive'
      );
    case 'wrong-checksum':
      return (
        `${r.path}: SHA-256 ${r.actualSha256} does not match the published ${spec.name}'s ${spec.sha256}: ` +
        'not the published archive'
      );
  }
}

export interface PrepareOptions {
  root: string;
  /** Use an archive or extracted files that do not verify (EVOLVE_SKIP_CHECKSUM=1). */
  skipChecksum: boolean;
  /** Download the archive when it is missing (false: say where to get it). */
  download: boolean;
  /** A mirror of the archive's URL. */
  url?: string;
  /** Download attempts after the first (default: the downloader's). */
  retries?: number;
  log: (line: string) => void;
  onDownload?: (p: DownloadProgress) => void;
  onHash?: (done: number, total: number) => void;
}

export interface Prepared {
  /** The folder to hand to ds.load(). */
  dir: string;
  /** The archive's SHA-256 when it verified; undefined when the checksum was skipped. */
  sha256?: string;
}

/**
 * Makes `ds` ready to load: downloads the archive if it is missing (and allowed), verifies it
 * (a stamp spares re-hashing), and extracts the members evolve uses if they are not there yet
 * or came from another archive. With `skipChecksum`, a mismatch is one printed line, not an error.
 */
export async function prepareDataset(ds: DatasetModule, o: PrepareOptions): Promise<Prepared> {
  const dir = datasetDir(o.root, ds);
  if (!ds.archive) return { dir };
  const spec = archiveSpec(ds);
  const file = archivePath(o.root, ds);
  if (!fs.existsSync(file)) {
    if (fs.existsSync(extractedPath(o.root, ds))) return extractedOnly(ds, o);
    if (!o.download) {
      throw new DataError(
        `${ds.name}: ${spec.name} (${(spec.bytes / 1e6).toFixed(0)} MB) is not in ${dir}; put it there, or run: ` +
          `evolve datasets download ${ds.name} (from ${spec.url}; --url MIRROR for a mirror)`,
      );
    }
    o.log(`evolve: downloading ${ds.title} (${(spec.bytes / 1e6).toFixed(0)} MB) from ${o.url ?? spec.url} to ${dir}`);
    await download(spec, { dir, url: o.url, retries: o.retries, onProgress: o.onDownload, log: o.log });
  }
  const r = await verifyFile(file, spec, { onProgress: o.onHash });
  const problem = verifyProblem(r, spec);
  if (problem && !o.skipChecksum) {
    throw new DataError(
      `${problem}; delete it and run: evolve datasets download ${ds.name} ` +
        `(or set ${SKIP_CHECKSUM_ENV}=1 to use it anyway)`,
    );
  }
  if (problem) o.log(`evolve: ${SKIP_CHECKSUM_ENV}=1: ${problem}; using it anyway`);
  const stat = fs.statSync(file);
  const source = r.status === 'ok' ? r.sha256 : `unverified:${stat.size}:${stat.mtimeMs}`;
  await ensureExtracted(ds, o, file, source);
  return { dir, sha256: r.status === 'ok' ? r.sha256 : undefined };
}

/** Extracted files with no archive beside them: usable only when the checksum is skipped. */
function extractedOnly(ds: DatasetModule, o: PrepareOptions): Prepared {
  const dir = datasetDir(o.root, ds);
  const extracted = extractedPath(o.root, ds);
  const spec = archiveSpec(ds);
  if (!o.skipChecksum) {
    throw new DataError(
      `${extracted}: extracted files without ${spec.name} to verify them against; ` +
        `put the archive in ${dir}, or set ${SKIP_CHECKSUM_ENV}=1 to use the files unverified`,
    );
  }
  o.log(`evolve: ${SKIP_CHECKSUM_ENV}=1: using ${extracted} without verifying it against ${spec.name}'s SHA-256`);
  return { dir };
}

/** A staging folder of an extraction (`.extract-PID`, `.extract-PID.tmp-PID`): in use or left by a killed one. */
function isLeftover(name: string): boolean {
  return /^\.extract-\d+/.test(name);
}

/**
 * Extracts the archive's kept members into `<extracted>/` unless they are there from `source`.
 * One extraction at a time per data set (a lock); its holder first removes what killed ones left.
 */
async function ensureExtracted(ds: DatasetModule, o: PrepareOptions, archive: string, source: string): Promise<void> {
  const dir = datasetDir(o.root, ds);
  const extracted = extractedPath(o.root, ds);
  const leftovers = (): string[] => fs.readdirSync(dir).filter(isLeftover);
  if (extractedFrom(o.root, ds) === source && leftovers().length === 0) return;
  const lock = await CacheLock.acquire(extracted, { purpose: `extracting ${path.basename(archive)}`, log: o.log });
  try {
    // Holding the lock, no other extraction is at work: every staging folder is a leftover.
    for (const name of leftovers()) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    if (extractedFrom(o.root, ds) === source) return;
    await extractInto(ds, o, archive, source);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(`${extracted}: cannot write (${describeCode(e)}); nothing was extracted`);
  } finally {
    lock.release();
  }
}

async function extractInto(ds: DatasetModule, o: PrepareOptions, archive: string, source: string): Promise<void> {
  const dir = datasetDir(o.root, ds);
  const extracted = extractedPath(o.root, ds);
  const staging = path.join(dir, `.extract-${process.pid}`);
  o.log(`evolve: extracting ${ds.members.length} files of ${path.basename(archive)} into ${extracted}`);
  const keep = new Set(ds.members);
  try {
    await extractTarGz({ archive, dest: staging, keep: (member) => keep.has(member.replace(/^\.\//, '')) });
    const inner = path.join(staging, ds.extracted);
    for (const member of ds.members) {
      if (!fs.existsSync(path.join(staging, member))) throw new DataError(`${archive}: has no member ${member}`);
    }
    fs.writeFileSync(
      path.join(inner, SOURCE_STAMP),
      JSON.stringify({ sha256: source, archive: path.basename(archive) }),
    );
    fs.rmSync(extracted, { recursive: true, force: true });
    fs.renameSync(inner, extracted);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function describeCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return describeErrno(err.code) ?? err.message.split('\n')[0];
}
