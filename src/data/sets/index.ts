// The data set registry: one manifest per data set in the top-level datasets/ folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ManifestError } from './fields';
import { readManifest } from './manifest';
import type { DatasetModule } from './types';

/** Set to a folder of manifests to use instead of the package's datasets/ (tests, or your own data sets). */
export const DATASETS_DIR_ENV = 'EVOLVE_DATASETS_DIR';

/**
 * The package's root: the nearest folder above this module holding package.json. The same folder
 * whether this runs compiled (dist/src/data/sets/) or not, so the manifests are found from both.
 */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new ManifestError(`${__dirname}: no package.json above, so no datasets/ folder`);
    dir = up;
  }
  return dir;
}

/** The folder the manifests are read from: $EVOLVE_DATASETS_DIR, else the package's datasets/. */
export function manifestFolder(env: NodeJS.ProcessEnv = process.env): string {
  return env[DATASETS_DIR_ENV] || path.join(packageRoot(), 'datasets');
}

const inputSize = (d: DatasetModule) => d.inputShape[0] * d.inputShape[1] * d.inputShape[2];

/** Every `*.json` manifest of `folder`, smallest images first, then by name. */
export function loadRegistry(folder: string): Record<string, DatasetModule> {
  let files: string[];
  try {
    files = fs.readdirSync(folder).filter((f) => f.endsWith('.json'));
  } catch (e) {
    throw new ManifestError(`${folder}: cannot read the data set manifests (${(e as NodeJS.ErrnoException).code})`);
  }
  if (files.length === 0) throw new ManifestError(`${folder}: no data set manifests (NAME.json) in the folder`);
  const modules = files.map((f) => readManifest(path.join(folder, f)));
  modules.sort((a, b) => inputSize(a) - inputSize(b) || (a.name < b.name ? -1 : 1));
  return Object.fromEntries(modules.map((m) => [m.name, m]));
}

export const datasets: Record<string, DatasetModule> = loadRegistry(manifestFolder());

export const datasetNames = Object.keys(datasets);

/** The module for `name`; undefined for an unknown name (the CLI turns that into a usage error). */
export function getDataset(name: string): DatasetModule | undefined {
  return Object.hasOwn(datasets, name) ? datasets[name] : undefined;
}

export type { DatasetModule, DatasetArchive, LoadOptions } from './types';
