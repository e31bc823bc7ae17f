// The data set registry: one line per data set module.
import type { DatasetModule } from './types';
import { mnist } from './mnist';
import { cifar10 } from './cifar10';
import { stl10 } from './stl10';

export const datasets: Record<string, DatasetModule> = {
  mnist,
  cifar10,
  stl10,
};

export const datasetNames = Object.keys(datasets);

/** The module for `name`; undefined for an unknown name (the CLI turns that into a usage error). */
export function getDataset(name: string): DatasetModule | undefined {
  return Object.hasOwn(datasets, name) ? datasets[name] : undefined;
}

export type { DatasetModule, DatasetArchive, LoadOptions } from './types';
