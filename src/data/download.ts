/**
 * Downloads one data file: streamed to `<name>.part`, hashed while it arrives, resumed with an
 * HTTP Range request after an interruption, retried with exponential backoff, aborted when it
 * stalls, and renamed to its final name only once its size and SHA-256 match. A bad download
 * never leaves a file that looks valid.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheLock, describeErrno, notWritableHint } from './cacheLock';
import { DataError } from './idx';
import { formatDuration } from './progressBar';
import { type FileSpec, removeStamp, verifyFile, writeStamp } from './verify';

/** A download that failed for good; one line starting with the file name. Exit code 1 (it is a DataError). */
export class DownloadError extends DataError {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

export interface DownloadProgress {
  /** Bytes of the file on disk so far, a resumed prefix included. */
  done: number;
  total: number;
  /** Over this attempt only, so a resumed prefix does not inflate it. */
  rateBytesPerSec: number;
  /** Seconds left at the current rate; Infinity before the first byte. */
  etaSec: number;
}

export interface DownloadOptions {
  /** Folder for the file (created if missing). */
  dir: string;
  /** Overrides spec.url, e.g. a mirror; the checksum is still the spec's. */
  url?: string;
  /** Further attempts after the first (default 3). */
  retries?: number;
  /** Abort an attempt that receives no byte for this long (default 30 s, or $EVOLVE_DOWNLOAD_STALL_SECONDS). */
  stallMs?: number;
  /**
   * Abort an attempt that receives fewer than `bytesPerSec` over any `windowMs` (default 1024 bytes/s
   * over 60 s, or $EVOLVE_DOWNLOAD_MIN_RATE and $EVOLVE_DOWNLOAD_RATE_SECONDS): a trickle ends too.
   */
  minRate?: { bytesPerSec: number; windowMs: number };
  /** First backoff delay; doubles on each retry (default 1 s: 1, 2, 4 s). */
  backoffMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** People's lines (retries, restarts); default silent. */
  log?: (line: string) => void;
}

const MAX_REDIRECTS = 5;
const PROGRESS_EVERY_MS = 100;

/** Everything one download needs, resolved once. */
interface Job {
  spec: FileSpec;
  url: string;
  dir: string;
  final: string;
  part: string;
  stallMs: number;
  minRate: { bytesPerSec: number; windowMs: number };
  log: (line: string) => void;
  onProgress?: (p: DownloadProgress) => void;
}

/** The environment variables that set the download limits (for tests, slow links and impatient people). */
export const DOWNLOAD_ENV = {
  stallSeconds: 'EVOLVE_DOWNLOAD_STALL_SECONDS',
  minRate: 'EVOLVE_DOWNLOAD_MIN_RATE',
  rateSeconds: 'EVOLVE_DOWNLOAD_RATE_SECONDS',
} as const;

/** A positive number from the environment, or `fallback` when unset. */
function envNumber(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new DataError(`${name}=${raw}: expected a number from 0 up`);
  return n;
}

/** A failure worth another attempt: the network, a stall, a server hiccup. */
class Transient extends Error {}

/**
 * Downloads `spec` into `opts.dir` and resolves to the final path. A file already there that
 * verifies is kept as it is; one that does not is replaced.
 */
export async function download(spec: FileSpec, opts: DownloadOptions): Promise<string> {
  const dir = path.resolve(opts.dir);
  const final = path.join(dir, spec.name);
  const job: Job = {
    spec,
    dir,
    final,
    part: `${final}.part`,
    url: opts.url ?? spec.url,
    stallMs: opts.stallMs ?? envNumber(DOWNLOAD_ENV.stallSeconds, 30) * 1000,
    minRate: opts.minRate ?? {
      bytesPerSec: envNumber(DOWNLOAD_ENV.minRate, 1024),
      windowMs: envNumber(DOWNLOAD_ENV.rateSeconds, 60) * 1000,
    },
    log: opts.log ?? (() => undefined),
    onProgress: opts.onProgress,
  };
  await makeDir(job);
  if (await alreadyThere(job)) return final;
  // One downloader per archive: the others wait, then use its file (or try themselves if it failed).
  const lock = await CacheLock.acquire(final, { purpose: `downloading ${spec.name}`, log: job.log });
  const stopOnSignal = interruptLine(job);
  try {
    if (await alreadyThere(job)) return final;
    for (const s of INTERRUPTS) process.on(s, stopOnSignal);
    const sha256 = await withRetries(job, opts.retries ?? 3, opts.backoffMs ?? 1000);
    await place(job, sha256, lock);
    return final;
  } finally {
    for (const s of INTERRUPTS) process.removeListener(s, stopOnSignal);
    lock.release();
  }
}

const INTERRUPTS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** A signal during the transfer: say what is kept and that the next download continues it, then exit 130. */
function interruptLine(job: Job): () => void {
  return () => {
    const kept = fs.existsSync(job.part) ? fs.statSync(job.part).size : 0;
    job.log(
      `evolve: interrupted: ${job.spec.name}: ${kept} of ${job.spec.bytes} bytes are kept in ${job.part}; ` +
        'the next download continues from there',
    );
    process.exit(130); // the exit hook removes the lock
  };
}

/** Renames the hashed `.part` to its final name and stamps it, only if it is still the bytes that were hashed. */
async function place(job: Job, sha256: string, lock: CacheLock): Promise<void> {
  const { spec, final } = job;
  if (sha256 !== spec.sha256.toLowerCase()) {
    await fs.promises.rm(job.part, { force: true });
    throw new DownloadError(
      `${spec.name}: wrong checksum: expected sha256 ${spec.sha256}, downloaded ${sha256} from ${job.url}; ` +
        'the download was deleted',
    );
  }
  const part = await fs.promises.stat(job.part).catch(() => null);
  if (!lock.isHeld() || part?.size !== spec.bytes) {
    throw new DownloadError(
      `${spec.name}: ${job.part} was changed by another process while it was downloaded; run the download again`,
    );
  }
  try {
    await fs.promises.rename(job.part, final);
  } catch (e) {
    await fs.promises.rm(job.part, { force: true });
    throw new DownloadError(`${spec.name}: cannot rename ${job.part} to ${final} (${codeOf(e)})`);
  }
  await writeStamp(final, sha256, { bytes: spec.bytes, mtimeMs: part.mtimeMs });
}

async function makeDir(job: Job): Promise<void> {
  try {
    await fs.promises.mkdir(job.dir, { recursive: true });
  } catch (e) {
    const cause = (e as NodeJS.ErrnoException).code === 'ENOENT' ? firstMkdirError(job.dir, e) : e;
    throw new DownloadError(
      `${job.spec.name}: cannot create the folder ${job.dir} (${codeOf(cause)})${notWritableHint(cause)}`,
    );
  }
}

/** A recursive mkdir says ENOENT on a read-only file system; making the first missing folder says why. */
function firstMkdirError(dir: string, fallback: unknown): unknown {
  let first = dir;
  while (path.dirname(first) !== first && !fs.existsSync(path.dirname(first))) first = path.dirname(first);
  try {
    fs.mkdirSync(first);
    return fallback;
  } catch (e) {
    return e;
  }
}

/** True when the final file is present and verified; an invalid one is deleted first. */
async function alreadyThere(job: Job): Promise<boolean> {
  const r = await verifyFile(job.final, job.spec);
  if (r.status === 'ok') return true;
  if (r.status !== 'missing') {
    job.log(
      `evolve: ${job.spec.name}: the file in ${job.dir} is not the published one (${r.status}); downloading it again`,
    );
    await fs.promises.rm(job.final, { force: true });
    await removeStamp(job.final);
  }
  return false;
}

async function withRetries(job: Job, retries: number, backoffMs: number): Promise<string> {
  let reason = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) {
      const wait = backoffMs * 2 ** (attempt - 1);
      job.log(`evolve: ${job.spec.name}: ${reason}; retry ${attempt} of ${retries} in ${formatWait(wait)}`);
      await sleep(wait);
    }
    try {
      return await attemptOnce(job);
    } catch (e) {
      if (e instanceof Transient) reason = e.message;
      else if (e instanceof DataError) throw e;
      else throw new DownloadError(`${job.spec.name}: cannot download ${job.url} (${codeOf(e)})`);
    }
  }
  const kept = await sizeOf(job.part);
  const resume = kept > 0 ? ` (or run again to resume from byte ${kept})` : '';
  const attempts = retries === 0 ? '1 attempt' : `${retries + 1} attempts`;
  throw new DownloadError(
    `${job.spec.name}: download failed after ${attempts} (${reason}); ` +
      `download ${job.url} by hand and put ${job.spec.name} in ${job.dir}${resume}`,
  );
}

