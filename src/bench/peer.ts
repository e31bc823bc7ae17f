/**
 * The PyTorch peer: scripts/peers/torch_train_bench.py trains the architecture it is given as
 * evolve's own JSON (so it cannot drift from the ancestor: same layers, padding, pooling, ReLU,
 * batch size, SGD momentum 0.9, lr 0.01) on CPU, on random data of the input shape, and prints
 * `... train_samples_per_s=N`. Run only where python3 can import torch.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Architecture } from '../models/architecture';

export const TORCH_SCRIPT_ENV = 'EVOLVE_TORCH_BENCH';
export const PYTHON_ENV = 'EVOLVE_PYTHON';

export type PeerResult =
  | {
      status: 'ok';
      samplesPerSecond: number;
      msPerStep: number;
      batches: number;
      batchSize: number;
      threads: number;
      version: string;
      python: string;
      script: string;
    }
  | { status: 'not found' | 'failed'; note: string };

/** The repository's peer script (relative to the repository root). */
export const TORCH_SCRIPT = path.join('scripts', 'peers', 'torch_train_bench.py');

/** The repository's peer script, or the file named by $EVOLVE_TORCH_BENCH. */
export function findTorchScript(repoRoot: string): { script?: string; looked: string } {
  const fromEnv = process.env[TORCH_SCRIPT_ENV];
  const candidate = fromEnv ? path.resolve(fromEnv) : path.resolve(repoRoot, TORCH_SCRIPT);
  return fs.existsSync(candidate) ? { script: candidate, looked: candidate } : { looked: candidate };
}

/**
 * The first interpreter that can import torch: $EVOLVE_PYTHON, python3 on PATH, then the system's
 * /usr/bin/python3 (Debian's python3-torch installs there, which a pyenv python3 on PATH cannot see).
 */
export function findTorchPython(): string | undefined {
  // Importing torch takes seconds: ask once per process, not once per architecture.
  if (torchPython === null) torchPython = searchTorchPython();
  return torchPython;
}

let torchPython: string | undefined | null = null;

function searchTorchPython(): string | undefined {
  const candidates = [process.env[PYTHON_ENV], 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    if (r.status === 0) return python;
  }
  return undefined;
}

export interface PeerSettings {
  arch: Architecture;
  threads: number;
  /** Timed steps, after `warmup` untimed ones. */
  batches: number;
  warmup: number;
  batchSize: number;
}

/** Runs the peer script in a fresh python process for `batches` timed steps of `batchSize`. */
export async function runTorchPeer(repoRoot: string, p: PeerSettings): Promise<PeerResult> {
  const { threads, batches, batchSize } = p;
  const { script, looked } = findTorchScript(repoRoot);
  if (!script) return { status: 'not found', note: `peer script not found (${looked}; set ${TORCH_SCRIPT_ENV})` };
  const python = findTorchPython();
  if (!python) return { status: 'not found', note: "PyTorch not installed (no python3 here can 'import torch')" };

  const args = [script, JSON.stringify(p.arch), String(threads), String(batches), String(batchSize), String(p.warmup)];
  const { code, stdout, stderr } = await capture(python, args, peerEnvironment());
  const rate = /train_samples_per_s=([0-9.eE+-]+)/.exec(stdout);
  const samplesPerSecond = rate ? Number(rate[1]) : NaN;
  if (code !== 0 || !(samplesPerSecond > 0 && Number.isFinite(samplesPerSecond))) {
    const why = lastLine(stderr) || lastLine(stdout) || `exit code ${code}`;
    return { status: 'failed', note: `${python} ${path.basename(script)}: ${why}` };
  }
  return {
    status: 'ok',
    samplesPerSecond,
    msPerStep: (1000 * batchSize) / samplesPerSecond,
    batches,
    batchSize,
    threads: Number(/threads=(\d+)/.exec(stdout)?.[1] ?? threads),
    version: /pytorch (\S+)/.exec(stdout)?.[1] ?? 'unknown',
    python,
    script,
  };
}

/**
 * The peer's environment: OpenMP threads that sleep when idle (unless the caller chose a policy).
 * With the default busy-waiting, PyTorch on 2 threads ran 3-5x slower than on 1 thread while other
 * processes used the cores (LeNet-5: 190-216 against 710-988 samples/s); a shared machine then
 * measures the contention, not PyTorch. Passive threads gave 737-802 on 2 threads in the same minutes.
 */
export function peerEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
}

export function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

/** Runs a command to completion, collecting its output (asynchronously, so the caller can report). */
export function capture(
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (e) => resolve({ code: null, stdout, stderr: `${stderr}\n${e.message}` }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
