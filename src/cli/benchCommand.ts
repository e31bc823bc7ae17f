/** `evolve bench`: training throughput per backend, side by side, then training time against sparsity. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors';
import { flagOf, integer, real } from '../run/options';
import { Reporter } from './progress';
import { configurationNames } from '../bench/configurations';
import type { BenchSettings } from '../bench/measure';
import { type OnlyName, measureConfiguration, runBench, runSparsity } from '../bench/runner';
import { formatSparsityTable, formatTable, machineInfo } from '../bench/report';
import { defaultSparsityLevels, maxSparsityLevel, measureSparsity, sparsityLevels } from '../bench/sparsity';
import { ancestorNames } from '../models/ancestors';
import type { Row } from '../bench/runner';
import { defaultInferenceSettings } from '../bench/inference';
import { runInferenceBench } from './inferenceBench';

/** The ancestors `evolve bench` measures by default: LeNet-5 (all configurations) and the two larger ones. */
const defaultArchs = ['lenet5', 'alexnet', 'stl10net'];

/** `--arch alexnet,stl10net`: ancestor names, each once. */
function archList(raw: string): string[] {
  const names = raw.split(',').map((p) => p.trim());
  const unknown = names.find((n) => !ancestorNames.includes(n));
  if (unknown !== undefined)
    throw new InvalidArgumentError(`expected comma-separated ancestors from ${ancestorNames.join(', ')}`);
  return [...new Set(names)];
}

interface BenchOptions {
  /** Ancestors to measure, in order (--arch). */
  arch: string[];
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
  /** A run folder: time its generations' inference instead of training. */
  inference?: string;
  generations?: number[];
  rounds: number;
  inferenceBatchSizes: number[];
}

/** `--sparsity-levels 1,10,100`: target efficiencies, each a number from 1 to maxSparsityLevel. */
function levelList(raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v) || v < 1 || v > maxSparsityLevel)) {
    throw new InvalidArgumentError(
      `expected comma-separated efficiencies from 1 to ${maxSparsityLevel}, e.g. ${defaultSparsityLevels.join(',')}`,
    );
  }
  return values;
}

/** `--generations 0,5,13` or `--inference-batch-sizes 1,256`: integers from `min`, each once. */
function integerList(min: number, what: string) {
  return (raw: string): number[] => {
    const parts = raw.split(',').map((p) => p.trim());
    if (parts.some((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p)) || Number(p) < min)) {
      throw new InvalidArgumentError(`expected comma-separated ${what}`);
    }
    return [...new Set(parts.map(Number))];
  };
}

/** Options that only mean something with --inference, and the reverse (a run is one or the other). */
function checkInferenceOptions(o: BenchOptions, command: Command): void {
  const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
  if (!o.inference) {
    const stray = ['generations', 'rounds', 'inferenceBatchSizes'].find(given);
    if (stray) throw new UsageError(`${flagOf(stray, command.options)} needs --inference RUN`);
    return;
  }
  const training = [
    'arch',
    'batches',
    'seconds',
    'warmup',
    'cpuBatches',
    'batchSize',
    'torchThreads',
    'sparsity',
    'sparsityLevels',
    'only',
  ].find(given);
  if (training)
    throw new UsageError(
      `${flagOf(training, command.options)} is a training option; --inference times a run's networks`,
    );
}

async function runBenchCommand(o: BenchOptions, command: Command): Promise<void> {
  checkInferenceOptions(o, command);
  if (o.inference) {
    return runInferenceBench({
      run: o.inference,
      generations: o.generations,
      json: o.json,
      settings: { ...defaultInferenceSettings, rounds: o.rounds, batchSizes: o.inferenceBatchSizes },
    });
  }
  const settings: BenchSettings = {
    arch: o.arch[0],
    batchSize: o.batchSize,
    batches: o.batches,
    seconds: o.seconds,
    warmup: o.warmup,
    cpuBatches: o.cpuBatches,
    torchThreads: o.torchThreads,
    // The sparsity part is LeNet-5's: it runs when LeNet-5 is measured (or when a child is asked for it).
    sparsityLevels:
      (o.sparsity && o.arch.includes('lenet5')) || o.only === 'sparsity' ? sparsityLevels(o.sparsityLevels) : [],
  };
  if (o.only) {
    // The child side of a bench run: one JSON line, nothing else.
    const result =
      o.only === 'sparsity' ? await measureSparsity(settings) : await measureConfiguration(o.only, settings);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const reporter = new Reporter();
  const machine = machineInfo();
  reporter.info(
    `bench: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, tfjs ${machine.tfjs}; ` +
      `${o.arch.join(', ')}; batch size ${o.batchSize}, ` +
      (o.batches !== undefined ? `${o.batches} timed steps` : `~${o.seconds} s`) +
      ` per configuration after ${o.warmup} warm-up step${o.warmup === 1 ? '' : 's'}, each in a fresh process`,
  );
  if (machine.loadAverage >= 0.5)
    reporter.warn(
      `bench: load average ${machine.loadAverage}: something else is using the CPU, so figures are indicative only`,
    );
  const perArch: { arch: string; rows: Row[] }[] = [];
  for (const arch of o.arch) perArch.push({ arch, rows: await runBench({ ...settings, arch }, reporter) });
  const sparsity = await runSparsity(settings, reporter);
  printResults({ o, machine, settings, perArch, sparsity }, reporter);
}

interface BenchResults {
  o: BenchOptions;
  machine: ReturnType<typeof machineInfo>;
  settings: BenchSettings;
  perArch: { arch: string; rows: Row[] }[];
  sparsity: Awaited<ReturnType<typeof runSparsity>>;
}

/** The tables on stdout, or with --json on stderr and one JSON object on stdout. */
function printResults({ o, machine, settings, perArch, sparsity }: BenchResults, reporter: Reporter): void {
  const tables = [
    ...perArch.map((a) => formatTable(machine, a.rows, a.arch)),
    ...(sparsity.length > 0 ? [formatSparsityTable(sparsity, settings.batchSize)] : []),
  ].join('\n\n');
  if (!o.json) {
    process.stdout.write(`${tables}\n`);
    return;
  }
  reporter.info(tables);
  const byName = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.name, r]));
  process.stdout.write(
    `${JSON.stringify({
      machine,
      settings: { ...settings, arch: o.arch, batches: settings.batches ?? null },
      // LeNet-5's rows, where it was measured (the table this output has always had).
      configurations: byName(perArch.find((a) => a.arch === 'lenet5')?.rows ?? []),
      architectures: Object.fromEntries(perArch.map((a) => [a.arch, { configurations: byName(a.rows) }])),
      sparsity,
    })}\n`,
  );
}

