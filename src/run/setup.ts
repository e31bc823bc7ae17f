/**
 * What a run sets up before its first generation: the backend and its training threads, the data
 * (downloaded and verified if need be), the --ancestor network, and config.json's content.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { type BackendChoice, type BackendInfo, selectBackend, tfjsVersion } from '../engine/backend';
import { setTrainingThreads } from '../engine/trainer';
import { loadNetwork } from '../engine/modelio';
import type { Architecture } from '../models/architecture';
import type { Network } from '../models/network';
import type { Dataset } from '../data/dataset';
import type { DatasetModule } from '../data/sets';
import { type DataIdentity, loadForRun } from '../data/forRun';
import { dataRoot } from '../data/cache';
import { skipChecksumRequested } from '../data/store';
import { ProgressBar } from '../data/progressBar';
import { RunError, UsageError } from '../errors';
import { readFileNoFollow } from '../files';
import { stream } from '../random';
import { dataIdentity } from './dataIdentity';
import type { RunLog } from './store';

export interface BackendSettings {
  choice: BackendChoice;
  /** --workers; none: the number of cores. */
  workers?: number;
  /** The backend a resumed run used, from its config.json. */
  saved?: { name?: string; kernels?: string };
  log: RunLog;
}

const mayDiffer = "records after the resume may differ from an uninterrupted run's";

/** The run's backend and training threads, said on stderr (with a warning when a resumed run used others). */
export async function setUpBackend(s: BackendSettings): Promise<{ backend: BackendInfo; workers: number }> {
  const backend = await selectBackend(s.choice);
  if (s.saved?.name !== undefined && s.saved.name !== backend.name) {
    s.log.warn(`evolve: the run used backend ${s.saved.name}, this process has ${backend.name}: ${mayDiffer}`);
  } else if (s.saved?.kernels !== undefined && s.saved.kernels !== backend.kernels) {
    s.log.warn(
      `evolve: the run used the ${s.saved.kernels} kernels, this process has the ${backend.kernels} ones: ${mayDiffer}`,
    );
  }
  // Threads serve the WASM backend's native kernels; tfjs-node and the plain cpu backend use their own.
  const workers = backend.name === 'wasm' ? (s.workers ?? os.availableParallelism()) : 1;
  s.log.info(`evolve: ${describeBackend(backend)}, ${workers} training thread${workers === 1 ? '' : 's'}`);
  setTrainingThreads(workers); // with the native kernels, evaluation too
  return { backend, workers };
}

function describeBackend(b: BackendInfo): string {
  const kernels =
    b.kernels === 'native'
      ? `, native kernels (${b.nativeSimd})`
      : b.kernels === 'tuned'
        ? `, JavaScript kernels (${process.env.EVOLVE_NATIVE === '0' ? 'EVOLVE_NATIVE=0' : 'native addon not built'})`
        : '';
  const simd = b.simd !== undefined ? `, simd ${b.simd ? 'on' : 'off'}` : '';
  return `backend ${b.name} (${b.package}, ${b.device}${simd}${kernels})`;
}

export interface DataSettings {
  trainLimit?: number;
  testLimit?: number;
  validation: number;
  augment: boolean;
  /** The run's seed: the validation split is drawn from its 'data' stream. */
  seed: number;
  dataDir?: string;
}

/** The run's data, downloaded and verified if need be, with a progress bar for long transfers. */
export async function loadRunData(ds: DatasetModule, s: DataSettings, log: RunLog): ReturnType<typeof loadForRun> {
  const download = new ProgressBar({ label: ds.archive?.name ?? ds.name });
  const hash = new ProgressBar({ label: `checking ${ds.archive?.name ?? ds.name}` });
  try {
    return await loadForRun(
      ds,
      {
        trainLimit: s.trainLimit,
        testLimit: s.testLimit,
        validation: s.validation,
        rng: stream(s.seed, 'data', 'split'),
        augment: s.augment,
      },
      {
        root: ds.archive ? dataRoot({ dataDir: s.dataDir }) : '',
        skipChecksum: skipChecksumRequested(),
        log: (m) => log.warn(m),
        // Hashing takes seconds: its bar is for a terminal only, logs get no lines of it.
        onDownload: (p) => download.update(p),
        onHash: process.stderr.isTTY ? (done, total) => hash.update({ done, total }) : undefined,
      },
    );
  } finally {
    download.done();
    hash.done();
  }
}

/** The --ancestor network, checked against the data. */
export async function loadAncestorFile(
  file: string,
  arch: Architecture,
  data: Dataset,
  dataset: string,
): Promise<Network> {
  const net = await loadNetwork(file, arch);
  if (data.inputShape.join('x') !== arch.inputShape.join('x')) {
    throw new RunError(
      `${file}: input shape ${arch.inputShape.join('x')} does not match ${dataset} ${data.inputShape.join('x')}`,
    );
  }
  return net;
}

/** The --ancestor file as config.json records it: its absolute path and the SHA-256 of what it is made of. */
export interface AncestorFile {
  path: string;
  /** Over model.json, its weights files (in manifest order) and mask.bin beside it if there is one. */
  sha256: string;
}

export function ancestorFile(file: string): AncestorFile {
  const abs = path.resolve(file);
  const json = readFileNoFollow(abs);
  const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths?: unknown[] }[] }).weightsManifest;
  const parts = (manifest ?? []).flatMap((g) => g.paths ?? []).map(String);
  const mask = path.join(path.dirname(abs), 'mask.bin');
  if (fs.existsSync(mask)) parts.push('mask.bin');
  const hash = createHash('sha256').update(json);
  for (const p of parts) hash.update(readFileNoFollow(path.join(path.dirname(abs), p)));
  return { path: abs, sha256: hash.digest('hex') };
}

/** Refuses to resume from an --ancestor file that is gone or differs from the one the run started from. */
export function checkAncestorFile(run: string, saved: AncestorFile): void {
  let now: AncestorFile;
  try {
    now = ancestorFile(saved.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `--resume ${run}: the run's --ancestor ${saved.path} cannot be read (${code ?? String(e)}); ` +
        'put back the file the run started from',
    );
  }
  if (now.sha256 !== saved.sha256) {
    throw new UsageError(
      `--resume ${run}: the run's --ancestor ${saved.path} differs from the one it started from ` +
        `(sha256 ${now.sha256} now, ${saved.sha256} in config.json); put back the file the run started from`,
    );
  }
}

function packageVersion(): string {
  return (
    JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
}

export interface ConfigSettings {
  argv: string[];
  /** Every option, resolved. */
  options: object;
  data: Dataset;
  identity: DataIdentity;
  /** The resolved factors F and Fc (and what they were resolved from). */
  factors: object;
  backend: BackendInfo;
  ancestor?: AncestorFile;
}

/** config.json of a new run: what --resume and evolve report read back. */
export function runConfig(s: ConfigSettings): object {
  const { data } = s;
  return {
    command: ['evolve', ...s.argv],
    options: s.options,
    data: s.identity,
    resolved: {
      ...s.factors,
      trainSamples: data.train.count,
      validationSamples: data.validation.count,
      testSamples: data.test.count,
      data: dataIdentity(data),
    },
    backend: s.backend,
    ancestor: s.ancestor,
    versions: { evolve: packageVersion(), node: process.version, tfjs: tfjsVersion() },
    started: new Date().toISOString(),
  };
}
