/**
 * RUN/.evolve.lock: the pid of the evolve process writing the run folder. Created with 'wx' (it
 * fails if the file exists), removed when the run ends. A lock whose pid is no longer running
 * (a killed run) is stale and taken over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../cli/errors';
import { WriteError } from './files';

export const lockName = '.evolve.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class RunLock {
  private constructor(readonly file: string) {}

  /**
   * Takes the lock of run folder `dir` (which must exist). `onStale` hears about a stale lock
   * that is being taken over.
   */
  static acquire(dir: string, onStale: (message: string) => void): RunLock {
    const file = path.join(dir, lockName);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeSync(fd, `${process.pid}\n`);
        } finally {
          fs.closeSync(fd);
        }
        return new RunLock(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') throw code ? new WriteError(file, code) : e;
      }
      let text = '';
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // removed in between: try again
      }
      const pid = Number(text.trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new RunError(`${dir}: in use by evolve pid ${pid}`);
      }
      onStale(`evolve: ${dir}: taking over a stale lock${Number.isSafeInteger(pid) && pid > 0 ? ` from pid ${pid}, which is no longer running` : ' (unreadable pid)'}`);
      fs.rmSync(file, { force: true });
    }
    throw new RunError(`${dir}: cannot take the lock ${file}`);
  }

  /** Removes the lock if it is still this process's. Safe to call more than once. */
  release(): void {
    try {
      if (fs.readFileSync(this.file, 'utf8').trim() === String(process.pid)) fs.rmSync(this.file, { force: true });
    } catch {
      // already gone
    }
  }
}
