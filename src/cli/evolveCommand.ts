/** `evolve [options]`: the whole method on a data set, writing a run folder. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Options, checkSavedOptions, combinationProblem, resolveFactors } from './options';
import { UsageError, RunError } from '../errors';
import { Reporter, fewer, formatSeconds } from './progress';
import { StopRequest, stderrOpen } from './stopping';
import { selectBackend, tfjsVersion } from '../engine/backend';
import { loadNetwork } from '../engine/modelio';
import { findAncestor } from '../models/ancestors';
import { DatasetModule, getDataset } from '../data/sets';
import { loadForRun } from '../data/forRun';
import { dataRoot } from '../data/cache';
import { skipChecksumRequested } from '../data/store';
import { ProgressBar } from '../data/progressBar';
import { loadGeneration } from '../run/readBack';
import { checkDataIdentity, dataIdentity } from '../run/dataIdentity';
import { stream } from '../random';
import { ResumePoint, runLineage } from '../evolution/lineage';
import { RunFolder, checkRunDir, defaultRunDir, generationDir } from '../run/runFolder';
import { RunLock } from '../run/lock';
import { WriteError } from '../run/files';
import { FinishedGenerations, SavedConfig, readConfig, readFinished } from '../run/resume';
import { checkpointFile, readCheckpoint, removeCheckpoint, writeCheckpoint } from '../run/checkpoint';
import { TrainingCheckpoint } from '../evolution/checkpoint';
import { Network } from '../models/network';
import { closeTrainingPool } from '../engine/parallel';
import * as os from 'node:os';
import { setNativeThreads } from '../engine/kernels/native';


function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** Checks that need more than one option; all before anything is written. */
function validate(o: Options): void {
  const problem = combinationProblem(o);
  if (problem !== undefined) throw new UsageError(problem);
  if (o.ancestor !== undefined && !fs.existsSync(o.ancestor)) {
    throw new UsageError(`--ancestor ${o.ancestor}: no such file`);
  }
}

/** The options with the data set's defaults filled in where none was given (saved resolved). */
function withDatasetDefaults(o: Options, ds: DatasetModule): Options {
  return {
    ...o, arch: o.arch ?? ds.defaultArch, validation: o.validation ?? ds.validation,
    weightDecay: o.weightDecay ?? ds.weightDecay, augment: o.augment ?? ds.augment,
  };
}

/** The run's data, downloaded and verified if need be, with a progress bar for long transfers. */
async function loadRunData(ds: DatasetModule, o: Options, warn: (line: string) => void): ReturnType<typeof loadForRun> {
  const download = new ProgressBar({ label: ds.archive?.name ?? ds.name });
  const hash = new ProgressBar({ label: `checking ${ds.archive?.name ?? ds.name}` });
  try {
    return await loadForRun(ds, {
      trainLimit: o.trainLimit, testLimit: o.testLimit, validation: o.validation!, rng: stream(o.seed, 'data', 'split'), augment: o.augment!,
    }, {
      root: ds.archive ? dataRoot({ dataDir: o.dataDir }) : '', skipChecksum: skipChecksumRequested(), log: warn,
      // Hashing takes seconds: its bar is for a terminal only, logs get no lines of it.
      onDownload: (p) => download.update(p), onHash: process.stderr.isTTY ? (done, total) => hash.update({ done, total }) : undefined,
    });
  } finally {
    download.done();
    hash.done();
  }
}

/** Thrown from the training callbacks once a signal or a closed stdout has asked the run to stop. */
class Interrupted extends Error {}

/** Where a checkpoint stands, for people: "generation 2, offspring 1 after epoch 2 of 3". */
function describeCheckpoint(c: TrainingCheckpoint): string {
  if (c.offspring === null) return `the ancestor after epoch ${c.epochsDone} of ${c.epochs}`;
  if (c.epochsDone === 0) return `generation ${c.generation} after offspring ${c.offspring - 1}`;
  return `generation ${c.generation}, offspring ${c.offspring} after epoch ${c.epochsDone} of ${c.epochs}`;
}

