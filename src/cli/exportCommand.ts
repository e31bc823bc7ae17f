/** `evolve export RUN --generation N [--compact] --out DIR`: a plain TensorFlow.js layers model and how to use it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { RunError, UsageError } from '../errors';
import { checkSavedOptions } from '../run/options';
import { readSavedConfig } from '../run/config';
import { selectBackend, tfjsVersion } from '../engine/backend';
import { saveNetwork } from '../engine/modelio';
import type { Architecture } from '../models/architecture';
import { ancestorNames, findAncestor } from '../models/ancestors';
import type { Network } from '../models/network';
import { compactNetwork } from '../models/compact';
import { liveUnits } from '../models/masks';
import { measure } from '../metrics/measure';
import { checkRunDir } from '../run/runFolder';
import { checkGenerationFiles, checkRunTree, generationComplete, loadGeneration } from '../run/readBack';
import { readRecords } from '../run/resume';
import type { GenerationRecord } from '../evolution/record';
import type { ChannelStats } from '../data/preprocess';
import { getDataset } from '../data/sets';
import { type UsageFacts, writeUsage } from './exportUsage';

export interface ExportOptions {
  generation: number;
  compact: boolean;
  out: string;
}

function generationNumber(raw: string): number {
  const v = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(v))
    throw new InvalidArgumentError('expected an integer from 0 up');
  return v;
}

/** The run's architecture, from config.json's options.arch. */
export function runArchitecture(run: string): Architecture {
  if (!fs.existsSync(path.join(run, 'config.json')))
    throw new RunError(`${run}: not an evolve run folder (no config.json)`);
  checkRunTree(run);
  const { file, config } = readSavedConfig(run);
  // A config.json the command line would refuse is refused here too, as --resume does.
  const name = checkSavedOptions(config.options, file).arch;
  const arch = typeof name === 'string' ? findAncestor(name) : undefined;
  if (!arch)
    throw new RunError(`${file}: options.arch ${JSON.stringify(name)} is not one of ${ancestorNames.join(', ')}`);
  return arch;
}

/**
 * Finished generations: those with a record and a complete folder, ascending. A folder without
 * its record is a generation the run had not finished writing.
 */
export function finishedGenerations(run: string): GenerationRecord[] {
  return readRecords(run).filter((r) => generationComplete(run, r.generation));
}

export function describe(list: number[]): string {
  return list.length === 0 ? 'none' : list.join(', ');
}

/** Holds dead units' biases at 0 as evolve's training and evaluation do (a no-op for evolve's own runs). */
export function zeroDeadBiases(net: Network): void {
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  net.params.forEach((p, l) => {
    p.bias.forEach((_, u) => {
      if (!units[l][u]) p.bias[u] = 0;
    });
  });
}

export async function runExport(run: string, o: ExportOptions): Promise<void> {
  // Everything that can be checked before a byte is written.
  if (!fs.existsSync(run) || !fs.statSync(run).isDirectory()) throw new UsageError(`${run}: no such run folder`);
  checkRunDir(o.out);
  const arch = runArchitecture(run);
  const available = finishedGenerations(run);
  const record = available.find((r) => r.generation === o.generation);
  if (!record) {
    throw new UsageError(
      `--generation ${o.generation}: ${run} has no generation ${o.generation} (available: ` +
        `${describe(available.map((r) => r.generation))})`,
    );
  }

  checkGenerationFiles(run, record);
  // tfjs-layers builds (and saves) a model only with a backend.
  await selectBackend('auto');
  const full = await loadGeneration(run, record, arch);
  zeroDeadBiases(full);
  const net = o.compact ? compactNetwork(full).net : full;

  try {
    await saveNetwork(net, o.out);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new RunError(`--out ${o.out}: cannot write (${err.code ?? err.message})`);
  }

  const usage = writeUsage(o.out, usageFacts(run, o, record, net));

  const m = measure(
    net.layers,
    net.params.map((p) => p.mask),
  );
  const params = net.params.reduce((a, p) => a + p.kernel.length + p.bias.length, 0);
  const shapes = net.layers.map((l) => `${l.name} ${l.kernelShape.join('x')}`).join(', ');
  process.stderr.write(
    `evolve: wrote ${o.out}: ${net.arch.name} from ${run} generation ${o.generation}; ` +
      `${net.layers.length} weighted layers (${shapes}), ${params} params, ${m.synapses} synapses\n` +
      `evolve: how to use it (input, preprocessing, classes, a Node program): ${usage}\n`,
  );
}

/** What the export's README.md and usage.json state, from the run's config.json and the generation's record. */
function usageFacts(run: string, o: ExportOptions, record: GenerationRecord, net: Network): UsageFacts {
  const { config } = readSavedConfig(run);
  const data = (config as { data?: { normalise?: ChannelStats } }).data;
  const testSamples = config.resolved?.testSamples;
  // A run from before --dataset existed trained on MNIST.
  const dataset = String(config.options.dataset ?? 'mnist');
  return {
    run: path.basename(path.resolve(run)),
    generation: o.generation,
    compact: o.compact,
    arch: net.arch.name,
    dataset,
    datasetTitle: getDataset(dataset)?.title ?? dataset,
    inputShape: net.arch.inputShape,
    classes: net.layers[net.layers.length - 1].outUnits,
    normalise: data?.normalise,
    testAccuracy: record.testAccuracy,
    testSamples: typeof testSamples === 'number' ? testSamples : undefined,
    tfjsVersion: tfjsVersion(),
  };
}

export function addExportCommand(program: Command): void {
  // The main command's options (its --out among them) must not swallow a subcommand's: options
  // after a subcommand's name belong to the subcommand.
  program
    .command('export')
    .description(
      'Write one generation of a run as a plain TensorFlow.js layers model (model.json + weights.bin, with its ' +
        'mask), optionally compacted, and a README.md (and usage.json) saying how to use it: input shape, ' +
        'preprocessing, output (logits), class names, a Node program.',
    )
    .argument('<run>', 'run folder (the --out of an evolve run)')
    .requiredOption('--generation <n>', 'generation to export (0: the ancestor)', generationNumber)
    .option(
      '--compact',
      'remove dead filters and neurons: a smaller dense model that computes the same function',
      false,
    )
    .requiredOption('--out <dir>', 'folder to write; must be new or empty')
    .action(async (run: string, opts: ExportOptions) => runExport(run, opts));
}
