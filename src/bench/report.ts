/** What a bench run reports: the machine, a side-by-side table with the ratios, and the sparsity table. */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { Row } from './runner';
import { EPOCH_SAMPLES, type SparsityRow, type TimedForm } from './sparsity';
import { weightedLayers } from '../models/architecture';
import { lenet5 } from '../models/ancestors/lenet5';

/** LeNet-5's units per weighted layer: the shape every masked form trains at. */
const lenet5Units = weightedLayers(lenet5).map((l) => l.outUnits);

export interface MachineInfo {
  cpu: string;
  cores: number;
  platform: string;
  arch: string;
  node: string;
  tfjs: string;
  /** 1-minute load average when the run started: above 0 means something else was using the cores. */
  loadAverage: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    platform: os.platform(),
    arch: os.arch(),
    node: process.version,
    tfjs: tf.version_core,
    loadAverage: Number(os.loadavg()[0].toFixed(2)),
  };
}

function ratio(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${x >= 100 ? x.toFixed(0) : x.toFixed(2)}x`;
}

function backendText(r: Row): string {
  if (r.name === 'pytorch') return r.status === 'ok' ? r.description : '';
  if (!r.backend) return '';
  const b = r.backend;
  const parts = [b.package.replace('@tensorflow/', ''), b.device];
  if (b.simd !== undefined) parts.push(b.simd ? 'simd' : 'no simd');
  if (b.kernels) parts.push(b.kernels === 'native' ? `native kernels (${b.nativeSimd})` : `${b.kernels} kernels`);
  return parts.join(', ');
}

const archTitles: Record<string, string> = {
  lenet5: 'LeNet-5 (28x28x1, MNIST)',
  alexnet: 'AlexNet (32x32x3, random images)',
  stl10net: 'STL-10 net (96x96x3, random images)',
};

/** A plain-text table for one architecture; rows without a number say why in place of the numbers. */
export function formatTable(machine: MachineInfo, rows: Row[], arch = 'lenet5'): string {
  const header = [
    'configuration',
    'samples/s',
    'ms/step',
    'steps',
    'threads',
    'vs cpu',
    'vs wasm-plain',
    'vs pytorch',
    'GFLOP/s',
    'of peak',
    'backend',
  ];
  const body = rows.map((r) =>
    r.status === 'ok'
      ? [
          r.name,
          r.samplesPerSecond!.toFixed(1),
          r.msPerStep!.toFixed(1),
          `${r.batches}x${r.batchSize}`,
          r.threads == null ? '-' : String(r.threads),
          ratio(r.vsCpu),
          ratio(r.vsWasmPlain),
          ratio(r.vsPytorch),
          r.gflops == null ? '-' : r.gflops.toFixed(1),
          r.ofPeak == null ? '-' : `${(100 * r.ofPeak).toFixed(0)}%`,
          backendText(r),
        ]
      : [r.name, `${r.status}${r.note ? `: ${r.note}` : ''}`],
  );
  const numeric = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // The larger ancestors have no cpu or wasm-plain row: their ratio columns would be all dashes.
  const table = formatColumns(
    title(machine, arch),
    header,
    body,
    numeric,
    arch === 'lenet5' ? new Set() : new Set([5, 6]),
  );
  return [table, peakNote(rows)].filter(Boolean).join('\n');
}

/** What the GFLOP/s and "of peak" columns count, under the table; nothing without a native peak. */
function peakNote(rows: Row[]): string {
  const native = rows.find((r) => r.name === 'native' && r.status === 'ok' && r.peakGflops);
  if (!native) return '';
  return (
    `GFLOP/s: 2 per multiply-add of the forward pass and both gradients (not bias, pooling or update); ` +
    `of peak: against ${native.peakGflops!.toFixed(1)} GFLOP/s, the native path's vector multiply-add ` +
    `(${native.backend?.nativeSimd ?? '?'}) on ${native.threads ?? 1} threads, timed after its steps`
  );
}

