/**
 * A run folder as the report sees it: its config.json and generations.ndjson, read and never
 * written (a run may still be going, in this process's child or on another machine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import type { GenerationRecord } from '../evolution/record';
import { type SavedConfig, readSavedConfig } from '../run/config';
import { readRecords } from '../run/resume';
import { optionKey, optionSpecs } from '../run/options';

/** One generation of one run, in the report's terms; an efficiency is null where nothing is left to count. */
export interface RunPoint {
  generation: number;
  synapses: number;
  synapseEfficiency: number | null;
  /** At the run's granularity: filters or kernels; hidden neurons in a network without convs. */
  clusterEfficiency: number | null;
  /** Conv filters, ancestor / now; hidden neurons in a network without convs. */
  filterEfficiency: number | null;
  /** 2-D conv kernels (one per input channel and filter), ancestor / now; null in a network without convs. */
  kernelEfficiency: number | null;
  /** Top-1 test accuracy in percent. */
  testAccuracy: number;
  /** This generation's test accuracy minus the ancestor's, in points (the paper's sign: negative is a loss). */
  accuracyChange: number;
}

export interface RunSummary {
  folder: string;
  dataset: string;
  arch: string;
  /** `cluster` for runs from before evolve had --encoding: that was the only one. */
  encoding: string;
  seed: number;
  /** Generations the run was asked for (the last is this number). */
  generations: number;
  /** The synapse budget F it was started with (config.json's resolved factors), if recorded. */
  synapseFactor?: number;
  /** What makes it an experiment: config.json's options but the seed and what only says where or how it ran. */
  experiment: Record<string, unknown>;
  /** Its complete records so far: none for a run that has only just started. */
  points: RunPoint[];
}

export type RunConfig = SavedConfig;

/** config.json's options, or a RunError naming what is wrong (the reader --resume and export use). */
export function readRunConfig(folder: string): RunConfig {
  return readSavedConfig(folder).config;
}

/**
 * Options that do not change what a run computes, or say only where its files go: runs that differ
 * in these alone are seeds of one experiment.
 */
const notExperiment = new Set(['seed', 'out', 'resume', 'json', 'backend', 'workers', 'dataDir']);

/** Every option's default: what a run saved before the option existed ran with. */
const defaults: [string, unknown][] = optionSpecs
  .filter((spec) => spec.defaultValue !== undefined)
  .map((spec) => [optionKey(spec), spec.defaultValue]);

function experimentOf(options: Record<string, unknown>): Record<string, unknown> {
  const kept = Object.entries(options).filter(([k, v]) => !notExperiment.has(k) && v !== undefined && v !== null);
  return Object.fromEntries(
    [...defaults.filter(([k]) => !notExperiment.has(k)), ...kept].sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/** A recorded efficiency: a number, or null (written for "nothing left", or missing in an old record). */
function efficiency(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * A network without convs counts its hidden neurons as clusters (docs/method.md, "Cluster layers");
 * computed from denseNeurons, so folders written before the records counted them read right too.
 */
function toPoint(r: GenerationRecord, ancestor: GenerationRecord): RunPoint {
  const convFree = ancestor.filters === 0 && ancestor.kernels === 0;
  const neurons = r.denseNeurons > 0 ? ancestor.denseNeurons / r.denseNeurons : null;
  return {
    generation: r.generation,
    synapses: r.synapses,
    synapseEfficiency: efficiency(r.synapseEfficiency),
    clusterEfficiency: convFree ? neurons : efficiency(r.clusterEfficiency),
    filterEfficiency: convFree ? neurons : efficiency(r.filterEfficiency),
    kernelEfficiency: convFree ? null : efficiency(r.kernelEfficiency),
    testAccuracy: r.testAccuracy,
    accuracyChange: r.accuracyChange,
  };
}

/** A run, with its records so far (perhaps none yet); a path that is not a folder is bad usage (exit 2). */
export function readRun(folder: string): RunSummary {
  if (!fs.existsSync(folder)) throw new UsageError(`${folder}: no such run folder`);
  if (!fs.statSync(folder).isDirectory()) throw new UsageError(`${folder}: not a run folder (not a folder)`);
  const { options, resolved } = readRunConfig(folder);
  const records = readRecords(folder);
  const text = (key: string, fallback: string) =>
    typeof options[key] === 'string' ? (options[key] as string) : fallback;
  const count = (key: string, fallback: number) =>
    typeof options[key] === 'number' ? (options[key] as number) : fallback;
  return {
    folder,
    dataset: text('dataset', 'mnist'),
    arch: text('arch', 'unknown'),
    encoding: text('encoding', 'cluster'),
    seed: count('seed', 1),
    generations: count('generations', records.length - 1),
    synapseFactor: typeof resolved?.synapseFactor === 'number' ? resolved.synapseFactor : undefined,
    experiment: experimentOf(options),
    points: records.map((r) => toPoint(r, records[0])),
  };
}

function isRunFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json'));
}

function subfolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(dir, e.name))
    .sort();
}

/**
 * Run folders from the command line: a run folder stands for itself; a folder that holds runs one
 * or two levels down (a reproduce --out: DIR/mnist/seed-1) stands for all of them, in name order.
 */
export function expandRunFolders(args: string[]): string[] {
  const folders = args.flatMap((arg) => {
    if (!fs.existsSync(arg) || !fs.statSync(arg).isDirectory() || isRunFolder(arg)) return [arg];
    const children = subfolders(arg);
    const runs = [
      ...children.filter(isRunFolder),
      ...children
        .filter((c) => !isRunFolder(c))
        .flatMap(subfolders)
        .filter(isRunFolder),
    ];
    return runs.length > 0 ? runs : [arg];
  });
  return uniqueFolders(folders);
}

/** Each folder once, however it was named (`report R R`, `report R R/..`, a link to R): the first name given. */
function uniqueFolders(folders: string[]): string[] {
  const seen = new Set<string>();
  return folders.filter((f) => {
    let real: string;
    try {
      real = fs.realpathSync(f);
    } catch {
      real = path.resolve(f);
    }
    if (seen.has(real)) return false;
    seen.add(real);
    return true;
  });
}
