/** `evolve report RUN... [--format md|csv|json] [--plot FILE.png|FILE.svg]`: runs side by side with the paper. */
import { type Command, Option } from 'commander';
import { buildReport, type ReportSettings } from '../report/report';
import { formats } from '../report/format';

async function runReport(folders: string[], o: ReportSettings): Promise<void> {
  const { text, notes } = await buildReport(folders, o);
  for (const note of notes) process.stderr.write(`${note}\n`);
  process.stdout.write(text);
  if (o.plot !== undefined) process.stderr.write(`evolve: wrote ${o.plot}\n`);
}

export function addReportCommand(program: Command): void {
  program
    .command('report')
    .summary("Per-generation table of run folders beside the paper's numbers, and a figure")
    .description(
      'Per-generation table of run folders (synapses; synapse, filter and kernel efficiency; test accuracy and its ' +
        'change), mean and min-max across the runs of each experiment (runs whose options differ only in --seed and ' +
        "--out), beside the paper's final numbers; optionally a figure. A run with no record yet is listed, not " +
        "counted. Reads only each folder's config.json and generations.ndjson. Exit 2 for an argument that is not a " +
        'folder, 1 when no run has a record.',
    )
    .argument(
      '<run...>',
      'run folders (the --out of evolve runs; unfinished runs count up to their last record), or folders that hold ' +
        'them one or two levels down (a reproduce --out)',
    )
    .addOption(
      new Option('--format <format>', 'md: Markdown tables; csv: one row per group and generation; json: one object')
        .choices(formats)
        .default('md'),
    )
    .option('--plot <file>', 'also draw efficiency and accuracy against generation to FILE.png or FILE.svg')
    .action(runReport);
}
