/**
 * RUN/config.json, read back: the one reader that --resume, export, bench --inference, report and
 * reproduce share, so a damaged file gets the same one-line error from each. The options in it are
 * checked against the option table (src/run/options.ts) by the caller that needs them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../errors';
import { NotAFileError, readFileNoFollow } from '../files';

export interface SavedConfig {
  options: Record<string, unknown>;
  resolved?: Record<string, unknown>;
  backend?: { name?: string; kernels?: string };
  /** The --ancestor file: its absolute path and SHA-256 (runs started before it was recorded have none). */
  ancestor?: { path: string; sha256: string };
}

/** The run's config.json and its path; a RunError when it is missing, unreadable, not JSON or has no options. */
export function readSavedConfig(run: string): { file: string; config: SavedConfig } {
  const file = path.join(run, 'config.json');
  let config: SavedConfig;
  try {
    config = JSON.parse(readFileNoFollow(file).toString('utf8')) as SavedConfig;
  } catch (e) {
    if (e instanceof NotAFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || !fs.existsSync(file))
      throw new RunError(`${run}: not an evolve run folder (no config.json)`);
    throw new RunError(`${file}: ${code ? `cannot read (${code})` : 'not valid JSON'}`);
  }
  const options = (config as Partial<SavedConfig> | null)?.options;
  if (!options || typeof options !== 'object' || Array.isArray(options)) throw new RunError(`${file}: no options`);
  return { file, config };
}
