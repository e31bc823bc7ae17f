/**
 * Every option of the main command, described once: commander's flags, --help, validation, the
 * Options type and the saved config.json all come from this table, so they cannot drift apart. It
 * lives with the run folder because a run's config.json is read back through it (--resume, export).
 */
import { InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors';
import { backendChoices } from '../engine/backend';
import { optimizerChoices } from '../engine/optimizer';
import { ancestorNames } from '../models/ancestors';
import { type DatasetModule, datasetNames, datasets } from '../data/sets';
import { encodingNames } from '../encoding/encodings';
import { normalisations, scopes } from '../encoding/types';
import { granularities } from '../encoding/clusters';
import { initModes } from '../encoding/develop';
import { presets } from '../paper/presets';

/** A default that depends on the data set, for --help: "on for cifar10 and stl10, off for mnist". */
function perDataset(value: (d: DatasetModule) => string): string {
  const groups = new Map<string, string[]>();
  for (const d of Object.values(datasets)) groups.set(value(d), [...(groups.get(value(d)) ?? []), d.name]);
  return [...groups].map(([v, names]) => `${v} for ${names.join(' and ')}`).join(', ');
}

const archChoices = ancestorNames;

/**
 * The default F is the paper's MNIST pace: 125.09x fewer synapses after 13 generations (Table 1),
 * computed as --target-efficiency computes it, so `evolve --generations 13` and `evolve reproduce
 * mnist` run the same experiment. Other generation counts keep the pace, not the total.
 */
const defaultPace = {
  synapseEfficiency: presets.mnist.paper.synapseEfficiency,
  generations: presets.mnist.paper.generations,
};
export const defaultEnvFactor = defaultPace.synapseEfficiency ** (-1 / defaultPace.generations);

type Parser<V = unknown> = (raw: string) => V;

export interface OptionSpec {
  flags: string;
  description: string;
  /** Shown in --help and used when the option is absent. */
  defaultValue?: unknown;
  /** Help text for a default that depends on other options. */
  defaultText?: string;
  parse?: Parser;
  choices?: readonly string[];
}

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw) => {
    const v = Number(raw);
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return v;
  };
}

/** A finite number in a range; `open` ends exclude their bound. */
export function real(min: number, max: number, openMin = false, openMax = false): Parser<number> {
  return (raw) => {
    const v = Number(raw);
    const ok =
      raw.trim() !== '' && Number.isFinite(v) && (openMin ? v > min : v >= min) && (openMax ? v < max : v <= max);
    if (!ok) {
      const range = `${openMin ? '(' : '['}${min}, ${Number.isFinite(max) ? max : 'inf'}${openMax ? ')' : ']'}`;
      throw new InvalidArgumentError(`expected a number in ${range}`);
    }
    return v;
  };
}

/**
 * The table, keyed by each option's name in Options and config.json (commander's attributeName of
 * its flag; --no-augment is the negation of augment): Options below is derived from it.
 */