function title(machine: MachineInfo, arch: string): string {
  return (
    `${archTitles[arch] ?? arch} training throughput (forward, backward, SGD-momentum step), ` +
    `${machine.cpu}, ${machine.cores} cores, node ${machine.node}, tfjs ${machine.tfjs}, ` +
    `load average ${machine.loadAverage}`
  );
}

/** formatTable's layout without the columns in `drop` (a row of two cells is a name and why it has no number). */
function formatColumns(
  heading: string,
  header: string[],
  body: string[][],
  numeric: Set<number>,
  drop: Set<number>,
): string {
  const keep = header.map((_, i) => i).filter((i) => !drop.has(i));
  const pick = (cells: string[]): string[] => (cells.length === 2 ? cells : keep.map((i) => cells[i]));
  const shown = body.map(pick);
  const cols = keep.map((i) => header[i]);
  const okRows = [cols, ...shown.filter((cells) => cells.length > 2)];
  const widths = cols.map((_, j) => Math.max(...okRows.map((cells) => (cells[j] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.length === 2
      ? `${cells[0].padEnd(widths[0])}  ${cells[1]}`
      : cells
          .map((c, j) => (numeric.has(keep[j]) ? c.padStart(widths[j]) : c.padEnd(widths[j])))
          .join('  ')
          .trimEnd();
  return [heading, line(cols), ...shown.map(line)].join('\n');
}

const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');
const fold = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'inf');

/**
 * The sparsity part: per target, the offspring's efficiencies, then one line per form (masked
 * full-size, compacted) with its step time, epoch estimate and share of the dense ancestor's epoch.
 */
export function formatSparsityTable(rows: SparsityRow[], batchSize: number): string {
  const header = [
    'target',
    'synapses',
    'arch eff',
    'filters',
    'filter eff',
    'form',
    'ms/step',
    'samples/s',
    'epoch s',
    'vs ancestor',
    'units per layer',
  ];
  const numeric = new Set([0, 1, 2, 3, 4, 6, 7, 8, 9]);
  const lines: (string[] | string)[] = [];
  for (const r of rows) {
    if (r.status !== 'ok') {
      lines.push(`${`${r.target}x`.padStart(header[0].length)}  ${r.status}: ${r.note}`);
      continue;
    }
    const form = (name: string, f: TimedForm, units: string): string[] => [
      name,
      f.msPerStep.toFixed(1),
      f.samplesPerSecond.toFixed(1),
      f.epochSeconds.toFixed(1),
      f.vsAncestor == null ? '-' : f.vsAncestor.toFixed(2),
      units,
    ];
    lines.push([
      `${r.target}x`,
      thousands(r.synapses),
      fold(r.synapseEfficiency),
      String(r.filters),
      fold(r.filterEfficiency),
      ...form('masked', r.masked, lenet5Units.join('-')),
    ]);
    lines.push(['', '', '', '', '', ...form('compacted', r.compacted, r.units.join('-'))]);
  }
  const cells = lines.filter((l): l is string[] => Array.isArray(l));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[] | string): string =>
    typeof c === 'string'
      ? c
      : c
          .map((x, i) => (numeric.has(i) ? x.padStart(widths[i]) : x.padEnd(widths[i])))
          .join('  ')
          .trimEnd();
  const ok = rows.find((r) => r.status === 'ok');
  const simd = ok?.status === 'ok' && ok.backend.simd !== undefined ? (ok.backend.simd ? ', simd' : ', no simd') : '';
  const kernels = ok?.status === 'ok' && ok.backend.kernels === 'native' ? 'native' : 'wasm-tuned';
  const title =
    `LeNet-5 training time against synapse efficiency X (offspring sampled with F = 1/X, Fc = 1/sqrt(X)): ` +
    `dense-masked vs compacted, ${kernels}${simd}, batch ${batchSize}, epoch = ${thousands(EPOCH_SAMPLES)} samples`;
  return [title, line(header), ...lines.map(line)].join('\n');
}
