/**
 * One bench run, per architecture: every configuration measured in a fresh `evolve bench --only
 * NAME --arch ARCH` child (kernel registrations are process-wide), one after the other so they
 * never compete for cores, then the PyTorch peer where it exists; then the sparsity part
 * (./sparsity) in a child of its own.
 */
import * as path from 'node:path';
import type { BackendInfo } from '../engine/backend';
import {
  type ActiveConfiguration,
  type ConfigurationName,
  activateConfiguration,
  configurationDescriptions,
  configurationNames,
  installedNodeBackend,
  nativeBuilt,
} from './configurations';
import {
  type BenchSettings,
  type Measurement,
  benchArchitecture,
  measureTraining,
  planFor,
  trainingFlopsPerSample,
} from './measure';
import { nativeFmaPeak } from '../engine/kernels/native';
import { TORCH_SCRIPT, capture, lastLine, peerEnvironment, runTorchPeer } from './peer';
import type { SparsityResult, SparsityRow, TimedForm } from './sparsity';

export type RowStatus = 'ok' | 'skipped' | 'not installed' | 'not found' | 'failed';

export interface Row extends Partial<Measurement> {
  name: ConfigurationName | 'pytorch';
  status: RowStatus;
  description: string;
  /** Why there is no number (status other than ok). */
  note?: string;
  backend?: BackendInfo;
  threads?: number | null;
  /** pytorch only. */
  version?: string;
  /** samples/s over the cpu row's, the wasm-plain row's and the pytorch row's; null where either has no number. */
  vsCpu?: number | null;
  vsWasmPlain?: number | null;
  vsPytorch?: number | null;
  /** Arithmetic done per second: the architecture's training flops per sample times samples/s. */
  gflops?: number | null;
  /** native only: its path's multiply-add peak on its threads (GFLOP/s), measured after its steps. */
  peakGflops?: number | null;
  /** gflops over the native row's peak: how much of the machine's arithmetic a configuration uses. */
  ofPeak?: number | null;
}

/** What `--only NAME` prints: one configuration, measured in this process. */
export type OnlyResult = { configuration: ConfigurationName } & (
  | ({ status: 'ok'; peakGflops?: number | null } & Measurement & ActiveConfiguration)
  | { status: 'skipped'; note: string }
);

/** The plain-JavaScript backend takes seconds a LeNet-5 step: it is timed only when asked for. */
const cpuNotAsked = 'not asked for: --cpu-batches N times N steps';

/** What `--only` names: a configuration, or the sparsity part. */
export type OnlyName = ConfigurationName | 'sparsity';

export async function measureConfiguration(name: ConfigurationName, settings: BenchSettings): Promise<OnlyResult> {
  const plan = planFor(name, settings);
  if (!plan) return { configuration: name, status: 'skipped', note: cpuNotAsked };
  const active = await activateConfiguration(name);
  // Only the native kernels use more than one thread (see src/engine/trainer).
  const workers = name === 'native' ? (active.threads ?? 1) : 1;
  const measured = await measureTraining(plan, settings.batchSize, 1, workers, benchArchitecture(settings.arch));
  const peakGflops = name === 'native' ? nativeFmaPeak(workers) : undefined;
  return { configuration: name, status: 'ok', ...active, ...measured, peakGflops };
}

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const bin = path.join(repoRoot, 'bin', 'evolve');

/** The options that make a child run the same plan as this process would. */
function childArgs(name: OnlyName, s: BenchSettings): string[] {
  return [
    'bench',
    '--only',
    name,
    '--arch',
    s.arch,
    '--batch-size',
    String(s.batchSize),
    '--seconds',
    String(s.seconds),
    '--warmup',
    String(s.warmup),
    '--cpu-batches',
    String(s.cpuBatches),
    ...(s.batches !== undefined ? ['--batches', String(s.batches)] : []),
    ...(name === 'sparsity' ? ['--sparsity-levels', s.sparsityLevels.join(',')] : []),
  ];
}

/** Runs `evolve bench --only NAME` and parses its one JSON line, or says why there is none. */
async function runOnly<T>(name: OnlyName, s: BenchSettings): Promise<{ result: T } | { note: string }> {
  const { code, stdout, stderr } = await capture(process.execPath, [bin, ...childArgs(name, s)]);
  let result: T | undefined;
  try {
    result = JSON.parse(lastLine(stdout)) as T;
  } catch {
    // reported below
  }
  if (code !== 0 || !result) return { note: lastLine(stderr).replace(/^evolve: /, '') || `exit code ${code}` };
  return { result };
}

async function runChild(name: ConfigurationName, s: BenchSettings): Promise<Row> {
  const description = configurationDescriptions[name];
  const child = await runOnly<OnlyResult>(name, s);
  if ('note' in child) return { name, status: 'failed', description, note: child.note };
  const { result } = child;
  if (result.status === 'skipped') return { name, status: 'skipped', description, note: result.note };
  const { status, configuration, ...measured } = result;
  void configuration;
  return { name, status, description, ...measured };
}

export interface BenchLog {
  info(line: string): void;
}

/** The sparsity part (./sparsity) in its own fresh child; an empty list when the settings skip it. */
export async function runSparsity(s: BenchSettings, log: BenchLog): Promise<SparsityRow[]> {
  if (s.sparsityLevels.length === 0) return [];
  const levels = s.sparsityLevels.map((x) => `${x}x`).join(', ');
  const kernels = nativeBuilt() ? 'native' : 'wasm-tuned';
  log.info(`bench: sparsity (${levels}: dense-masked vs compacted offspring on ${kernels})...`);
  const child = await runOnly<SparsityResult>('sparsity', s);
  const rows =
    'note' in child
      ? s.sparsityLevels.map((target): SparsityRow => ({ target, status: 'failed', note: child.note }))
      : child.result.rows;
  for (const r of rows) log.info(`bench: ${sparsitySummary(r)}`);
  return rows;
}

