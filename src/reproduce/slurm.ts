/**
 * `--slurm`: the plan as a file and a job-array script that runs its line SLURM_ARRAY_TASK_ID+1,
 * so a cluster runs every seed at once. Paths in the plan are relative to where reproduce ran,
 * so the script starts there; `evolve` is this package's bin.
 */
import * as path from 'node:path';
import { ensureDir, writeFileAtomic } from '../files';
import { shellQuote } from './plan';

const packageBin = path.resolve(__dirname, '..', '..', '..', 'bin');

export interface SlurmFiles {
  plan: string;
  script: string;
}

export function sbatchScript(s: { jobName: string; planFile: string; tasks: number; logDir: string }): string {
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=${s.jobName}`,
    `#SBATCH --array=0-${s.tasks - 1}`,
    '#SBATCH --cpus-per-task=4',
    `#SBATCH --output=${path.join(s.logDir, 'slurm-%A_%a.out')}`,
    "# Add your site's --partition, --time and --mem lines here.",
    '# Written by `evolve reproduce --slurm`: array task i runs line i+1 of the plan (one evolve run each).',
    'set -euo pipefail',
    `cd ${shellQuote(process.cwd())}`,
    `export PATH=${shellQuote(packageBin)}:"$PATH"`,
    `line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${shellQuote(s.planFile)})`,
    'echo "$line"',
    'eval "$line"',
    '',
  ].join('\n');
}

/** Writes DIR/plan.txt and DIR/reproduce.sbatch for these command lines (at least one). */
export function writeSlurm(dir: string, jobName: string, lines: string[]): SlurmFiles {
  ensureDir(dir);
  const plan = path.join(dir, 'plan.txt');
  const script = path.join(dir, 'reproduce.sbatch');
  writeFileAtomic(plan, `${lines.join('\n')}\n`);
  writeFileAtomic(
    script,
    sbatchScript({ jobName, planFile: path.resolve(plan), tasks: lines.length, logDir: path.resolve(dir) }),
  );
  return { plan, script };
}
