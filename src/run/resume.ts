/** Reading back a run folder to resume it: its saved options and its finished generations. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../cli/errors';
import { GenerationRecord } from '../evolution/record';

export interface SavedConfig {
  options: Record<string, unknown>;
  backend?: { name?: string; kernels?: string };
}

export function readConfig(run: string): SavedConfig {
  const file = path.join(run, 'config.json');
  if (!fs.existsSync(run) || !fs.statSync(run).isDirectory()) throw new RunError(`--resume ${run}: no such run folder`);
  let config: SavedConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedConfig;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunError(`--resume ${run}: ${code === 'ENOENT' ? 'no config.json, not a run folder' : `config.json cannot be read (${code ?? 'not valid JSON'})`}`);
  }
  if (!config || typeof config.options !== 'object' || config.options === null) throw new RunError(`${file}: no options`);
  return config;
}

export interface FinishedGenerations {
  records: GenerationRecord[];
  /** Set when a torn last line was cut off: what was removed. */
  repaired?: string;
}

/**
 * The complete records of generations.ndjson. A torn last line (no trailing newline, or not valid
 * JSON: the write of an interrupted run) is cut off the file. Records must be generations 0, 1, ...
 */
export function readFinished(run: string): FinishedGenerations {
  const file = path.join(run, 'generations.ndjson');
  if (!fs.existsSync(file)) return { records: [] };
  const text = fs.readFileSync(file, 'utf8');
  let keep = text.lastIndexOf('\n') + 1; // everything after the last newline is torn
  let repaired: string | undefined;
  if (keep < text.length) repaired = `${Buffer.byteLength(text.slice(keep))} bytes with no newline`;
  let lines = text.slice(0, keep).split('\n').slice(0, -1);
  const last = lines[lines.length - 1];
  if (last !== undefined && !isJson(last)) {
    lines = lines.slice(0, -1);
    keep = lines.reduce((n, l) => n + l.length + 1, 0);
    repaired = 'a last line that is not valid JSON';
  }
  const records = lines.map((l, i) => {
    let r: GenerationRecord;
    try {
      r = JSON.parse(l) as GenerationRecord;
    } catch {
      throw new RunError(`${file}: line ${i + 1} is not valid JSON`);
    }
    if (r.generation !== i) throw new RunError(`${file}: line ${i + 1} is generation ${r.generation}, expected ${i}`);
    return r;
  });
  if (repaired !== undefined) fs.truncateSync(file, Buffer.byteLength(text.slice(0, keep)));
  return { records, repaired };
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