export function sparsitySummary(r: SparsityRow): string {
  if (r.status !== 'ok') return `sparsity ${r.target}x: ${r.status} (${r.note})`;
  const form = (f: TimedForm): string => `${f.msPerStep.toFixed(1)} ms/step, epoch ~${f.epochSeconds.toFixed(1)} s`;
  return (
    `sparsity ${r.target}x: ${r.synapseEfficiency.toFixed(2)}x synapses, ` +
    `${r.filterEfficiency.toFixed(2)}x filters; masked ${form(r.masked)}; compacted ${form(r.compacted)}`
  );
}

/**
 * The configurations measured for an architecture: all of them for LeNet-5; for the larger
 * ancestors evolve's default path and tfjs-node (the plain cpu and JavaScript-kernel
 * configurations would take minutes per step there).
 */
export function configurationsFor(arch: string): readonly ConfigurationName[] {
  return arch === 'lenet5' ? configurationNames : ['native', 'tensorflow'];
}

/** One architecture's rows (`s.arch`): its configurations, then the PyTorch peer, with the ratios. */
export async function runBench(s: BenchSettings, log: BenchLog): Promise<Row[]> {
  const rows: Row[] = [];
  for (const name of configurationsFor(s.arch)) {
    const description = configurationDescriptions[name];
    if (name === 'tensorflow' && !installedNodeBackend()) {
      rows.push({
        name,
        status: 'not installed',
        description,
        note: "run 'npm install @tensorflow/tfjs-node' or @tensorflow/tfjs-node-gpu",
      });
    } else if (name === 'native' && !nativeBuilt()) {
      rows.push({
        name,
        status: 'not installed',
        description,
        note: "the addon was not built; install python3, make and g++, then run 'npm rebuild'",
      });
    } else if (!planFor(name, s)) {
      rows.push({ name, status: 'skipped', description, note: cpuNotAsked });
    } else {
      log.info(`bench: ${s.arch} ${name} (${description})...`);
      rows.push(await runChild(name, s));
    }
    log.info(`bench: ${s.arch} ${summary(rows[rows.length - 1])}`);
  }
  rows.push(await peerRow(s, rows, log));
  return withRatios(rows, trainingFlopsPerSample(benchArchitecture(s.arch)));
}

/**
 * The PyTorch peer trains as many steps as the fixed setting; else, for LeNet-5, 8192 samples' worth
 * (as it always has), and for the larger ancestors as many steps as evolve's default path timed.
 */
async function peerRow(s: BenchSettings, rows: Row[], log: BenchLog): Promise<Row> {
  const timed = rows.find((r) => r.name === 'native' && r.status === 'ok')?.batches;
  const batches = s.batches ?? (s.arch === 'lenet5' ? Math.ceil(8192 / s.batchSize) : Math.max(3, timed ?? 3));
  log.info(`bench: ${s.arch} pytorch (peer script, if PyTorch is here)...`);
  const peer = await runTorchPeer(repoRoot, {
    arch: benchArchitecture(s.arch),
    threads: s.torchThreads,
    batches,
    warmup: Math.max(1, s.warmup),
    batchSize: s.batchSize,
  });
  const waitPolicy = peerEnvironment().OMP_WAIT_POLICY;
  const pytorch: Row =
    peer.status === 'ok'
      ? {
          name: 'pytorch',
          status: 'ok',
          description: `PyTorch ${peer.version} CPU (${peer.python}, OMP_WAIT_POLICY=${waitPolicy})`,
          samplesPerSecond: peer.samplesPerSecond,
          msPerStep: peer.msPerStep,
          batches: peer.batches,
          batchSize: peer.batchSize,
          threads: peer.threads,
          version: peer.version,
        }
      : { name: 'pytorch', status: peer.status, description: `PyTorch CPU peer (${TORCH_SCRIPT})`, note: peer.note };
  log.info(`bench: ${s.arch} ${summary(pytorch)}`);
  return pytorch;
}

function withRatios(rows: Row[], flopsPerSample: number): Row[] {
  const rate = (name: string): number | undefined =>
    rows.find((r) => r.name === name && r.status === 'ok')?.samplesPerSecond;
  const cpu = rate('cpu');
  const plain = rate('wasm-plain');
  const torch = rate('pytorch');
  const peak = rows.find((r) => r.name === 'native' && r.status === 'ok')?.peakGflops;
  return rows.map((r) => {
    if (r.samplesPerSecond === undefined) return r;
    const gflops = (flopsPerSample * r.samplesPerSecond) / 1e9;
    return {
      ...r,
      vsCpu: cpu ? r.samplesPerSecond / cpu : null,
      vsWasmPlain: plain ? r.samplesPerSecond / plain : null,
      vsPytorch: torch ? r.samplesPerSecond / torch : null,
      gflops,
      ofPeak: peak ? gflops / peak : null,
    };
  });
}

export function summary(r: Row): string {
  return r.status === 'ok'
    ? `${r.name}: ${r.samplesPerSecond!.toFixed(1)} samples/s, ` +
        `${r.msPerStep!.toFixed(1)} ms/step over ${r.batches} steps of ${r.batchSize}`
    : `${r.name}: ${r.status}${r.note ? ` (${r.note})` : ''}`;
}