export const optionTable = {
  dataset: {
    flags: '--dataset <name>',
    description: 'data set (see `evolve datasets list`)',
    defaultValue: 'mnist',
    choices: datasetNames,
  },
  arch: {
    flags: '--arch <name>',
    description: 'ancestor architecture',
    defaultText: perDataset((d) => d.defaultArch),
    choices: archChoices,
  },
  generations: {
    flags: '--generations <n>',
    description: 'generations to synthesise after the ancestor (0: train and record the ancestor only)',
    defaultValue: 13,
    parse: integer(0, 1000),
  },
  encoding: {
    flags: '--encoding <name>',
    description:
      'how offspring are drawn: cluster (the cluster-driven encoding), synapse (synapse-only, the predecessor paper) ' +
      'or magnitude (deterministic global magnitude pruning, the usual baseline); all under the same synapse budget',
    defaultValue: 'cluster',
    choices: encodingNames,
  },
  envFactor: {
    flags: '--env-factor <F>',
    description:
      'environmental factor F in (0, 1]: the run aims for F^-G fewer synapses after --generations; each generation ' +
      'keeps, in expectation, what remains of that ratio spread over the remaining generations (F while on schedule)',
    defaultText:
      `${defaultPace.synapseEfficiency}^(-1/${defaultPace.generations}) = ${defaultEnvFactor.toFixed(4)}, the ` +
      `paper's MNIST pace: ${defaultPace.synapseEfficiency}x fewer synapses after ${defaultPace.generations} ` +
      'generations, as in `evolve reproduce mnist`; other --generations keep this F, not the total',
    parse: real(0, 1, true),
  },
  targetEfficiency: {
    flags: '--target-efficiency <X>',
    description: 'instead of --env-factor: aim for X-fold fewer synapses after --generations, F = X^(-1/G)',
    parse: real(1, Infinity),
  },
  clusterFactor: {
    flags: '--cluster-factor <Fc>',
    description:
      'cluster factor Fc in (0, 1]: the run aims for Fc^-G fewer clusters in the conv layers (the hidden layers of a ' +
      'network without conv layers), shared between layers by the square root of their size, closed-loop like F',
    defaultText: 'sqrt(F)',
    parse: real(0, 1, true),
  },
  targetClusterEfficiency: {
    flags: '--target-cluster-efficiency <Y>',
    description: 'instead of --cluster-factor: Fc = Y^(-1/G)',
    parse: real(1, Infinity),
  },
  tau: {
    flags: '--tau <t>',
    description: "truncation: synapses weaker than t * the layer's max |w| do not count towards their cluster",
    defaultValue: 0.01,
    parse: real(0, 1, false, true),
  },
  normalisation: {
    flags: '--normalisation <mode>',
    description:
      'calibrated: Z solved so the budgets hold in expectation; max: Z from the largest weight (budgets are caps)',
    defaultValue: 'calibrated',
    choices: normalisations,
  },
  scope: {
    flags: '--scope <scope>',
    description: 'synapse budget over the whole network (global) or per layer',
    defaultValue: 'global',
    choices: scopes,
  },
  granularity: {
    flags: '--granularity <g>',
    description: 'synaptic cluster: a whole filter/neuron, or one kh x kw conv kernel',
    defaultValue: 'filter',
    choices: granularities,
  },
  init: {
    flags: '--init <mode>',
    description:
      "offspring weights: parent's trained (inherit), fresh seeded (random), or the ancestor's initial (rewind), " +
      'masked',
    defaultValue: 'inherit',
    choices: initModes,
  },
  offspring: {
    flags: '--offspring <k>',
    description:
      "offspring per generation; the best on the validation split is the generation's network, the best " +
      "--population of them the next generation's possible parents",
    defaultText: 'the --population (1)',
    parse: integer(1, 1000),
  },
  population: {
    flags: '--population <p>',
    description: "offspring kept from each generation, by validation accuracy: the next generation's possible parents",
    defaultValue: 1,
    parse: integer(1, 1000),
  },
  parents: {
    flags: '--parents <m>',
    description:
      'parents per offspring, drawn from the previous generation\'s population and mated (docs/method.md, "Several ' +
      'parents"); 1 is the paper\'s single parent',
    defaultValue: 1,
    parse: integer(1, 1000),
  },
  epochs: {
    flags: '--epochs <n>',
    description: 'training epochs per offspring',
    defaultValue: 2,
    parse: integer(0, 10000),
  },
  ancestorEpochs: {
    flags: '--ancestor-epochs <n>',
    description: 'training epochs for the ancestor',
    defaultValue: 3,
    parse: integer(0, 10000),
  },
  ancestor: {
    flags: '--ancestor <model.json>',
    description: 'load a trained ancestor (TensorFlow.js layers format) instead of training one',
  },
  batchSize: { flags: '--batch-size <n>', description: 'mini-batch size', defaultValue: 64, parse: integer(1, 100000) },
  lr: { flags: '--lr <rate>', description: 'learning rate', defaultValue: 0.01, parse: real(0, 10, true) },
  optimizer: {
    flags: '--optimizer <name>',
    description: 'optimiser (momentum is SGD with momentum 0.9)',
    defaultValue: 'momentum',
    choices: optimizerChoices,
  },
  weightDecay: {
    flags: '--weight-decay <rate>',
    description: 'L2 weight decay on the kernels: rate/2 times the sum of squared weights is added to the loss',
    defaultText: perDataset((d) => String(d.weightDecay)),
    parse: real(0, 1),
  },
  augment: {
    flags: '--augment',
    description:
      'augment training images: random crop from the image padded by 4 pixels and a horizontal flip, drawn from the ' +
      'seed',
    defaultText: perDataset((d) => (d.augment ? 'on' : 'off')),
  },
  noAugment: { flags: '--no-augment', description: 'train on the images as they are' },
  dataDir: {
    flags: '--data-dir <dir>',
    description: 'folder holding downloaded data sets (see `evolve datasets`)',
    defaultText: '$EVOLVE_DATA_DIR, else $XDG_CACHE_HOME/evolve or ~/.cache/evolve',
  },
  trainLimit: {
    flags: '--train-limit <n>',
    description: 'use only the first n training samples (after the validation hold-out)',
    parse: integer(1),
  },
  testLimit: { flags: '--test-limit <n>', description: 'use only the first n test samples', parse: integer(1) },
  validation: {
    flags: '--validation <n>',
    description: 'training samples held out for selection (scaled down with --train-limit)',
    defaultText: perDataset((d) => String(d.validation)),
    parse: integer(0, 50000),
  },
  seed: {
    flags: '--seed <n>',
    description: 'seed for every random choice (sampling, shuffling, initialisation)',
    defaultValue: 1,
    parse: integer(0),
  },
  backend: {
    flags: '--backend <name>',
    description: 'tensor backend: auto tries tensorflow (tfjs-node-gpu, tfjs-node), then wasm, then cpu',
    defaultValue: 'auto',
    choices: backendChoices,
  },
  workers: {
    flags: '--workers <n>',
    description:
      'training threads (wasm backend): with the native kernels, up to n offspring of a generation train at once ' +
      'and the threads split each kernel call (records do not depend on n); where the native kernels are not ' +
      'built, the JavaScript kernels train on one thread',
    defaultText: 'the number of cores',
    parse: integer(1, 64),
  },
  out: { flags: '--out <dir>', description: 'run folder', defaultText: 'runs/<dataset>-<arch>-<timestamp>' },
  resume: {
    flags: '--resume <run>',
    description:
      'continue an interrupted run in its folder, with the options in its config.json, from its last finished ' +
      'generation or epoch',
  },
  json: {
    flags: '--json',
    description: 'generation records as NDJSON on stdout; human text on stderr',
    defaultValue: false,
  },
} as const satisfies Record<string, OptionSpec>;

