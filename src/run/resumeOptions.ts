/** `--resume RUN`: the run's saved options, and which command-line options may differ from them. */
import * as path from 'node:path';
import { type Options, checkSavedOptions, flagOf } from './options';
import { UsageError } from '../errors';
import { type SavedConfig, readConfig } from './resume';

/** Options that do not change the records: they may differ between a run and its resume. */
const outputOnly = new Set(['json', 'resume', 'dataDir']);

function same(key: string, given: unknown, saved: unknown, run: string): boolean {
  if (key === 'out') return path.resolve(String(given)) === path.resolve(run);
  if (key === 'ancestor' && typeof given === 'string' && typeof saved === 'string')
    return path.resolve(given) === path.resolve(saved);
  return JSON.stringify(given) === JSON.stringify(saved);
}

/**
 * A run saved without --env-factor or --target-efficiency ran at the default F of its day (0.69
 * before the default became the paper's pace): it resumes at the F its config.json resolved.
 */
function withResolvedFactor(saved: Record<string, unknown>, config: SavedConfig): Record<string, unknown> {
  if (saved.envFactor !== undefined || saved.targetEfficiency !== undefined) return saved;
  const F = config.resolved?.synapseFactor;
  return typeof F === 'number' && F > 0 && F <= 1 ? { ...saved, envFactor: F } : saved;
}

/** `--resume RUN`: the run's saved options, refusing command-line options that differ from them. */
export function resumeOptions(
  run: string,
  given: Partial<Options>,
  json: boolean,
): { o: Options; config: SavedConfig } {
  const config = readConfig(run);
  // The same checks as the command line's, before any saved value is used.
  const saved = withResolvedFactor(
    checkSavedOptions(config.options, path.join(run, 'config.json')) as unknown as Record<string, unknown>,
    config,
  );
  // The ancestor file by the absolute path recorded at the start, never relative to this folder.
  if (config.ancestor) saved.ancestor = config.ancestor.path;
  const differing = Object.entries(given)
    .filter(([key, value]) => !outputOnly.has(key) && !same(key, value, saved[key], run))
    .map(
      ([key, value]) =>
        `${flagOf(key)} ${String(value)} (the run has ${saved[key] === undefined ? 'none' : String(saved[key])})`,
    );
  if (differing.length > 0) {
    throw new UsageError(
      `--resume ${run}: ${differing.join(', ')} differ${differing.length === 1 ? 's' : ''} from the run's options; ` +
        'a resumed run keeps every option in its config.json',
    );
  }
  return { o: { ...(saved as unknown as Options), out: run, resume: run, json }, config };
}
