/**
 * Where downloaded data sets live. Never inside the package folder: an npm install may be
 * read-only or replaced on upgrade, and a 2.6 GB archive has no place in it.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from './idx';

export interface DataRootOptions {
  /** `--data-dir` from the command line; wins over everything. */
  dataDir?: string;
  /** The environment to read (defaults to process.env), so tests need not touch the real one. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The data cache folder, absolute: `--data-dir`, else `$EVOLVE_DATA_DIR`, else
 * `$XDG_CACHE_HOME/evolve`, else `~/.cache/evolve`. Empty values count as unset.
 */
export function dataRoot(opts: DataRootOptions = {}): string {
  const env = opts.env ?? process.env;
  const given = nonEmpty(opts.dataDir) ?? nonEmpty(env.EVOLVE_DATA_DIR);
  if (given !== undefined) return path.resolve(given);
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'evolve');
  const home = nonEmpty(env.HOME) ?? nonEmpty(safeHomedir());
  if (home === undefined) {
    throw new DataError('no folder for downloaded data: set --data-dir or EVOLVE_DATA_DIR (HOME is not set)');
  }
  return path.join(path.resolve(home), '.cache', 'evolve');
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s;
}

function safeHomedir(): string | undefined {
  try {
    return os.homedir();
  } catch {
    // os.homedir throws when neither HOME nor the password database knows the user.
    return undefined;
  }
}
