/** `evolve reproduce mnist|stl10|cifar10`: the paper's experiment, one run folder per seed. */
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors';
import { datasetNames, type DatasetName, ablationEncodings } from '../paper/presets';
import { reproduce } from '../reproduce/reproduce';

interface ReproduceOptions {
  seeds: number[];
  quick?: boolean;
  out?: string;
  plan?: boolean;
  slurm?: boolean;
  ablation?: boolean;
  tradeoff?: boolean;
}

/** `--seeds 1,2,3`: distinct integers from 0 up. */
function seedList(raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p))))
    throw new InvalidArgumentError('expected comma-separated integers from 0 up, e.g. 1,2,3');
  const seeds = parts.map(Number);
  if (new Set(seeds).size !== seeds.length) throw new InvalidArgumentError('a seed is given twice');
  return seeds;
}

async function runReproduce(dataset: DatasetName, o: ReproduceOptions): Promise<void> {
  if (o.plan && o.slurm) throw new UsageError('reproduce: --plan and --slurm: give one or the other');
  await reproduce(
    {
      dataset,
      seeds: o.seeds,
      quick: o.quick === true,
      ablation: o.ablation === true,
      tradeoff: o.tradeoff === true,
      out: o.out,
    },
    o.plan ? 'plan' : o.slurm ? 'slurm' : 'run',
    { out: (text) => process.stdout.write(text), say: (line) => process.stderr.write(`${line}\n`) },
  );
}

export function addReproduceCommand(program: Command): void {
  program
    .command('reproduce')
    .description(
      "Run the paper's experiment for a data set (presets in docs/reproduce.md), one run folder per seed under " +
        '--out, ' +
        'each a child `evolve` process, one after the other; then print the report. Idempotent: finished runs are ' +
        'skipped, unfinished ones resumed. ' +
        'A failed run does not stop the others; the command then exits 1.',
    )
    .addArgument(new Argument('<dataset>', "the paper's data set").choices(datasetNames))
    .summary("Run the paper's experiment for a data set, one run folder per seed, then the report")
    .addOption(
      new Option('--seeds <list>', 'comma-separated seeds, one run each')
        .argParser(seedList)
        .default([1, 2, 3], '1,2,3'),
    )
    .option(
      '--quick',
      'smoke-test size: 2 generations to a 4x target on 1000 training and 500 test samples, 2 ancestor epochs and 1 ' +
        'per generation (under a minute for MNIST)',
    )
    .option(
      '--out <dir>',
      'folder for the runs: DIR/<dataset>[-<encoding>]/seed-<n> (default: runs/reproduce-<dataset>, with -quick for ' +
        '--quick)',
    )
    .option(
      '--plan',
      'print the `evolve ...` command of every run still to do, one per line, and run nothing (e.g. for GNU parallel)',
    )
    .option(
      '--slurm',
      'write DIR/plan.txt and DIR/reproduce.sbatch (a Slurm job array, one task per line) and run nothing',
    )
    .option(
      '--ablation',
      `also run the baseline encodings with the same seeds and budget: ${ablationEncodings.join(', ')}`,
    )
    .option(
      '--tradeoff',
      "mnist only: also run the efficiency/accuracy trade-off's settings (docs/results/tradeoff.md): --init random " +
        "at the paper's budget; at the mating paper's 258.37x: cluster targets 12, 8 and 5, --encoding magnitude, " +
        '2 and 3 parents; folders DIR/mnist-<setting>/seed-<n>',
    )
    .action(runReproduce);
}
