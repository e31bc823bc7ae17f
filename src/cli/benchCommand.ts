/** `evolve bench`: training throughput per backend, side by side. */
import { Command, Option } from 'commander';
import { integer, real } from './options';
import { Reporter } from './progress';
import { ConfigurationName, configurationNames } from '../bench/configurations';
import { BenchSettings } from '../bench/measure';
import { measureConfiguration, runBench } from '../bench/runner';
import { formatTable, machineInfo } from '../bench/report';

interface BenchOptions {
  batches?: number;
  seconds: number;
  warmup: number;
  cpuBatches: number;
  batchSize: number;
  torchThreads: number;
  only?: ConfigurationName;
  json: boolean;
}

async function runBenchCommand(o: BenchOptions): Promise<void> {
  const settings: BenchSettings = { batchSize: o.batchSize, batches: o.batches, seconds: o.seconds, warmup: o.warmup, cpuBatches: o.cpuBatches, torchThreads: o.torchThreads };
  if (o.only) {
    // The child side of a bench run: one JSON line, nothing else.
    process.stdout.write(JSON.stringify(await measureConfiguration(o.only, settings)) + '\n');
    return;
  }
  const reporter = new Reporter();
  const machine = machineInfo();
  reporter.info(`bench: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, tfjs ${machine.tfjs}; batch size ${o.batchSize}, ` +
    (o.batches !== undefined ? `${o.batches} timed steps` : `~${o.seconds} s`) + ` per configuration after ${o.warmup} warm-up step${o.warmup === 1 ? '' : 's'}, each in a fresh process`);
  if (machine.loadAverage >= 0.5) reporter.warn(`bench: load average ${machine.loadAverage}: something else is using the CPU, so figures are indicative only`);
  const rows = await runBench(settings, reporter);
  const table = formatTable(machine, rows);
  if (!o.json) {
    process.stdout.write(table + '\n');
    return;
  }
  reporter.info(table);
  process.stdout.write(JSON.stringify({
    machine,
    settings: { ...settings, batches: settings.batches ?? null },
    configurations: Object.fromEntries(rows.map((r) => [r.name, r])),
  }) + '\n');
}

export function addBenchCommand(program: Command): void {
  // Without this the main command would claim `bench --json` and `bench --batch-size` as its own options.
  program.command('bench')
    .description('LeNet-5 training throughput (samples/s of full training steps) per backend configuration, each in a fresh process, ' +
      'side by side with the plain cpu and WASM backends, tfjs-node and PyTorch where installed')
    .allowExcessArguments(false)
    .option('--batches <n>', 'timed training steps per configuration (default: as many as fit in --seconds, at least 3)', integer(1, 1_000_000))
    .option('--seconds <s>', 'time budget per configuration when --batches is not given', real(0, 3600, true), 10)
    .option('--warmup <n>', 'untimed steps before timing (cpu: at most 1)', integer(0, 1000), 2)
    .option('--cpu-batches <n>', "timed steps on tfjs's plain-JS cpu backend (a few samples/s); 0 skips it", integer(0, 1000), 1)
    .option('--batch-size <n>', 'mini-batch size', integer(1, 10000), 64)
    .option('--torch-threads <n>', 'threads for the PyTorch peer, where it runs', integer(1, 1024), 2)
    .addOption(new Option('--only <name>', 'measure one configuration in this process and print one JSON line (what a bench run starts per configuration)')
      .choices(configurationNames))
    .option('--json', 'one JSON object on stdout (machine, settings, per configuration); human text on stderr', false)
    .action(runBenchCommand);
}
