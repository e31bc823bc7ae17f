/**
 * `evolve bench --inference RUN`: the run's chosen generations read back as `evolve export
 * --compact` would write them, then timed by ../bench/inference on evolve's default backend.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { RunError, UsageError } from '../errors';
import { Reporter } from './progress';
import { describe, finishedGenerations, runArchitecture, zeroDeadBiases } from './exportCommand';
import { selectBackend } from '../engine/backend';
import { setNativeThreads } from '../engine/kernels/native';
import { checkGenerationFiles, loadGeneration } from '../run/readBack';
import {
  type InferenceRow,
  type InferenceSettings,
  type InferenceSubject,
  formatInferenceTable,
  measureInference,
} from '../bench/inference';
import { machineInfo } from '../bench/report';

export interface InferenceRequest {
  run: string;
  /** Generations to time (undefined: every finished one); 0, the ancestor, is always added. */
  generations?: number[];
  settings: InferenceSettings;
  json: boolean;
}

/** The records of the generations asked for, ancestor first, or a usage error naming those the run has. */
function chosenRecords(run: string, asked?: number[]) {
  const available = finishedGenerations(run);
  if (available.length === 0) throw new RunError(`--inference ${run}: no finished generation yet; nothing to time`);
  const wanted = asked ? [...new Set([0, ...asked])].sort((a, b) => a - b) : available.map((r) => r.generation);
  const missing = wanted.filter((g) => !available.some((r) => r.generation === g));
  if (missing.length > 0) {
    throw new UsageError(
      `--generations: ${run} has no generation ${missing.join(', ')} (available: ` +
        `${describe(available.map((r) => r.generation))})`,
    );
  }
  return wanted.map((g) => available.find((r) => r.generation === g)!);
}

export async function runInferenceBench(req: InferenceRequest): Promise<void> {
  const { run } = req;
  if (!fs.existsSync(run)) throw new UsageError(`--inference ${run}: no such run folder`);
  if (!fs.statSync(run).isDirectory()) throw new UsageError(`--inference ${run}: not a run folder (not a folder)`);
  const arch = runArchitecture(run);
  const records = chosenRecords(run, req.generations);
  for (const r of records) checkGenerationFiles(run, r);

  const backend = await selectBackend('auto');
  const threads = os.availableParallelism();
  setNativeThreads(threads);
  const subjects: InferenceSubject[] = [];
  for (const record of records) {
    const net = await loadGeneration(run, record, arch);
    zeroDeadBiases(net);
    subjects.push({
      generation: record.generation,
      synapseEfficiency: record.synapseEfficiency,
      clusterEfficiency: record.clusterEfficiency,
      net,
    });
  }

  const reporter = new Reporter();
  const machine = machineInfo();
  const engine =
    backend.kernels === 'native'
      ? `native kernels (${backend.nativeSimd}), ${threads} threads`
      : `${backend.package} ${backend.kernels ?? ''}`.trim();
  reporter.info(
    `bench: inference of ${run} (${arch.name}), generations ${records.map((r) => r.generation).join(', ')}, ` +
      `compacted; ` +
      `${req.settings.rounds} rounds at batch ${req.settings.batchSizes.join(' and ')}; ${engine}`,
  );
  if (machine.loadAverage >= 0.5)
    reporter.warn(
      `bench: load average ${machine.loadAverage}: something else is using the CPU, so figures are indicative only`,
    );
  const rows: InferenceRow[] = measureInference(subjects, req.settings);
  const title =
    `Inference latency of ${arch.name} generations, compacted (forward pass, median over ${req.settings.rounds} ` +
    `rounds, ` +
    `quartiles in brackets), ${machine.cpu}, ${machine.cores} cores, ${engine}, load average ${machine.loadAverage}`;
  const table = formatInferenceTable(rows, title);
  if (!req.json) {
    process.stdout.write(`${table}\n`);
    return;
  }
  reporter.info(table);
  process.stdout.write(
    `${JSON.stringify({ machine, run, arch: arch.name, backend, threads, settings: req.settings, inference: rows })}\n`,
  );
}
