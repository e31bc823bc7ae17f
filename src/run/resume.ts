/** Reading back a run folder to resume it: its saved options and its finished generations. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError, UsageError } from '../errors';
import { type GenerationRecord, upgradeRecord } from '../evolution/record';
import { NotAFileError, readFileNoFollow, truncateFile } from '../files';
import { checkGenerationFiles, checkRunTree, firstIncomplete } from './readBack';
import { type SavedConfig, readSavedConfig } from './config';
import { startupLeftovers } from './runFolder';
import { RunLock } from './lock';

export type { SavedConfig };

/** RUN/config.json, once the folder has passed checkRunTree. A missing folder is bad usage (exit 2). */
export function readConfig(run: string): SavedConfig {
  if (!fs.existsSync(run) || !fs.statSync(run).isDirectory())
    throw new UsageError(`--resume ${run}: no such run folder`);
  if (!fs.existsSync(path.join(run, 'config.json'))) {
    const left = startupLeftovers(run);
    if (left === undefined) throw new RunError(`--resume ${run}: not an evolve run folder (no config.json)`);
    if (left.length === 0) throw new UsageError(`--resume ${run}: an empty folder; there is no run to resume`);
    RunLock.refuseIfHeld(run);
    const command = RunLock.holder(run)?.command;
    const again = command
      ? `start it again with: ${command.map(quote).join(' ')}`
      : 'start it again with the same command';
    throw new UsageError(
      `--resume ${run}: a half-made run folder (its start-up was killed before config.json was written), ` +
        `nothing to resume; ${again} (it takes the folder over), or delete ${run}`,
    );
  }
  checkRunTree(run);
  return readSavedConfig(run).config;
}

export interface FinishedGenerations {
  records: GenerationRecord[];
  /** Set when a torn last line was cut off: what was removed. */
  repaired?: string;
  /** Set when records were cut off because a generation's folder is incomplete: the first such generation. */
  incomplete?: number;
}

/**
 * The complete records in the text of generations.ndjson (`file`, for messages) and the length of
 * the text that holds them: a torn last line (no trailing newline, or not valid JSON: the write of
 * an interrupted run) is not among them. Records must be generations 0, 1, ... A line written
 * before the records took the report's names reads under the new ones (upgradeRecord).
 */
export function parseRecords(
  text: string,
  file: string,
): { records: GenerationRecord[]; keep: number; repaired?: string } {
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
    if (r === null || typeof r !== 'object' || r.generation !== i) {
      throw new RunError(`${file}: line ${i + 1} is generation ${String(r?.generation)}, expected ${i}`);
    }
    return upgradeRecord(r as unknown as Record<string, unknown>);
  });
  return { records, keep: Buffer.byteLength(text.slice(0, keep)), repaired };
}

/** The records of RUN/generations.ndjson, read only (export): a torn last line is left out. */
export function readRecords(run: string): GenerationRecord[] {
  const file = path.join(run, 'generations.ndjson');
  let text: string;
  try {
    text = readFileNoFollow(file).toString('utf8');
  } catch (e) {
    if (e instanceof NotAFileError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new RunError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseRecords(text, file).records;
}

/**
 * The finished generations of RUN, for --resume: the records of generations.ndjson whose folders
 * are complete. A torn last line is cut off the file; so are the records from the first one whose
 * gen-NN folder is missing or incomplete (a folder deleted by hand), which the resume writes again.
 */
export function readFinished(run: string): FinishedGenerations {
  const file = path.join(run, 'generations.ndjson');
  let text: string;
  try {
    text = readFileNoFollow(file).toString('utf8');
  } catch (e) {
    if (e instanceof NotAFileError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [] };
    throw new RunError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const parsed = parseRecords(text, file);
  let { records, keep } = parsed;
  const incomplete = firstIncomplete(run, records);
  if (incomplete !== undefined) {
    records = records.slice(0, incomplete);
    keep = text
      .split('\n')
      .slice(0, incomplete)
      .reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  }
  for (const r of records) checkGenerationFiles(run, r);
  if (keep < Buffer.byteLength(text)) truncateFile(file, keep);
  return { records, repaired: parsed.repaired, incomplete };
}

/** `arg` as a shell reads it back. */
function quote(arg: string): string {
  return /^[\w./=:,@+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
