/**
 * The run folder: config.json, generations.ndjson (one complete line per generation) and
 * gen-NN/ with each generation's model and mask.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Network } from '../models/network';
import { saveNetwork } from '../engine/modelio';
import type { GenerationRecord } from '../evolution/record';
import { appendLine, ensureDir, writeFileAtomic } from '../files';
import { RunError, UsageError } from '../errors';
import { processAlive } from '../processes';

export function defaultRunDir(dataset: string, arch: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const day = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}`;
  const stamp = `${day}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return path.join('runs', `${dataset}-${arch}-${stamp}`);
}

/** `~` and `~/...` as a shell expands them: `--out=~/x` reaches evolve unexpanded. */
export function expandHome(dir: string): string {
  if (dir === '~') return os.homedir();
  return dir.startsWith('~/') ? path.join(os.homedir(), dir.slice(2)) : dir;
}

export function generationDir(run: string, generation: number): string {
  return path.join(run, `gen-${String(generation).padStart(2, '0')}`);
}

/** RUN/gen-NN/survivor-K: a runner-up of generation NN's population, offspring K (the best is gen-NN itself). */
export function survivorDir(run: string, generation: number, offspring: number): string {
  return path.join(generationDir(run, generation), `survivor-${offspring}`);
}

/** What a start-up writes before config.json: the lock, the lock's and config.json's temporary names. */
const startupFile = /^(\.evolve\.lock(\.takeover|\.\d+\.tmp)?|\.config\.json\.\d+\.tmp)$/;

/**
 * The names in `dir` when it holds only what a run's start-up writes before config.json (none, for
 * an empty folder): a half-made run folder, left by a start-up that was killed. Undefined otherwise.
 */
export function startupLeftovers(dir: string): string[] | undefined {
  const names = fs.readdirSync(dir);
  return names.every((n) => startupFile.test(n)) ? names : undefined;
}

/**
 * Refuses an --out that is not a new or empty folder: never mix runs or overwrite user files. A
 * link to an existing empty folder is the user's choice of place; a dangling one is refused.
 * `halfMade`: a folder holding only what a killed start-up wrote counts as empty (a new run's --out).
 */
export function checkRunDir(dir: string, s: { halfMade?: boolean } = {}): void {
  if (dir.trim() === '') throw new UsageError('--out: an empty folder name; give the folder to write');
  let link: fs.Stats | undefined;
  try {
    link = fs.lstatSync(dir);
  } catch {
    return; // nothing there: evolve creates it
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (link.isSymbolicLink())
      throw new UsageError(
        `--out ${dir}: a symbolic link to ${fs.readlinkSync(dir)}, ` +
          `which ${code === 'ENOENT' ? 'does not exist' : `cannot be reached (${code})`}`,
      );
    throw new UsageError(`--out ${dir}: cannot be read (${code ?? String(e)})`);
  }
  if (!st.isDirectory()) throw new UsageError(`--out ${dir}: exists and is not a folder; choose a new folder`);
  if (fs.readdirSync(dir).length === 0 || (s.halfMade && startupLeftovers(dir) !== undefined)) return;
  throw notEmpty(dir);
}

/** The one-line refusal of a new run's --out that holds something. */
export function notEmpty(dir: string): UsageError {
  if (fs.existsSync(path.join(dir, 'config.json')))
    return new UsageError(`--out ${dir}: holds a run already; continue it with: evolve --resume ${dir}`);
  return new UsageError(`--out ${dir}: already exists and is not empty; choose a new folder`);
}

/** A temporary file of writeFileAtomic (`.NAME.PID.tmp`); the lock's own are its contenders' business. */
const temporaryFile = /^\.(?!evolve\.lock\.).+\.\d+\.tmp$/;

/**
 * A lock's temporary file (`.evolve.lock.PID.tmp`) whose writer was killed: a contender's lives only
 * while it tries for the lock, so one of a process that is gone was left by a kill.
 */
function deadContendersFile(name: string): boolean {
  const pid = Number(/^\.evolve\.lock\.(\d+)\.tmp$/.exec(name)?.[1]);
  return pid > 0 && pid !== process.pid && !processAlive(pid);
}

/**
 * Removes the temporary files that killed writers left in run folder `dir` (at its top, in its
 * gen-NN/ and work/gen-NN/ folders; at its top also a killed contender's lock file), and returns
 * their paths. Only the lock's holder calls this, so
 * no other process is writing them.
 */
export function removeTemporaryFiles(dir: string): string[] {
  const removed: string[] = [];
  const visit = (d: string, depth: number): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const file = path.join(d, e.name);
      if (e.isFile() && (temporaryFile.test(e.name) || (depth === 0 && deadContendersFile(e.name)))) {
        fs.rmSync(file, { force: true });
        removed.push(path.relative(dir, file));
      } else if (e.isDirectory() && depth < 2 && (/^gen-\d+$/.test(e.name) || (depth === 0 && e.name === 'work'))) {
        visit(file, depth + 1);
      }
    }
  };
  visit(dir, 0);
  return removed;
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
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
    writeFileAtomic(path.join(this.dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** The model and mask first (then the record, with addRecord): a record never points at a missing model. */
  async addNetworks(record: GenerationRecord, net: Network, survivors: Network[] = [net]): Promise<void> {
    const dir = generationDir(this.dir, record.generation);
    // A link planted since the folder was checked is refused, never written through.
    if (isLink(dir)) throw new RunError(`${dir}: a symbolic link; evolve writes only inside its run folder`);
    const numbers = record.survivors ?? [];
    for (let i = 1; i < survivors.length; i++) {
      const inner = survivorDir(this.dir, record.generation, numbers[i]);
      if (isLink(inner)) throw new RunError(`${inner}: a symbolic link; evolve writes only inside its run folder`);
      await saveNetwork(survivors[i], inner);
    }
    await saveNetwork(net, dir);
  }

  addRecord(record: GenerationRecord): void {
    appendLine(path.join(this.dir, 'generations.ndjson'), JSON.stringify(record));
  }
}
