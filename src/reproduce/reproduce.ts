/**
 * `evolve reproduce`: plan the runs, then print the plan, write it for Slurm, or run it and end
 * with the report over every run folder that has records (DIR/report.md and DIR/report.png too).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../errors';
import { writeFileAtomic } from '../files';
import { readyForRuns } from '../data/forRun';
import { readRecords } from '../run/resume';
import { buildReport } from '../report/report';
import { type ReproduceSettings, type PlannedRun, commandLine, describePlan, planRuns, reproduceDir } from './plan';
import { executePlan } from './execute';
import { writeSlurm } from './slurm';

export type ReproduceMode = 'run' | 'plan' | 'slurm';

export interface ReproduceIo {
  /** Data: the plan's lines, the report's table. */
  out: (text: string) => void;
  /** People: one line each. */
  say: (line: string) => void;
}

function title(s: ReproduceSettings): string {
  const flags = [s.quick && '--quick', s.ablation && '--ablation', s.tradeoff && '--tradeoff'].filter(Boolean);
  return ['reproduce', s.dataset, ...flags].join(' ');
}

function pending(runs: PlannedRun[]): string[] {
  return runs.filter((r) => r.state !== 'finished').map((r) => commandLine(r.args));
}

function printSlurm(s: ReproduceSettings, runs: PlannedRun[], io: ReproduceIo): void {
  const lines = pending(runs);
  if (lines.length === 0) {
    io.say(
      `evolve: ${title(s)}: every run is finished; ` +
        `nothing to submit (evolve report ${reproduceDir(s)}/*/seed-* shows them)`,
    );
    return;
  }
  const files = writeSlurm(reproduceDir(s), `evolve-${s.dataset}`, lines);
  const runCount = `${lines.length} run${lines.length === 1 ? '' : 's'}`;
  io.say(`evolve: wrote ${files.plan} (${runCount}) and ${files.script}; submit with: sbatch ${files.script}`);
  io.say(
    'evolve: when the array is done, run the same reproduce command without --slurm: ' +
      'it skips the finished runs and prints the report',
  );
}

/** The report over the runs that have records; written beside them as report.md and report.png. */
async function finalReport(s: ReproduceSettings, runs: PlannedRun[], io: ReproduceIo): Promise<void> {
  const folders = runs.map((r) => r.folder).filter((f) => fs.existsSync(f) && readRecords(f).length > 0);
  if (folders.length === 0) return;
  const dir = reproduceDir(s);
  const plot = path.join(dir, 'report.png');
  const { text } = await buildReport(folders, { format: 'md', plot });
  writeFileAtomic(path.join(dir, 'report.md'), text);
  io.say(`evolve: wrote ${path.join(dir, 'report.md')} and ${plot}`);
  io.out(text);
}

export async function reproduce(s: ReproduceSettings, mode: ReproduceMode, io: ReproduceIo): Promise<void> {
  const runs = planRuns(s);
  // Checked once, before any run: a missing data set is one message, not one failed download per seed.
  if (mode === 'run' && runs.some((r) => r.state !== 'finished')) await readyForRuns(s.dataset, io.say);
  io.say(`evolve: ${title(s)} in ${reproduceDir(s)}: ${describePlan(runs)}`);
  if (mode === 'plan') {
    const lines = pending(runs);
    if (lines.length > 0) io.out(`${lines.join('\n')}\n`);
    return;
  }
  if (mode === 'slurm') return printSlurm(s, runs, io);

  const outcome = await executePlan(runs, io.say);
  if (outcome.interrupted) {
    io.say(`evolve: ${title(s)} interrupted; run the same command again to resume`);
    process.exit(130);
  }
  await finalReport(s, runs, io);
  // Runs another reproduce (or evolve) was running may have finished since: only unfinished ones are named.
  const finishedNow = new Set(
    planRuns(s)
      .filter((r) => r.state === 'finished')
      .map((r) => r.name),
  );
  const busy = outcome.busy.filter((b) => !finishedNow.has(b.run.name));
  if (busy.length > 0) {
    io.say(
      `evolve: ${title(s)}: ${busy.map((b) => b.run.name).join(', ')} still being run by another process; ` +
        'run the same command again once it is done for the report over every run',
    );
  }
  const failed = outcome.failed.filter((f) => !finishedNow.has(f.run.name));
  if (failed.length > 0) {
    const names = failed.map((f) => `${f.run.name} (${f.exit})`).join(', ');
    throw new RunError(`${title(s)}: ${failed.length} of ${runs.length} runs failed: ${names}; ${nextStep(failed)}`);
  }
}

/** What to do about failed runs: resume those that saved a generation; the others never got going. */
function nextStep(failed: { run: PlannedRun }[]): string {
  const started = failed.filter((f) => fs.existsSync(f.run.folder) && readRecords(f.run.folder).length > 0);
  if (started.length === failed.length) return 'run the same command again to resume them';
  if (started.length === 0) return 'none saved a generation: see the error above, then run the same command again';
  return `${started.length} saved generations and resume with the same command; see the error above for the others`;
}
