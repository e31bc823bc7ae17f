/** What a bench run reports: the machine, and a side-by-side table with the ratios. */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { Row } from './runner';

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
  return parts.join(', ');
}

/** A plain-text table; rows without a number say why in place of the numbers. */
export function formatTable(machine: MachineInfo, rows: Row[]): string {
  const header = ['configuration', 'samples/s', 'ms/step', 'steps', 'threads', 'vs cpu', 'vs wasm-plain', 'backend'];
  const body = rows.map((r) => r.status === 'ok'
    ? [r.name, r.samplesPerSecond!.toFixed(1), r.msPerStep!.toFixed(1), `${r.batches}x${r.batchSize}`,
      r.threads == null ? '-' : String(r.threads), ratio(r.vsCpu), ratio(r.vsWasmPlain), backendText(r)]
    : [r.name, `${r.status}${r.note ? `: ${r.note}` : ''}`]);
  const numeric = new Set([1, 2, 3, 4, 5, 6]);
  const okRows = [header, ...body.filter((cells) => cells.length > 2)];
  const widths = header.map((_, i) => Math.max(...okRows.map((cells) => (cells[i] ?? '').length)));
  const line = (cells: string[]): string => cells.length === 2 && cells !== header
    ? `${cells[0].padEnd(widths[0])}  ${cells[1]}`
    : cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const title = `LeNet-5 training throughput (forward, backward, SGD-momentum step), ${machine.cpu}, ${machine.cores} cores, ` +
    `node ${machine.node}, tfjs ${machine.tfjs}, load average ${machine.loadAverage}`;
  return [title, line(header), ...body.map(line)].join('\n');
}
