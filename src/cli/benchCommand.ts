/** `evolve bench`: training throughput per backend, side by side, then training time against sparsity. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { integer, real } from './options';
import { Reporter } from './progress';
import { configurationNames } from '../bench/configurations';
import { BenchSettings } from '../bench/measure';
import { OnlyName, measureConfiguration, runBench, runSparsity } from '../bench/runner';
import { formatSparsityTable, formatTable, machineInfo } from '../bench/report';
import { defaultSparsityLevels, maxSparsityLevel, measureSparsity, sparsityLevels } from '../bench/sparsity';

interface BenchOptions {
  batches?: number;
  seconds: number;
  warmup: number;
  cpuBatches: number;
  batchSize: number;
  torchThreads: number;
  only?: OnlyName;
  /** false with --no-sparsity. */
  sparsity: boolean;
  sparsityLevels: number[];
  json: boolean;
}

/** `--sparsity-levels 1,10,100`: target efficiencies, each a number from 1 to maxSparsityLevel. */
function levelList(raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v) || v < 1 || v > maxSparsityLevel)) {
    throw new InvalidArgumentError(`expected comma-separated efficiencies from 1 to ${maxSparsityLevel}, e.g. ${defaultSparsityLevels.join(',')}`);
  }
  return values;
}

async function runBenchCommand(o: BenchOptions): Promise<void> {
  const settings: BenchSettings = {
    batchSize: o.batchSize, batches: o.batches, seconds: o.seconds, warmup: o.warmup, cpuBatches: o.cpuBatches, torchThreads: o.torchThreads,
    sparsityLevels: o.sparsity || o.only === 'sparsity' ? sparsityLevels(o.sparsityLevels) : [],
  };
  if (o.only) {
    // The child side of a bench run: one JSON line, nothing else.
    const result = o.only === 'sparsity' ? await measureSparsity(settings) : await measureConfiguration(o.only, settings);
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  const reporter = new Reporter();
  const machine = machineInfo();
  reporter.info(`bench: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, tfjs ${machine.tfjs}; batch size ${o.batchSize}, ` +
    (o.batches !== undefined ? `${o.batches} timed steps` : `~${o.seconds} s`) + ` per configuration after ${o.warmup} warm-up step${o.warmup === 1 ? '' : 's'}, each in a fresh process`);
  if (machine.loadAverage >= 0.5) reporter.warn(`bench: load average ${machine.loadAverage}: something else is using the CPU, so figures are indicative only`);
  const rows = await runBench(settings, reporter);
  const sparsity = await runSparsity(settings, reporter);
  const tables = [formatTable(machine, rows), ...(sparsity.length > 0 ? [formatSparsityTable(sparsity, settings.batchSize)] : [])].join('\n\n');
  if (!o.json) {
    process.stdout.write(tables + '\n');
    return;
  }
  reporter.info(tables);
  process.stdout.write(JSON.stringify({
    machine,
    settings: { ...settings, batches: settings.batches ?? null },
    configurations: Object.fromEntries(rows.map((r) => [r.name, r])),
    sparsity,
  }) + '\n');
}

export function addBenchCommand(program: Command): void {
  // Without this the main command would claim `bench --json` and `bench --batch-size` as its own options.
  program.command('bench')
    .description('LeNet-5 training throughput (samples/s of full training steps) per backend configuration, each in a fresh process, ' +
      'side by side with the plain cpu and WASM backends, tfjs-node and PyTorch where installed; then, in another fresh process, ' +
      'training time of offspring at 1x, 10x, 100x architectural efficiency, dense-masked vs compacted')
    .allowExcessArguments(false)
    .option('--batches <n>', 'timed training steps per configuration and per sparsity form (default: as many as fit in --seconds, at least 3)', integer(1, 1_000_000))
    .option('--seconds <s>', 'time budget per configuration and per sparsity form when --batches is not given', real(0, 3600, true), 10)
    .option('--warmup <n>', 'untimed steps before timing (cpu: at most 1)', integer(0, 1000), 2)
    .option('--cpu-batches <n>', "timed steps on tfjs's plain-JS cpu backend (a few samples/s); 0 skips it", integer(0, 1000), 1)
    .option('--batch-size <n>', 'mini-batch size', integer(1, 10000), 64)
    .option('--torch-threads <n>', 'threads for the PyTorch peer, where it runs', integer(1, 1024), 2)
    .option('--no-sparsity', 'skip the sparsity part (training time of offspring at --sparsity-levels, dense-masked vs compacted)')
    .addOption(new Option('--sparsity-levels <list>', 'target architectural efficiencies X for the sparsity part: one offspring each ' +
      '(F = 1/X, Fc = 1/sqrt(X)), timed masked and compacted on native (wasm-tuned where the addon is not built); 1, the dense ancestor, is always included')
      .argParser(levelList).default(defaultSparsityLevels, defaultSparsityLevels.join(',')))
    .addOption(new Option('--only <name>', 'measure one configuration (or the sparsity part) in this process and print one JSON line ' +
      '(what a bench run starts per configuration)').choices([...configurationNames, 'sparsity']))
    .option('--json', 'one JSON object on stdout (machine, settings, per configuration, sparsity rows); human text on stderr', false)
    .action(runBenchCommand);
}
