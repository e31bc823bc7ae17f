/**
 * Runs a plan: each run a child `node bin/evolve ARGS` (exactly the plan's command), one after
 * the other since each uses every core, with its progress on this terminal. A failed run does
 * not stop the others; an interrupted one (Ctrl-C reaches the child too) stops the whole plan.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { PlannedRun } from './plan';

const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'evolve');

export interface Outcome {
  failed: { run: PlannedRun; exit: string }[];
  interrupted: boolean;
}

interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function runChild(args: string[], onStart: (kill: (signal: NodeJS.Signals) => void) => void): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: 'inherit' });
    onStart((signal) => child.kill(signal));
    child.on('error', () => resolve({ code: 127, signal: null }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
}

/** Runs the runs that are not finished; `say` gets one line per event for people. */
export async function executePlan(runs: PlannedRun[], say: (line: string) => void): Promise<Outcome> {
  const outcome: Outcome = { failed: [], interrupted: false };
  let kill: ((signal: NodeJS.Signals) => void) | undefined;
  // A terminal's Ctrl-C reaches the child by itself; a `kill` of this process is passed on, so the
  // child stops at a point it can resume from.
  const onSignal = (signal: NodeJS.Signals): void => {
    outcome.interrupted = true;
    if (signal === 'SIGTERM') kill?.('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const todo = runs.filter((r) => r.state !== 'finished');
    for (const [i, run] of todo.entries()) {
      if (outcome.interrupted) break;
      const verb = run.state === 'missing' ? 'starting' : 'resuming';
      say(`evolve: reproduce: ${verb} ${run.name} (${i + 1} of ${todo.length})`);
      const end = await runChild(run.args, (k) => {
        kill = k;
      });
      kill = undefined;
      if (end.code === 0) continue;
      if (outcome.interrupted || end.code === 130) {
        outcome.interrupted = true;
        break;
      }
      const exit = end.signal ? `signal ${end.signal}` : `exit code ${end.code}`;
      say(`evolve: reproduce: ${run.name} failed (${exit}); going on with the others`);
      outcome.failed.push({ run, exit });
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return outcome;
}