/**
 * One attempt: hash what `.part` already holds, ask for the rest, append it. Resolves to the
 * SHA-256 of the whole file once all `spec.bytes` are on disk.
 */
async function attemptOnce(job: Job): Promise<string> {
  let { offset, hash } = await hashPrefix(job);
  if (offset === job.spec.bytes) return hash.digest('hex');
  const { res, watchdog } = await openResponse(job, job.url, offset, 0);
  if (res.statusCode === 200 && offset > 0) {
    job.log(`evolve: ${job.spec.name}: the server cannot resume; starting again from zero`);
    offset = 0;
    hash = createHash('sha256');
  }
  const done = await receiveBody(job, res, { offset, hash, watchdog });
  if (done < job.spec.bytes) throw new Transient(`connection closed after ${done} of ${job.spec.bytes} bytes`);
  return hash.digest('hex');
}

/** The bytes already in `.part` and their running hash; a `.part` longer than the file is dropped. */
async function hashPrefix(job: Job): Promise<{ offset: number; hash: Hash }> {
  const hash = createHash('sha256');
  let offset = await sizeOf(job.part);
  if (offset > job.spec.bytes) {
    job.log(`evolve: ${job.spec.name}: the partial download is longer than the file; starting again from zero`);
    await fs.promises.rm(job.part, { force: true });
    offset = 0;
  }
  if (offset === 0) return { offset, hash };
  let read = 0;
  try {
    // Only the first `offset` bytes: they are what the Range request continues.
    for await (const chunk of fs.createReadStream(job.part, { end: offset - 1, highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      read += (chunk as Buffer).length;
    }
  } catch (e) {
    throw new DownloadError(`${job.spec.name}: cannot read the partial download ${job.part} (${codeOf(e)})`);
  }
  return { offset: read, hash };
}

/** Watches one HTTP exchange for silence; `stalled` tells a stall from other errors. */
interface Watchdog {
  stalled: boolean;
}

/** GETs `url` (from byte `offset`), following redirects; resolves on a status worth reading. */
function openResponse(
  job: Job,
  url: string,
  offset: number,
  redirects: number,
): Promise<{ res: http.IncomingMessage; watchdog: Watchdog }> {
  const headers: Record<string, string> = { 'user-agent': 'evolve', 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const watchdog: Watchdog = { stalled: false };
  return new Promise((resolve, reject) => {
    // Inside the promise: a bad address (a redirect's too) rejects with one line instead of throwing.
    const target = parseUrl(job, url, redirects > 0);
    // No keep-alive agent: one connection per attempt, so an aborted one is never reused.
    const req = (target.protocol === 'https:' ? https : http).get(target, { headers, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location !== undefined) {
        res.resume();
        req.setTimeout(0);
        if (redirects >= MAX_REDIRECTS) {
          reject(new DownloadError(`${job.spec.name}: more than ${MAX_REDIRECTS} redirects from ${job.url}`));
          return;
        }
        const next = URL.parse(location, target.href)?.href ?? location;
        openResponse(job, next, offset, redirects + 1).then(resolve, reject);
        return;
      }
      try {
        checkStatus(job, res, offset);
        resolve({ res, watchdog });
      } catch (e) {
        res.resume();
        req.destroy();
        reject(e);
      }
    });
    // The socket's idle timer covers connecting, waiting for headers and every pause in the body.
    req.setTimeout(job.stallMs, () => {
      watchdog.stalled = true;
      req.destroy(new Transient(stallReason(job)));
    });
    req.on('error', (e) => reject(watchdog.stalled ? new Transient(stallReason(job)) : networkFailure(e)));
  });
}

function parseUrl(job: Job, url: string, redirected: boolean): URL {
  const via = redirected ? ` (a redirect from ${job.url})` : '';
  const target = URL.parse(url);
  if (target === null) throw new DownloadError(`${job.spec.name}: not a URL: ${JSON.stringify(url)}${via}`);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new DownloadError(`${job.spec.name}: only http and https URLs can be downloaded, not ${url}${via}`);
  }
  return target;
}

/** Throws unless the response carries the file (200) or the rest of it (206 from `offset`). */
function checkStatus(job: Job, res: http.IncomingMessage, offset: number): void {
  const status = res.statusCode ?? 0;
  const { name, bytes } = job.spec;
  if (status === 416 || (status === 206 && !rangeStartsAt(res, offset, bytes))) {
    // The server will not continue our .part: drop it so the next attempt starts from zero.
    fs.rmSync(job.part, { force: true });
    throw new Transient(`the server cannot resume from byte ${offset} (HTTP ${status})`);
  }
  if (status === 200) {
    const length = Number(res.headers['content-length'] ?? bytes);
    if (length !== bytes) {
      throw new DownloadError(
        `${name}: ${job.url} offers ${length} bytes, expected ${bytes}; it is not the published file`,
      );
    }
    return;
  }
  if (status === 206) return;
  if (status === 408 || status === 429 || status >= 500) throw new Transient(`HTTP ${status} from the server`);
  throw new DownloadError(
    `${name}: ${job.url} answered HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() +
      `; download it by hand and put ${name} in ${job.dir}`,
  );
}

/** True for `Content-Range: bytes <offset>-<last>/<bytes>` (or an unknown total). */
function rangeStartsAt(res: http.IncomingMessage, offset: number, bytes: number): boolean {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  return m !== null && Number(m[1]) === offset && (m[3] === '*' || Number(m[3]) === bytes);
}

/** Streams the body into `.part` (appending after `offset`), hashing and counting; resolves to the bytes on disk. */
async function receiveBody(
  job: Job,
  res: http.IncomingMessage,
  at: { offset: number; hash: Hash; watchdog: Watchdog },
): Promise<number> {
  const { bytes, name } = job.spec;
  let done = at.offset;
  const started = Date.now();
  let lastReport = 0;
  const report = (force: boolean): void => {
    const now = Date.now();
    if (!job.onProgress || (!force && now - lastReport < PROGRESS_EVERY_MS)) return;
    lastReport = now;
    const rate = (done - at.offset) / Math.max(1e-3, (now - started) / 1000);
    job.onProgress({ done, total: bytes, rateBytesPerSec: rate, etaSec: rate > 0 ? (bytes - done) / rate : Infinity });
  };
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      if (done > bytes) {
        cb(
          new DownloadError(
            `${name}: ${job.url} sent more than the expected ${bytes} bytes; it is not the published file`,
          ),
        );
        return;
      }
      at.hash.update(chunk);
      report(false);
      cb(null, chunk);
    },
  });
  const file = fs.createWriteStream(job.part, { flags: at.offset > 0 ? 'a' : 'w' });
  let diskError: unknown = null;
  file.on('error', (e) => {
    diskError = e;
  });
  report(true);
  const slow = watchRate(job, res, () => done);
  try {
    await pipeline(res, meter, file);
  } catch (e) {
    throw await bodyFailure(job, e, diskError, at.watchdog);
  } finally {
    clearInterval(slow);
  }
  report(true);
  return done;
}

/** Ends the transfer when a window brings fewer bytes than the minimum rate asks (a trickle never stalls). */
function watchRate(job: Job, res: http.IncomingMessage, received: () => number): NodeJS.Timeout {
  const { bytesPerSec, windowMs } = job.minRate;
  let before = received();
  const timer = setInterval(() => {
    const got = received() - before;
    before = received();
    if (got < (bytesPerSec * windowMs) / 1000) {
      res.destroy(new Transient(`less than ${bytesPerSec} bytes/s over ${formatWait(windowMs)} (${got} bytes)`));
    }
  }, windowMs);
  timer.unref();
  return timer;
}

/** Turns a failed body transfer into a retry (network) or a final error (disk, wrong file). */
async function bodyFailure(job: Job, e: unknown, diskError: unknown, watchdog: Watchdog): Promise<Error> {
  if (diskError !== null) {
    // A full disk: free the space the partial file took and say which file could not be written.
    await fs.promises.rm(job.part, { force: true });
    return new DownloadError(
      `${job.spec.name}: cannot write ${job.part} (${codeOf(diskError)}); the partial download was deleted`,
    );
  }
  if (e instanceof DownloadError) {
    await fs.promises.rm(job.part, { force: true });
    return e;
  }
  if (watchdog.stalled) return new Transient(stallReason(job));
  return networkFailure(e);
}

function stallReason(job: Job): string {
  return `no data for ${formatWait(job.stallMs)}`;
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS)',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection closed',
  ETIMEDOUT: 'timed out',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  EPIPE: 'connection closed',
};

function networkFailure(e: unknown): Error {
  if (e instanceof DownloadError || e instanceof Transient) return e;
  const err = e as NodeJS.ErrnoException;
  if (err.message === 'aborted') return new Transient('connection closed mid-transfer');
  if (err.code?.startsWith('HPE_')) return new Transient(`the server's answer is not HTTP (${err.code})`);
  return new Transient(NETWORK_REASONS[err.code ?? ''] ?? err.code ?? err.message);
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch {
    return 0;
  }
}

function codeOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return describeErrno(err.code) ?? err.message.split('\n')[0];
}

const formatWait = (ms: number): string => formatDuration(ms / 1000);
