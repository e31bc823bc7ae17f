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

/** The paper's result for runs of this data set on the paper's ancestor, if it has one. */
export function paperResult(dataset: string, arch: string): PaperResult | undefined {
  const preset = (presets as Record<string, Preset | undefined>)[dataset];
  return preset && preset.paper.arch === arch ? preset.paper : undefined;
}

export function datasetTitle(dataset: string): string {
  return (presets as Record<string, Preset | undefined>)[dataset]?.title ?? dataset;
}
