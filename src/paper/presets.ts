/**
 * The paper's experiments (Shafiee & Wong, arXiv:1609.01360, Table 1) as `evolve` options, in one
 * table: adding a data set is adding one row. The epochs are ours (the paper does not give them):
 * MNIST's are evolve's defaults (3 ancestor epochs, 2 per generation), the setting the budget
 * change was measured with (docs/results/budget.md); docs/results/README.md also reports 5 and 2.
 */

/** What the paper reports at its last generation. */
export interface PaperResult {
  /** The paper's ancestor for this data set, as evolve names it. */
  arch: string;
  generations: number;
  synapseEfficiency: number;
  clusterEfficiency: number;
  /**
   * What the paper's cluster efficiency most likely counts: 2-D conv kernels. LeNet-5's 9.71x is
   * exactly 1,020 / 105 kernels (20 + 50 x 20 = 1,020), while no whole number of its 70 filters
   * gives 9.71 (70/7 = 10.00, 70/8 = 8.75); the paper's other ancestors are not published, so the
   * same count is assumed for them (docs/method.md, "The paper's cluster efficiency").
   */
  clusterCount: 'kernel' | 'filter';
  /** Test accuracy of the last generation minus the ancestor's, in percentage points. */
  accuracyChange: number;
}

/** Options of the main command, by their camelCase name; the flag is derived from the name. */
export type RunOptions = Record<string, string | number>;

export interface Preset {
  dataset: string;
  title: string;
  /** Everything but --seed and --out. */
  options: RunOptions;
  paper: PaperResult;
}

export const datasetNames = ['mnist', 'stl10', 'cifar10'] as const;
export type DatasetName = (typeof datasetNames)[number];

export const presets: Record<DatasetName, Preset> = {
  mnist: {
    dataset: 'mnist',
    title: 'MNIST',
    options: {
      dataset: 'mnist',
      arch: 'lenet5',
      generations: 13,
      targetEfficiency: 125.09,
      ancestorEpochs: 3,
      epochs: 2,
    },
    paper: {
      arch: 'lenet5',
      generations: 13,
      synapseEfficiency: 125.09,
      clusterEfficiency: 9.71,
      clusterCount: 'kernel',
      accuracyChange: -1.7,
    },
  },
  stl10: {
    dataset: 'stl10',
    title: 'STL-10',
    options: {
      dataset: 'stl10',
      arch: 'stl10net',
      generations: 10,
      targetEfficiency: 56.27,
      ancestorEpochs: 20,
      epochs: 3,
    },
    paper: {
      arch: 'stl10net',
      generations: 10,
      synapseEfficiency: 56.27,
      clusterEfficiency: 5.96,
      clusterCount: 'kernel',
      accuracyChange: -1.2,
    },
  },
  cifar10: {
    dataset: 'cifar10',
    title: 'CIFAR-10',
    options: {
      dataset: 'cifar10',
      arch: 'alexnet',
      generations: 6,
      targetEfficiency: 14.39,
      ancestorEpochs: 20,
      epochs: 3,
    },
    paper: {
      arch: 'alexnet',
      generations: 6,
      synapseEfficiency: 14.39,
      clusterEfficiency: 2.82,
      clusterCount: 'kernel',
      accuracyChange: -2,
    },
  },
};

/**
 * `--quick`: the same experiment at smoke-test size (2 generations to a 4x target, on 1000
 * training and 500 test samples, 2 ancestor epochs and 1 per generation): 15-30 s for two MNIST
 * seeds on 2 cores. The budget is scaled down with the generations, so the run stays trainable.
 */
export function quickOptions(preset: Preset): RunOptions {
  return {
    ...preset.options,
    generations: 2,
    targetEfficiency: 4,
    ancestorEpochs: 2,
    epochs: 1,
    trainLimit: 1000,
    testLimit: 500,
  };
}

/** The encodings `--ablation` compares; the first is evolve's default and the paper's. */
export const ablationEncodings = ['cluster', 'synapse', 'magnitude'] as const;
export const defaultEncoding = ablationEncodings[0];

/**
 * The mating paper's MNIST budget (Chung, Shafiee, Fieguth, Wong, arXiv:1709.02043): 258.37x fewer
 * synapses. `--tradeoff` runs its settings at the preset's target times this over the paper's.
 */
export const matingSynapseEfficiency = 258.37;

/**
 * The settings `reproduce mnist --tradeoff` compares (docs/results/tradeoff.md), each named by its
 * folder's suffix, its options over the preset's. `mating: true` moves the synapse target from the
 * paper's 125.09x to the mating paper's 258.37x (scaled alike for --quick).
 */
export const tradeoffSettings: { suffix: string; mating: boolean; options: RunOptions }[] = [
  { suffix: 'random-init', mating: false, options: { init: 'random' } },
  { suffix: '258x', mating: true, options: {} },
  { suffix: '258x-c12', mating: true, options: { targetClusterEfficiency: 12 } },
  { suffix: '258x-c8', mating: true, options: { targetClusterEfficiency: 8 } },
  { suffix: '258x-c5', mating: true, options: { targetClusterEfficiency: 5 } },
  { suffix: '258x-magnitude', mating: true, options: { encoding: 'magnitude' } },
  { suffix: '258x-p2', mating: true, options: { parents: 2, population: 2 } },
  { suffix: '258x-p3', mating: true, options: { parents: 3, population: 3 } },
];

/** The paper's result for runs of this data set on the paper's ancestor, if it has one. */
export function paperResult(dataset: string, arch: string): PaperResult | undefined {
  const preset = (presets as Record<string, Preset | undefined>)[dataset];
  return preset && preset.paper.arch === arch ? preset.paper : undefined;
}

export function datasetTitle(dataset: string): string {
  return (presets as Record<string, Preset | undefined>)[dataset]?.title ?? dataset;
}