export const optionSpecs: readonly OptionSpec[] = Object.values(optionTable);

type Table = typeof optionTable;

/** An option's value: one of its choices, what its parser returns, its argument as typed, or on/off. */
type ValueOf<S> = S extends { choices: readonly (infer C)[] }
  ? C
  : S extends { parse: Parser<infer V> }
    ? V
    : S extends { flags: `${string}<${string}` }
      ? string
      : boolean;

/** Keys whose entry matches `S`. */
type KeysWhere<S> = { [K in keyof Table]: Table[K] extends S ? K : never }[keyof Table];
/** --no-augment sets augment: a negation has no key of its own. */
type Named = Exclude<keyof Table, KeysWhere<{ flags: `--no-${string}` }>>;
type Defaulted = KeysWhere<{ defaultValue: unknown }>;

/** The options of a run, as the table gives them: an option with a default always has a value. */
export type Options = { -readonly [K in Extract<Named, Defaulted>]: ValueOf<Table[K]> } & {
  -readonly [K in Exclude<Named, Defaulted>]?: ValueOf<Table[K]>;
};

/** F and Fc resolved from the four ways of giving them (docs/method.md, "Budgets: F and Fc"). */
export interface Factors {
  synapseFactor: number;
  clusterFactor: number;
}

export function resolveFactors(o: Options): Factors {
  const G = Math.max(1, o.generations);
  const synapseFactor =
    o.targetEfficiency !== undefined ? o.targetEfficiency ** (-1 / G) : (o.envFactor ?? defaultEnvFactor);
  const clusterFactor =
    o.targetClusterEfficiency !== undefined
      ? o.targetClusterEfficiency ** (-1 / G)
      : (o.clusterFactor ?? Math.sqrt(synapseFactor));
  return { synapseFactor, clusterFactor };
}

