/**
 * The run folder: config.json, generations.ndjson (one complete line per generation) and
 * gen-NN/ with each generation's model and mask.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Network } from '../models/network';
import { saveNetwork } from '../engine/modelio';
import { GenerationRecord } from '../evolution/record';
import { appendLine, ensureDir, writeFileAtomic } from './files';
import { UsageError } from '../cli/errors';

export function defaultRunDir(dataset: string, arch: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return path.join('runs', `${dataset}-${arch}-${stamp}`);
}

export function generationDir(run: string, generation: number): string {
  return path.join(run, `gen-${String(generation).padStart(2, '0')}`);
}

/** Refuses a folder that already holds anything: never mix runs or overwrite user files. */
export function checkRunDir(dir: string): void {
  if (fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || fs.readdirSync(dir).length > 0)) {
    throw new UsageError(`--out ${dir}: already exists and is not empty; choose a new folder`);
  }
}

export class RunFolder {
  constructor(readonly dir: string) {}

  create(config: object): void {
    this.makeDir();
    this.writeConfig(config);
  }

  makeDir(): void {
    ensureDir(this.dir);
  }

  writeConfig(config: object): void {
    writeFileAtomic(path.join(this.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }

  /** The model and mask first, then the record: a record never points at a missing model. */
  async addGeneration(record: GenerationRecord, net: Network): Promise<void> {
    await saveNetwork(net, generationDir(this.dir, record.generation));
    appendLine(path.join(this.dir, 'generations.ndjson'), JSON.stringify(record));
  }
}
