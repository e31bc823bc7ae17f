/**
 * `evolve report RUN... [--format md|csv|json] [--plot FILE.png|FILE.svg] [--tradeoff FILE.png|FILE.svg]`: runs side
 * by side with the paper.
 */
import { type Command, Option } from 'commander';
import { buildReport, type ReportSettings } from '../report/report';
import { formats } from '../report/format';

async function runReport(folders: string[], o: ReportSettings): Promise<void> {
  const { text, notes } = await buildReport(folders, o);
  for (const note of notes) process.stderr.write(`${note}\n`);
  process.stdout.write(text);
  for (const file of [o.plot, o.tradeoff]) if (file !== undefined) process.stderr.write(`evolve: wrote ${file}\n`);
}

export function addReportCommand(program: Command): void {
  program
    .command('report')
    .summary("Per-generation table of run folders beside the paper's numbers, and figures")
    .description(
      'Per-generation table of run folders (synapses; synapse, filter and kernel efficiency; test accuracy and its ' +
        'change), mean and min-max across the runs of each experiment (runs whose options differ only in --seed and ' +
        "--out), beside the paper's final numbers; optionally figures (--plot, --tradeoff). A run with no record yet " +
        "is listed, not counted. Reads only each folder's config.json and generations.ndjson. Exit 2 for an argument " +
        'that is not a folder, 1 when no run has a record.',
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
    .option(
      '--tradeoff <file>',
      'also draw the trade-off to FILE.png or FILE.svg: test accuracy change against (a) synapse efficiency and ' +
        '(b) filter efficiency, log scales; per experiment one curve, one point per generation, each point the ' +
        'mean over its seeds',
    )
    .action(runReport);
}
