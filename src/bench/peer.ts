/**
 * The PyTorch peer: the shared script that trains the same LeNet-5 (SGD momentum 0.9, lr 0.01)
 * on CPU and prints `... lenet5_train_samples_per_s=N`. Run only where both it and torch exist.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const TORCH_SCRIPT_ENV = 'EVOLVE_TORCH_BENCH';
export const PYTHON_ENV = 'EVOLVE_PYTHON';

export type PeerResult =
  | { status: 'ok'; samplesPerSecond: number; msPerStep: number; batches: number; batchSize: number; threads: number; version: string; python: string; script: string }
  | { status: 'not found' | 'failed'; note: string };

/** The shared script beside the repository, or the file named by $EVOLVE_TORCH_BENCH. */
export function findTorchScript(repoRoot: string): { script?: string; looked: string } {
  const fromEnv = process.env[TORCH_SCRIPT_ENV];
  const candidate = fromEnv ? path.resolve(fromEnv) : path.resolve(repoRoot, '..', 'shared', 'peers', 'torch_lenet5_bench.py');
  return fs.existsSync(candidate) ? { script: candidate, looked: candidate } : { looked: candidate };
}

/**
 * The first interpreter that can import torch: $EVOLVE_PYTHON, python3 on PATH, then the system's
 * /usr/bin/python3 (Debian's python3-torch installs there, which a pyenv python3 on PATH cannot see).
 */
export function findTorchPython(): string | undefined {
  const candidates = [process.env[PYTHON_ENV], 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    if (r.status === 0) return python;
  }
  return undefined;
}

/** Runs the peer script for `batches` steps of `batchSize` (after its own one-pass warm-up). */
export async function runTorchPeer(repoRoot: string, threads: number, batches: number, batchSize: number): Promise<PeerResult> {
  const { script, looked } = findTorchScript(repoRoot);
  if (!script) return { status: 'not found', note: `peer script not found (${looked}; set ${TORCH_SCRIPT_ENV})` };
  const python = findTorchPython();
  if (!python) return { status: 'not found', note: "PyTorch not installed (no python3 here can 'import torch')" };

  const args = [script, String(threads), String(batches * batchSize), String(batchSize)];
  const { code, stdout, stderr } = await capture(python, args);
  const rate = /lenet5_train_samples_per_s=([0-9.eE+-]+)/.exec(stdout);
  const samplesPerSecond = rate ? Number(rate[1]) : NaN;
  if (code !== 0 || !(samplesPerSecond > 0 && Number.isFinite(samplesPerSecond))) {
    const why = lastLine(stderr) || lastLine(stdout) || `exit code ${code}`;
    return { status: 'failed', note: `${python} ${path.basename(script)}: ${why}` };
  }
  return {
    status: 'ok', samplesPerSecond, msPerStep: (1000 * batchSize) / samplesPerSecond, batches, batchSize,
    threads: Number(/threads=(\d+)/.exec(stdout)?.[1] ?? threads),
    version: /pytorch (\S+)/.exec(stdout)?.[1] ?? 'unknown', python, script,
  };
}

export function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

/** Runs a command to completion, collecting its output (asynchronously, so the caller can report). */
export function capture(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => resolve({ code: null, stdout, stderr: `${stderr}\n${e.message}` }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