export function addBenchCommand(program: Command): void {
  // Without this the main command would claim `bench --json` and `bench --batch-size` as its own options.
  const bench = program
    .command('bench')
    .description(
      'Training throughput (samples/s of full training steps) per ancestor and backend configuration, each in a ' +
        'fresh process, side by side with PyTorch (scripts/peers/torch_train_bench.py, where python3-torch is ' +
        'installed) on the same architecture; for LeNet-5 also the plain WASM backend, tfjs-node where installed ' +
        'and the plain-JavaScript cpu backend with --cpu-batches, then, in another fresh process, ' +
        'training time of offspring at 1x, 10x, 100x synapse efficiency, dense-masked vs compacted',
    )
    .allowExcessArguments(false)
    .addOption(
      new Option(
        '--arch <list>',
        'ancestors to measure: lenet5 (MNIST, every configuration, and the sparsity part), ' +
          'the others on random images of their input shape (native and tfjs-node only)',
      )
        .argParser(archList)
        .default(defaultArchs, defaultArchs.join(',')),
    )
    .option(
      '--batches <n>',
      'timed training steps per configuration and per sparsity form (default: as many as fit in --seconds, at least 3)',
      integer(1, 1_000_000),
    )
    .option(
      '--seconds <s>',
      'time budget per configuration and per sparsity form when --batches is not given',
      real(0, 3600, true),
      10,
    )
    .option('--warmup <n>', 'untimed steps before timing (cpu: at most 1)', integer(0, 1000), 2)
    .option(
      '--cpu-batches <n>',
      "timed steps on tfjs's plain-JavaScript cpu backend (LeNet-5: seconds a step); 0 skips it",
      integer(0, 1000),
      0,
    )
    .option('--batch-size <n>', 'mini-batch size', integer(1, 10000), 64)
    .option('--torch-threads <n>', 'threads for the PyTorch peer, where it runs', integer(1, 1024), 2);
  addSparsityOptions(bench);
  addInferenceOptions(bench);
  bench.action((o: BenchOptions, command: Command) => runBenchCommand(o, command));
}

/** The options of the sparsity part and of a single configuration (the child side of a bench run). */
function addSparsityOptions(bench: Command): void {
  bench
    .option(
      '--no-sparsity',
      'skip the sparsity part (training time of offspring at --sparsity-levels, dense-masked vs compacted)',
    )
    .addOption(
      new Option(
        '--sparsity-levels <list>',
        'target synapse efficiencies X for the sparsity part: one offspring each ' +
          '(F = 1/X, Fc = 1/sqrt(X)), timed masked and compacted on native (wasm-tuned where the addon is not ' +
          'built); 1, the dense ancestor, is always included',
      )
        .argParser(levelList)
        .default(defaultSparsityLevels, defaultSparsityLevels.join(',')),
    )
    .addOption(
      new Option(
        '--only <name>',
        'measure one configuration (or the sparsity part) in this process and print one JSON line ' +
          '(what a bench run starts per configuration)',
      ).choices([...configurationNames, 'sparsity']),
    )
    .option(
      '--json',
      'one JSON object on stdout (machine, settings, per configuration, sparsity rows); human text on stderr',
      false,
    );
}

/** The options of `bench --inference RUN`. */
function addInferenceOptions(bench: Command): void {
  bench
    .option(
      '--inference <run>',
      "instead of training: latency per image of the run's generations as compacted networks (evolve export " +
        '--compact), forward pass on the default backend, against the ancestor (generation 0), beside their synapse ' +
        'and cluster ' +
        'efficiency',
    )
    .option(
      '--generations <list>',
      'with --inference: generations to time, e.g. 0,5,13 (default: every finished one; 0 is always added)',
      integerList(0, 'generation numbers from 0 up'),
    )
    .option(
      '--rounds <n>',
      'with --inference: timed rounds, each timing every generation once; the median is reported',
      integer(1, 10000),
      defaultInferenceSettings.rounds,
    )
    .addOption(
      new Option('--inference-batch-sizes <list>', 'with --inference: images per forward pass, one latency column each')
        .argParser(integerList(1, 'batch sizes from 1 up'))
        .default(defaultInferenceSettings.batchSizes, defaultInferenceSettings.batchSizes.join(',')),
    );
}
