/** `evolve [options]`: the whole method on a data set, writing a run folder. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Options, resolveFactors } from './options';
import { UsageError, RunError } from './errors';
import { Reporter, formatSeconds } from './progress';
import { selectBackend } from '../engine/backend';
import { loadNetwork } from '../engine/modelio';
import { architectures } from '../models/architecture';
import { loadMnist } from '../data/mnist';
import { stream } from '../random';
import { runLineage } from '../evolution/lineage';
import { RunFolder, checkRunDir, defaultRunDir } from '../run/runFolder';
import { closeTrainingPool } from '../engine/parallel';
import * as os from 'node:os';

const defaultArch: Record<Options['dataset'], keyof typeof architectures> = { mnist: 'lenet5' };

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** Checks that need more than one option; all before anything is written. */
function validate(o: Options): void {
  if (o.envFactor !== undefined && o.targetEfficiency !== undefined) {
    throw new UsageError('--env-factor and --target-efficiency: give one or the other');
  }
  if (o.clusterFactor !== undefined && o.targetClusterEfficiency !== undefined) {
    throw new UsageError('--cluster-factor and --target-cluster-efficiency: give one or the other');
  }
  if (o.offspring > 1 && o.validation === 0) {
    throw new UsageError('--offspring > 1 selects on the validation split; --validation must be at least 1');
  }
  if (o.ancestor !== undefined && !fs.existsSync(o.ancestor)) {
    throw new UsageError(`--ancestor ${o.ancestor}: no such file`);
  }
}

export async function runEvolve(o: Options, argv: string[]): Promise<void> {
  validate(o);
  const archName = o.arch ?? defaultArch[o.dataset];
  const arch = architectures[archName];
  const factors = resolveFactors(o);
  const out = o.out ?? defaultRunDir(o.dataset, archName);
  checkRunDir(out);

  const reporter = new Reporter();
  const backend = await selectBackend(o.backend);
  // Workers run the WASM backend; tfjs-node and the plain cpu backend train in this thread.
  const workers = backend.name === 'wasm' ? (o.workers ?? os.availableParallelism()) : 1;
  reporter.info(`evolve: backend ${backend.name} (${backend.package}, ${backend.device}${backend.simd !== undefined ? `, simd ${backend.simd ? 'on' : 'off'}` : ''}), ${workers} training thread${workers === 1 ? '' : 's'}`);

  const data = loadMnist({ trainLimit: o.trainLimit, testLimit: o.testLimit, validation: o.validation, rng: stream(o.seed, 'data', 'split') });
  const ancestor = o.ancestor ? await loadNetwork(o.ancestor, arch) : undefined;
  if (ancestor && data.inputShape.join('x') !== arch.inputShape.join('x')) {
    throw new RunError(`${o.ancestor}: input shape ${arch.inputShape.join('x')} does not match ${o.dataset} ${data.inputShape.join('x')}`);
  }

  const encoding = {
    synapseFactor: factors.synapseFactor, clusterFactor: factors.clusterFactor, tau: o.tau,
    normalisation: o.normalisation, scope: o.scope, granularity: o.granularity,
  };
  const folder = new RunFolder(out);
  folder.create({
    command: ['evolve', ...argv],
    options: { ...o, arch: archName, out, workers },
    resolved: { ...factors, trainSamples: data.train.count, validationSamples: data.validation.count, testSamples: data.test.count },
    backend,
    versions: { evolve: packageVersion(), node: process.version, tfjs: tf.version_core },
    started: new Date().toISOString(),
  });
  reporter.info(`evolve: ${o.dataset} ${archName}, ${o.generations} generations, F ${factors.synapseFactor.toFixed(4)}, Fc ${factors.clusterFactor.toFixed(4)}; ` +
    `${data.train.count} train / ${data.validation.count} validation / ${data.test.count} test samples; run folder ${out}`);

  const t0 = Date.now();
  const records = await runLineage(arch, data, {
    generations: o.generations, offspring: o.offspring, epochs: o.epochs, ancestorEpochs: o.ancestorEpochs,
    batchSize: o.batchSize, learningRate: o.lr, optimizer: o.optimizer, init: o.init, seed: o.seed, encoding, workers,
  }, {
    onTrainStart: (g, k) => reporter.trainStart(g, k),
    onBatch: (p) => reporter.batch(p),
    onGeneration: async (record, net) => {
      await folder.addGeneration(record, net);
      if (o.json) process.stdout.write(JSON.stringify(record) + '\n');
      reporter.generation(record);
    },
  }, ancestor).finally(() => closeTrainingPool());
  const last = records[records.length - 1];
  reporter.info(`evolve: done in ${formatSeconds((Date.now() - t0) / 1000)}: ${last.architecturalEfficiency.toFixed(2)}x fewer synapses, ` +
    `${last.clusterEfficiency.toFixed(2)}x fewer clusters, test ${last.testAccuracy.toFixed(2)}% (${last.accuracyDrop > 0 ? '-' : '+'}${Math.abs(last.accuracyDrop).toFixed(2)} points against the ancestor); ${out}`);
}
