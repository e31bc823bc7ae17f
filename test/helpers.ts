// Runs the real CLI and reads what it wrote.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const bin = path.resolve(__dirname, '..', '..', 'bin', 'evolve');

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(args: string[], cwd = process.cwd()): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix = 'evolve-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function readRecords(file: string): Record<string, unknown>[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

export function withoutTiming(r: Record<string, unknown>): Record<string, unknown> {
  const { seconds, trainSeconds, ...rest } = r;
  void seconds; void trainSeconds;
  return rest;
}

/** Per weight tensor of a saved layers model: its name, shape and values. */
export function readWeights(genDir: string): { name: string; shape: number[]; values: Float32Array }[] {
  const model = JSON.parse(fs.readFileSync(path.join(genDir, 'model.json'), 'utf8'));
  const group = model.weightsManifest[0];
  const buf = fs.readFileSync(path.join(genDir, group.paths[0]));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  let offset = 0;
  return group.weights.map((w: { name: string; shape: number[] }) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const values = all.subarray(offset, offset + n);
    offset += n;
    return { name: w.name, shape: w.shape, values };
  });
}

export function readMask(genDir: string): Uint8Array[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(genDir, 'mask.json'), 'utf8'));
  const bytes = fs.readFileSync(path.join(genDir, 'mask.bin'));
  return manifest.layers.map((l: { offset: number; length: number }) => bytes.subarray(l.offset, l.offset + l.length));
}
