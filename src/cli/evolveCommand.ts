/** `evolve [options]`: the whole method on a data set, writing a run folder. Wires the parts; src/run holds the run. */
import * as fs from 'node:fs';
import { type Options, combinationProblem, resolveFactors } from '../run/options';
import { resumeOptions } from '../run/resumeOptions';
import { UsageError } from '../errors';
import { Reporter } from './progress';
import type { Architecture } from '../models/architecture';
import { findAncestor } from '../models/ancestors';
import { type DatasetModule, getDataset } from '../data/sets';
import type { Dataset } from '../data/dataset';
import { checkDataIdentity } from '../run/dataIdentity';
import { type LineageEvents, type LineageSettings, runLineage } from '../evolution/lineage';
import { checkRunDir, defaultRunDir, expandHome } from '../run/runFolder';
import type { SavedConfig } from '../run/resume';
import { RunSession } from '../run/session';
import type { RunStore } from '../run/store';
import { ancestorFile, checkAncestorFile, loadAncestorFile, loadRunData, runConfig, setUpBackend } from '../run/setup';

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
    ...o,
    arch: o.arch ?? ds.defaultArch,
    offspring: o.offspring ?? o.population,
    validation: o.validation ?? ds.validation,
    weightDecay: o.weightDecay ?? ds.weightDecay,
    augment: o.augment ?? ds.augment,
  };
}

/** The run the command line asks for, checked before anything is written. */
interface RunRequest {
  o: Options;
  /** The saved config.json of a run to resume. */
  config?: SavedConfig;
  ds: DatasetModule;
  arch: Architecture;
  factors: ReturnType<typeof resolveFactors>;
  out: string;
}

function requestedRun(given: Options, typed: Partial<Options>): RunRequest {
  let o = given;
  let config: SavedConfig | undefined;
  if (given.resume !== undefined) {
    ({ o, config } = resumeOptions(expandHome(given.resume), typed, given.json));
  } else {
    validate(o);
  }
  const ds = getDataset(o.dataset);
  if (!ds) throw new UsageError(`--dataset ${o.dataset}: no such data set`);
  o = withDatasetDefaults(o, ds);
  const arch = findAncestor(o.arch!);
  if (!arch) throw new UsageError(`--arch ${o.arch}: no such architecture`);
  if (arch.inputShape.join('x') !== ds.inputShape.join('x')) {
    throw new UsageError(
      `--arch ${o.arch} takes ${arch.inputShape.join('x')} inputs ` +
        `but --dataset ${ds.name} has ${ds.inputShape.join('x')} images`,
    );
  }
  const out = o.out !== undefined ? expandHome(o.out) : defaultRunDir(o.dataset, o.arch!);
  if (!config) checkRunDir(out, { halfMade: true });
  return { o, config, ds, arch, factors: resolveFactors(o), out };
}

function lineageSettings({ o, factors }: RunRequest): LineageSettings {
  const encoding = {
    kind: o.encoding,
    synapseFactor: factors.synapseFactor,
    clusterFactor: factors.clusterFactor,
    tau: o.tau,
    normalisation: o.normalisation,
    scope: o.scope,
    granularity: o.granularity,
  };
  return {
    generations: o.generations,
    offspring: o.offspring!,
    parents: o.parents,
    population: o.population,
    epochs: o.epochs,
    ancestorEpochs: o.ancestorEpochs,
    batchSize: o.batchSize,
    learningRate: o.lr,
    optimizer: o.optimizer,
    weightDecay: o.weightDecay,
    init: o.init,
    seed: o.seed,
    encoding,
    loadsAncestor: o.ancestor !== undefined,
  };
}

/** People's output and --json records as the lineage goes; a stop request is honoured between batches and networks. */
function lineageEvents(o: Options, session: RunSession, reporter: Reporter): LineageEvents {
  return {
    onTrainStart: (g, k) => {
      session.checkStop();
      reporter.trainStart(g, k);
    },
    onBatch: (p) => {
      session.checkStop();
      reporter.batch(p);
    },
    onTrainEnd: () => session.checkStop(),
    onGeneration: async (record) => {
      if (o.json) process.stdout.write(`${JSON.stringify(record)}\n`);
      reporter.generation(record);
      if (record.generation < o.generations) {
        await new Promise((resolve) => setImmediate(resolve));
        session.checkStop();
      }
    },
  };
}

function summary({ o, factors, out }: RunRequest, data: Dataset, store: RunStore, resuming: boolean): string {
  return (
    `evolve: ${o.dataset} ${o.arch}, ${o.generations} generations, ` +
    `F ${factors.synapseFactor.toFixed(4)}, Fc ${factors.clusterFactor.toFixed(4)}; ` +
    `${data.train.count} train / ${data.validation.count} validation / ${data.test.count} test samples; ` +
    `run folder ${out}` +
    (store.last >= 0
      ? `; resuming after generation ${store.last}`
      : resuming
        ? '; resuming from the start (no finished generation)'
        : '')
  );
}

async function evolve(run: RunRequest, argv: string[], session: RunSession, reporter: Reporter): Promise<void> {
  const { o, out, arch } = run;
  // The folder is held before anything is loaded, so two runs started on it never both go on.
  if (!run.config) session.claim();
  const reopened = run.config ? session.reopen(arch) : undefined;
  if (reopened && reopened.last >= o.generations) {
    reporter.info(
      `evolve: ${out}: already finished (generations 0..${reopened.last} of ${o.generations}); nothing to do`,
    );
    reopened.clearProgress(); // left by a run killed right after its last record
    return;
  }
  if (reopened && !reopened.finished(0) && run.config?.ancestor) checkAncestorFile(out, run.config.ancestor);
  const { backend, workers } = await setUpBackend({
    choice: o.backend,
    workers: o.workers,
    saved: run.config?.backend,
    log: reporter,
  });
  const { data, identity } = await loadRunData(
    run.ds,
    { ...o, validation: o.validation!, augment: o.augment! },
    reporter,
  );
  if (run.config) {
    const unchecked = checkDataIdentity(out, run.config.resolved?.data, data);
    if (unchecked) reporter.warn(unchecked);
  }
  // Generation 0 of a run that loads its ancestor is that network; once saved, gen-00 holds it.
  const loads = o.ancestor !== undefined && !reopened?.finished(0);
  const ancestor = loads ? await loadAncestorFile(o.ancestor!, arch, data, o.dataset) : undefined;
  const ancestorId = o.ancestor && !reopened ? ancestorFile(o.ancestor) : undefined;
  const store =
    reopened ??
    session.create(
      arch,
      runConfig({
        argv,
        options: { ...o, arch: o.arch, out, workers, ancestor: ancestorId?.path },
        ancestor: ancestorId,
        data,
        identity,
        factors: run.factors,
        backend,
      }),
    );
  reporter.info(summary(run, data, store, reopened !== undefined));
  const t0 = Date.now();
  const records = await runLineage({
    arch,
    data,
    settings: lineageSettings(run),
    store,
    events: lineageEvents(o, session, reporter),
    ancestor,
  });
  reporter.finished(records[records.length - 1], (Date.now() - t0) / 1000, out);
}

/** `typed` holds the options typed on the command line (those --resume compares with the run's). */
export async function runEvolve(given: Options, argv: string[], typed: Partial<Options>): Promise<void> {
  const run = requestedRun(given, typed);
  const reporter = new Reporter();
  const session = new RunSession({ out: run.out, log: reporter, command: ['evolve', ...argv] });
  await session.run(() => evolve(run, argv, session, reporter));
}