function restarting(generation: number): string {
  return `ignored; ${generation === 0 ? 'the ancestor (generation 0)' : `generation ${generation}`} restarts from its start`;
}

/** Options that do not change the records: they may differ between a run and its resume. */
const outputOnly = new Set(['json', 'resume', 'dataDir']);

function same(key: string, given: unknown, saved: unknown, run: string): boolean {
  if (key === 'out') return path.resolve(String(given)) === path.resolve(run);
  if (key === 'ancestor' && typeof given === 'string' && typeof saved === 'string') return path.resolve(given) === path.resolve(saved);
  return JSON.stringify(given) === JSON.stringify(saved);
}

function flagOf(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `--resume RUN`: the run's saved options, refusing command-line options that differ from them. */
function resumeOptions(run: string, given: Partial<Options>, json: boolean): { o: Options; config: SavedConfig } {
  const config = readConfig(run);
  // The same checks as the command line's, before any saved value is used.
  const saved = checkSavedOptions(config.options, path.join(run, 'config.json')) as unknown as Record<string, unknown>;
  const differing = Object.entries(given)
    .filter(([key, value]) => !outputOnly.has(key) && !same(key, value, saved[key], run))
    .map(([key, value]) => `${flagOf(key)} ${String(value)} (the run has ${saved[key] === undefined ? 'none' : String(saved[key])})`);
  if (differing.length > 0) {
    throw new UsageError(`--resume ${run}: ${differing.join(', ')} differ${differing.length === 1 ? 's' : ''} from the run's options; a resumed run keeps every option in its config.json`);
  }
  return { o: { ...(saved as unknown as Options), out: run, resume: run, json }, config };
}

/** `typed` holds the options typed on the command line (those --resume compares with the run's). */
export async function runEvolve(given: Options, argv: string[], typed: Partial<Options>): Promise<void> {
  const resuming = given.resume !== undefined;
  let o = given;
  let config: SavedConfig | undefined;
  if (resuming) {
    ({ o, config } = resumeOptions(given.resume!, typed, given.json));
  } else {
    validate(o);
  }
  const ds = getDataset(o.dataset);
  if (!ds) throw new UsageError(`--dataset ${o.dataset}: no such data set`);
  o = withDatasetDefaults(o, ds);
  const archName = o.arch!;
  const arch = findAncestor(archName);
  if (!arch) throw new UsageError(`--arch ${archName}: no such architecture`);
  if (arch.inputShape.join('x') !== ds.inputShape.join('x')) {
    throw new UsageError(`--arch ${archName} takes ${arch.inputShape.join('x')} inputs but --dataset ${ds.name} has ${ds.inputShape.join('x')} images`);
  }
  const factors = resolveFactors(o);
  const out = o.out ?? defaultRunDir(o.dataset, archName);
  if (!resuming) checkRunDir(out);

  const reporter = new Reporter();
  // A signal or a closed stdout stops the run after the current batch; a second signal at once.
  let lock: RunLock | undefined;
  const stop = new StopRequest(() => {
    lock?.release();
    if (stderrOpen()) process.stderr.write(`\nevolve: interrupted again; stopping now; resume with: evolve --resume ${out}\n`);
    process.exit(stop.exitCode);
  });
  const stopIfInterrupted = (): void => {
    if (stop.reason) throw new Interrupted('interrupted');
  };
  let lastGeneration = -1;
  let finishedRun = false;
  /** The checkpoint on disk, if any (written by this process). */
  let held: TrainingCheckpoint | undefined;
  let checkpoint: TrainingCheckpoint | undefined;

  try {
    let finished: FinishedGenerations = { records: [] };
    if (resuming) {
      stop.listen();
      lock = RunLock.acquire(out, (m) => reporter.warn(m));
      finished = readFinished(out);
      if (finished.repaired) {
        reporter.warn(`evolve: ${path.join(out, 'generations.ndjson')}: cut off a torn last line (${finished.repaired}), left by an interrupted write`);
      }
      if (finished.incomplete !== undefined) {
        reporter.warn(`evolve: ${generationDir(out, finished.incomplete)}: missing or incomplete; its record and those after it were cut off, and the run goes on from there`);
      }
      lastGeneration = finished.records.length - 1;
      if (lastGeneration >= o.generations) {
        reporter.info(`evolve: ${out}: already finished (generations 0..${lastGeneration} of ${o.generations}); nothing to do`);
        removeCheckpoint(out); // left by a run killed right after its last record
        finishedRun = true;
        return;
      }
      const saved = readCheckpoint(out);
      if (saved.problem !== undefined) {
        reporter.warn(`evolve: ${checkpointFile(out)}: ${saved.problem}; ${restarting(lastGeneration + 1)}`);
        removeCheckpoint(out);
      }
      checkpoint = saved.checkpoint;
    }

    const backend = await selectBackend(o.backend);
    if (config?.backend?.name !== undefined && config.backend.name !== backend.name) {
      reporter.warn(`evolve: the run used backend ${config.backend.name}, this process has ${backend.name}: records after the resume may differ from an uninterrupted run's`);
    } else if (config?.backend?.kernels !== undefined && config.backend.kernels !== backend.kernels) {
      reporter.warn(`evolve: the run used the ${config.backend.kernels} kernels, this process has the ${backend.kernels} ones: records after the resume may differ from an uninterrupted run's`);
    }
    // Workers run the WASM backend; tfjs-node and the plain cpu backend train in this thread.
    const workers = backend.name === 'wasm' ? (o.workers ?? os.availableParallelism()) : 1;
    const kernels = backend.kernels === 'native' ? `, native kernels (${backend.nativeSimd})` : backend.kernels === 'tuned' ? `, JavaScript kernels (${process.env.EVOLVE_NATIVE === '0' ? 'EVOLVE_NATIVE=0' : 'native addon not built'})` : '';
    reporter.info(`evolve: backend ${backend.name} (${backend.package}, ${backend.device}${backend.simd !== undefined ? `, simd ${backend.simd ? 'on' : 'off'}` : ''}${kernels}), ${workers} training thread${workers === 1 ? '' : 's'}`);
    if (backend.kernels === 'native') setNativeThreads(workers); // evaluation too

    const { data, identity } = await loadRunData(ds, o, (m) => reporter.warn(m));
    if (config) {
      const unchecked = checkDataIdentity(out, config.resolved?.data, data);
      if (unchecked) reporter.warn(unchecked);
    }
    let ancestor: Network | undefined;
    let resumePoint: ResumePoint | undefined;
    if (resuming && lastGeneration >= 0) {
      const gen0 = await loadGeneration(out, finished.records[0], arch);
      resumePoint = {
        ancestor: gen0,
        ancestorTestAccuracy: finished.records[0].testAccuracy,
        generation: lastGeneration,
        parent: lastGeneration === 0 ? gen0 : await loadGeneration(out, finished.records[lastGeneration], arch),
      };
      // A run that loaded its ancestor rewinds to it; gen-00 holds it exactly.
      if (o.ancestor) ancestor = gen0;
    } else if (o.ancestor) {
      ancestor = await loadNetwork(o.ancestor, arch);
    }
    if (ancestor && data.inputShape.join('x') !== arch.inputShape.join('x')) {
      throw new RunError(`${o.ancestor}: input shape ${arch.inputShape.join('x')} does not match ${o.dataset} ${data.inputShape.join('x')}`);
    }

    const encoding = {
      kind: o.encoding, synapseFactor: factors.synapseFactor, clusterFactor: factors.clusterFactor, tau: o.tau,
      normalisation: o.normalisation, scope: o.scope, granularity: o.granularity,
    };
    const folder = new RunFolder(out);
    if (!resuming) {
      folder.makeDir();
      stop.listen();
      lock = RunLock.acquire(out, (m) => reporter.warn(m));
      folder.writeConfig({
        command: ['evolve', ...argv],
        options: { ...o, arch: archName, out, workers },
        data: identity,
        resolved: { ...factors, trainSamples: data.train.count, validationSamples: data.validation.count, testSamples: data.test.count, data: dataIdentity(data) },
        backend,
        versions: { evolve: packageVersion(), node: process.version, tfjs: tfjsVersion() },
        started: new Date().toISOString(),
      });
    }
    reporter.info(`evolve: ${o.dataset} ${archName}, ${o.generations} generations, F ${factors.synapseFactor.toFixed(4)}, Fc ${factors.clusterFactor.toFixed(4)}; ` +
      `${data.train.count} train / ${data.validation.count} validation / ${data.test.count} test samples; run folder ${out}` +
      (resumePoint ? `; resuming after generation ${resumePoint.generation}` : resuming ? '; resuming from the start (no finished generation)' : ''));

    const t0 = Date.now();
    const records = await runLineage(arch, data, {
      generations: o.generations, offspring: o.offspring, epochs: o.epochs, ancestorEpochs: o.ancestorEpochs,
      batchSize: o.batchSize, learningRate: o.lr, optimizer: o.optimizer, weightDecay: o.weightDecay, init: o.init, seed: o.seed, encoding, workers,
    }, {
      onTrainStart: (g, k) => {
        stopIfInterrupted();
        reporter.trainStart(g, k);
      },
      onBatch: (p) => {
        stopIfInterrupted();
        reporter.batch(p);
      },
      onTrainEnd: stopIfInterrupted,
      onCheckpoint: (c) => {
        writeCheckpoint(out, c);
        held = c;
      },
      onCheckpointUsed: (c) => {
        reporter.info(`evolve: continuing from the checkpoint: ${describeCheckpoint(c)}`);
        held = c;
      },
      onCheckpointRejected: (_c, problem) => {
        reporter.warn(`evolve: ${checkpointFile(out)}: ${problem}; ${restarting(lastGeneration + 1)}`);
        removeCheckpoint(out);
      },
      onGeneration: async (record, net) => {
        await folder.addGeneration(record, net);
        // The record is on disk: the generation's checkpoint is of no more use.
        removeCheckpoint(out);
        held = undefined;
        lastGeneration = record.generation;
        if (o.json) process.stdout.write(JSON.stringify(record) + '\n');
        reporter.generation(record);
        if (record.generation < o.generations) {
          await new Promise((resolve) => setImmediate(resolve));
          stopIfInterrupted();
        }
      },
    }, ancestor, resumePoint, checkpoint).finally(() => closeTrainingPool());
    finishedRun = true;
    reporter.finished(records[records.length - 1], (Date.now() - t0) / 1000, out);
  } catch (e) {
    if (e instanceof WriteError && lastGeneration >= 0) {
      // A full disk mid-run: what is on disk is complete, so say what it holds and how to go on.
      const fix = e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'free space' : 'fix that';
      throw new RunError(`${e.message}; the run folder holds generations 0..${lastGeneration}; ${fix}, then: evolve --resume ${out}`);
    }
    if (!(e instanceof Interrupted)) throw e;
  } finally {
    lock?.release();
    stop.unlisten();
  }
  if (!finishedRun) {
    // Only an Interrupted gets here; every generation on disk is complete.
    const holds = (lastGeneration >= 0 ? `generations 0..${lastGeneration}` : 'no finished generation yet')
      + (held ? ` and a checkpoint (${describeCheckpoint(held)}), where the resume continues` : '');
    reporter.info(`evolve: ${stop.describe()}; the run folder holds ${holds}; resume with: evolve --resume ${out}`);
    process.exit(stop.exitCode);
  }
}
