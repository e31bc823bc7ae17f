// Runs the real CLI and reads what it wrote.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import type { Architecture } from '../src/models/architecture';
import { type Network, initialiseNetwork } from '../src/models/network';
import { type OffspringGenome, sampleOffspring } from '../src/encoding/offspring';
import { developFrom } from '../src/encoding/develop';
import { decodeCheckpoint } from '../src/run/checkpoint';
import type { TrainingCheckpoint } from '../src/evolution/checkpoint';
import { timingFields } from '../src/evolution/record';

export const bin = path.resolve(__dirname, '..', '..', 'bin', 'evolve');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], cwd = process.cwd(), env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix = 'evolve-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function readRecords(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

/** A record without its timing fields (the only ones that differ between identical runs). */
export function withoutTiming(r: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).filter(([k]) => !(timingFields as readonly string[]).includes(k)));
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

/**
 * A LeNet offspring as tests train it: a seeded parent with biases 0.05 (so dead units must be
 * zeroed), a calibrated global filter-granularity draw (F 0.3, Fc 0.7), developed by inheritance.
 */
export function maskedOffspring(arch: Architecture): { genome: OffspringGenome; child: Network } {
  const parent = initialiseNetwork(arch, seedrandom('w'));
  const genome = sampleOffspring(
    parent,
    {
      synapseFactor: 0.3,
      clusterFactor: 0.7,
      tau: 0.01,
      normalisation: 'calibrated',
      scope: 'global',
      granularity: 'filter',
    },
    seedrandom('g'),
  );
  for (const p of parent.params) p.bias.fill(0.05);
  return { genome, child: developFrom(genome, parent, parent, 'inherit', seedrandom('i')) };
}

/** Every kernel and bias of `net` as one byte string, for bit-for-bit comparisons. */
export function paramBytes(net: Network): Buffer {
  return Buffer.concat(
    net.params.flatMap((p) => [p.kernel, p.bias].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))),
  );
}

/**
 * A fresh tmpfs of `size` (mount's syntax, e.g. '1m') for full-disk tests, or undefined after
 * skipping `t` where mounting is not allowed (not root). Unmount it with unmountDisk.
 */
export function smallDisk(t: TestContext, size: string): string | undefined {
  const disk = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', disk], { stdio: 'ignore' });
    return disk;
  } catch {
    t.skip('cannot mount a small tmpfs here (needs root)');
    return undefined;
  }
}

export function unmountDisk(disk: string): void {
  execFileSync('umount', [disk]);
}

/** `fn` throws an error of class `cls` whose message is one line matching `pattern`. */
export function expectOneLineError(fn: () => unknown, cls: new (...args: never[]) => Error, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, pattern);
    return true;
  });
}

export interface Killed {
  signal: NodeJS.Signals | null;
  stderr: string;
  checkpoint?: TrainingCheckpoint;
}

/** The checkpoint of the generation in progress in `out`, if one is there. */
export function readCheckpointFile(out: string): TrainingCheckpoint | undefined {
  try {
    const gen = fs.readdirSync(path.join(out, 'work')).find((f) => /^gen-\d+$/.test(f));
    return decodeCheckpoint(fs.readFileSync(path.join(out, 'work', gen!, 'checkpoint.bin')));
  } catch {
    return undefined; // not there (yet), or gone
  }
}

/** Starts a run into `out` and kills it (SIGKILL) as soon as its checkpoint satisfies `when`. */
export function killAtCheckpoint(
  args: string[],
  out: string,
  when: (c: TrainingCheckpoint) => boolean,
): Promise<Killed> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args, '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const poll = setInterval(() => {
      const c = readCheckpointFile(out);
      if (!c || !when(c) || child.exitCode !== null) return;
      clearInterval(poll);
      child.kill('SIGKILL');
    }, 5);
    child.on('close', (_code, signal) => {
      clearInterval(poll);
      resolve({ signal, stderr, checkpoint: readCheckpointFile(out) });
    });
  });
}

/** input 3 -> hidden 2 (relu) -> output 2; kernels [in, out] row-major: a net to check formulas by hand. */
export const tiny: Architecture = {
  name: 'tiny',
  inputShape: [1, 1, 3],
  layers: [
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'h', units: 2, activation: 'relu' },
    { kind: 'dense', name: 'o', units: 2, activation: 'linear' },
  ],
};
