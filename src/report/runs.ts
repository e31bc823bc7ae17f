/**
 * A run folder as the report sees it: its config.json and generations.ndjson, read and never
 * written (a run may still be going, in this process's child or on another machine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError, UsageError } from '../errors';
import type { GenerationRecord } from '../evolution/record';
import { type SavedConfig, readSavedConfig } from '../run/config';
import { readRecords } from '../run/resume';

/** One generation of one run, in the report's terms. */
export interface RunPoint {
  generation: number;
  synapses: number;
  synapseEfficiency: number;
  clusterEfficiency: number;
  /** Ancestor / now in live conv filters and in live 2-D conv kernels (a filter's slice per input channel). */
  filterEfficiency: number;
  kernelEfficiency: number;
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
  points: RunPoint[];
}

export type RunConfig = SavedConfig;

/** config.json's options, or a RunError naming what is wrong (the reader --resume and export use). */
export function readRunConfig(folder: string): RunConfig {
  return readSavedConfig(folder).config;
}

/**
 * The complete records of generations.ndjson, in order, read as --resume and export read them: a
 * torn last line (a record being written, or cut by a kill) is not counted.
 */
export { readRecords };

function toPoint(r: GenerationRecord): RunPoint {
  return {
    generation: r.generation,
    synapses: r.synapses,
    synapseEfficiency: r.architecturalEfficiency,
    clusterEfficiency: r.clusterEfficiency,
    filterEfficiency: r.filterEfficiency,
    kernelEfficiency: r.kernelEfficiency,
    testAccuracy: r.testAccuracy,
    accuracyChange: -r.accuracyDrop,
  };
}

/** A run with at least one record; a non-folder is bad usage (exit 2), an empty run a failed report (exit 1). */
export function readRun(folder: string): RunSummary {
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory())
    throw new UsageError(`${folder}: no such run folder`);
  const { options, resolved } = readRunConfig(folder);
  const records = readRecords(folder);
  if (records.length === 0)
    throw new RunError(`${folder}: no generation records yet (generations.ndjson is missing or empty)`);
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
    points: records.map(toPoint),
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
  return args.flatMap((arg) => {
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
}
