/**
 * Runs a plan: each run a child `node bin/evolve ARGS` (exactly the plan's command), one after
 * the other since each uses every core, with its progress on this terminal. A failed run does
 * not stop the others; an interrupted one stops the whole plan.
 *
 * Each child runs in a process group of its own, so a signal reaches it once, from this process:
 * every stop signal this process gets is passed on (a terminal's Ctrl-C included). A child also
 * holds the read end of a pipe from this process: should this process die (SIGKILL), the pipe
 * closes and the child stops as on a hangup, after its current batch, leaving a folder to resume.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { PlannedRun } from './plan';
import { stopSignals } from '../run/stopping';
import { LockHeld, RunLock } from '../run/lock';
import { parentPipeVariable } from '../run/session';

const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'evolve');

export interface Outcome {
  failed: { run: PlannedRun; exit: string }[];
  /** Runs another process was running (their folders' locks were held). */
  busy: { run: PlannedRun; holder: string }[];
  interrupted: boolean;
}

interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function runChild(args: string[], onStart: (kill: (signal: NodeJS.Signals) => void) => void): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      detached: true,
      env: { ...process.env, [parentPipeVariable]: '3' },
    });
    onStart((signal) => child.kill(signal));
    child.on('error', () => resolve({ code: 127, signal: null }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
}

/** What holds the run's folder when another process does. */
function heldBy(run: PlannedRun): string | undefined {
  try {
    RunLock.refuseIfHeld(run.folder);
    return undefined;
  } catch (e) {
    if (e instanceof LockHeld) return e.message.slice(e.message.indexOf('in use by ') + 'in use by '.length);
    return undefined; // an unreadable lock: the child says what is wrong
  }
}

/** Runs the runs that are not finished; `say` gets one line per event for people. */
export async function executePlan(runs: PlannedRun[], say: (line: string) => void): Promise<Outcome> {
  const outcome: Outcome = { failed: [], busy: [], interrupted: false };
  let current: { run: PlannedRun; kill: (signal: NodeJS.Signals) => void } | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!outcome.interrupted && current) {
      say(
        `evolve: reproduce: ${signal === 'SIGINT' ? 'interrupted' : signal}; stopping ${current.run.name} after ` +
          'its current batch (a second Ctrl-C stops it at once)',
      );
    }
    outcome.interrupted = true;
    current?.kill(signal);
  };
  // Ctrl-Z: the child's group has no terminal, so it is stopped (SIGSTOP) with this process, and continued with it.
  const onSuspend = (): void => {
    current?.kill('SIGSTOP');
    process.kill(process.pid, 'SIGSTOP');
  };
  const onContinue = (): void => current?.kill('SIGCONT');
  for (const s of stopSignals) process.on(s, onSignal);
  process.on('SIGTSTP', onSuspend);
  process.on('SIGCONT', onContinue);
  try {
    const todo = runs.filter((r) => r.state !== 'finished');
    for (const [i, run] of todo.entries()) {
      if (outcome.interrupted) break;
      const holder = heldBy(run);
      if (holder !== undefined) {
        say(`evolve: reproduce: ${run.name} is being run by ${holder}; skipped`);
        outcome.busy.push({ run, holder });
        continue;
      }
      const verb = run.state === 'missing' ? 'starting' : 'resuming';
      say(`evolve: reproduce: ${verb} ${run.name} (${i + 1} of ${todo.length})`);
      const end = await runChild(run.args, (kill) => {
        current = { run, kill };
      });
      current = undefined;
      if (end.code === 0) continue;
      if (outcome.interrupted || end.code === 130) {
        outcome.interrupted = true;
        break;
      }
      const other = heldBy(run); // started by another process in the meantime
      if (other !== undefined) {
        outcome.busy.push({ run, holder: other });
        continue;
      }
      const exit = end.signal ? `signal ${end.signal}` : `exit code ${end.code}`;
      say(`evolve: reproduce: ${run.name} failed (${exit}); going on with the others`);
      outcome.failed.push({ run, exit });
    }
  } finally {
    for (const s of stopSignals) process.removeListener(s, onSignal);
    process.removeListener('SIGTSTP', onSuspend);
    process.removeListener('SIGCONT', onContinue);
  }
  return outcome;
}