/** Checks that need more than one option: what is wrong, or undefined. */
export function combinationProblem(o: Options): string | undefined {
  if (o.envFactor !== undefined && o.targetEfficiency !== undefined)
    return '--env-factor and --target-efficiency: give one or the other';
  if (o.clusterFactor !== undefined && o.targetClusterEfficiency !== undefined) {
    return '--cluster-factor and --target-cluster-efficiency: give one or the other';
  }
  const offspring = o.offspring ?? o.population;
  if (o.population > offspring)
    return `--population ${o.population} keeps more than the ${offspring} offspring of a generation (--offspring)`;
  if (o.parents > o.population)
    return `--parents ${o.parents} draws more parents than the --population of ${o.population} holds`;
  if (offspring > 1 && o.validation === 0)
    return '--offspring > 1 selects on the validation split; --validation must be at least 1';
  return undefined;
}

/** An option's key in Options and config.json, as commander names it: --batch-size is batchSize. */
export function optionKey(spec: OptionSpec): string {
  return new Option(spec.flags).attributeName();
}

const mainOptions = optionSpecs.map((spec) => new Option(spec.flags));

/**
 * The flag of an option's key, from commander's own naming: batchSize is --batch-size. `options`
 * defaults to the main command's; a subcommand passes its own (`command.options`).
 */
export function flagOf(key: string, options: readonly Option[] = mainOptions): string {
  const flag = options.find((o) => o.attributeName() === key)?.long;
  if (flag === undefined) throw new Error(`no option named ${key}`);
  return flag;
}

/** What is wrong with a saved value, by the same parser or choices as the command line; undefined if nothing. */
function savedValueProblem(spec: OptionSpec, value: unknown): string | undefined {
  if (!spec.flags.includes('<')) return typeof value === 'boolean' ? undefined : 'expected true or false';
  if (spec.choices)
    return typeof value === 'string' && spec.choices.includes(value)
      ? undefined
      : `expected one of ${spec.choices.join(', ')}`;
  if (spec.parse) {
    if (typeof value !== 'number' && typeof value !== 'string') return 'expected a number';
    try {
      const parsed = spec.parse(String(value));
      return parsed === value ? undefined : `expected ${typeof parsed === 'number' ? 'a number' : 'a string'}`;
    } catch (e) {
      return (e as Error).message;
    }
  }
  return typeof value === 'string' ? undefined : 'expected a string';
}

const shorten = (s: string): string => (s.length > 40 ? `${s.slice(0, 37)}...` : s);

/**
 * The options saved in a run's config.json (`where`), through the same checks as the command
 * line: a value the command line would refuse is a UsageError naming the file and the field.
 * An absent option takes its default (a run saved before the option existed); keys that are no
 * option are dropped.
 */
export function checkSavedOptions(saved: Record<string, unknown>, where: string): Options {
  const o: Record<string, unknown> = {};
  for (const spec of optionSpecs) {
    const key = optionKey(spec);
    const value = saved[key];
    if (value === undefined) {
      if (spec.defaultValue !== undefined) o[key] = spec.defaultValue;
      continue;
    }
    const problem = savedValueProblem(spec, value);
    if (problem !== undefined)
      throw new UsageError(`${where}: options.${key} ${shorten(JSON.stringify(value) ?? String(value))}: ${problem}`);
    o[key] = value;
  }
  const combination = combinationProblem(o as unknown as Options);
  if (combination !== undefined) throw new UsageError(`${where}: ${combination}`);
  return o as unknown as Options;
}
