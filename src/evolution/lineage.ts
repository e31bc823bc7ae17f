/**
 * The generation loop (docs/method.md): train or load the ancestor, then per generation sample
 * K offspring from the parent's DNA, develop (train) each, keep the best on the validation split,
 * measure it on the test split, and hand it on as the next parent.
 */
import { Architecture } from '../models/architecture';
import { Network, cloneNetwork, initialiseNetwork } from '../models/network';
import { Dataset } from '../data/dataset';
import { EncodingOptions, OffspringGenome, sampleOffspring } from '../encoding/offspring';
import { measure } from '../metrics/measure';
import { OptimizerName, evaluate } from '../engine/train';
import { trainNetworkParallel } from '../engine/parallel';
import { nativeKernelsActive } from '../engine/kernels/native';
import { stream } from '../random';
import { InitMode, developFrom } from '../encoding/develop';
import { compactNetwork, expandNetwork } from '../models/compact';
import { CandidateRecord, GenerationRecord, measureFields, percent } from './record';
import { BestOffspring, TrainingCheckpoint, checkpointProblem, fingerprint } from './checkpoint';
import { GenerationFactors, generationFactors, planBudget } from './budget';


export type { InitMode };

export interface LineageSettings {
  generations: number;
  offspring: number;
  epochs: number;
  ancestorEpochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  /** L2 weight decay (0: none). */
  weightDecay?: number;
  init: InitMode;
  seed: number;
  encoding: EncodingOptions;
  /** Training threads (WASM workers); 1 trains on the current backend in this thread. */
  workers: number;
}

/**
 * Below this many multiply-accumulates per sample a training step is too short to pay for
 * exchanging gradients between workers (LeNet-300: 0.8x with 2 workers; LeNet-5: 1.5x). The
 * native kernels' threads split single kernels instead and need no such bound.
 */
const PARALLEL_MIN_MACS = 1e6;

export interface LineageEvents {
  /** Training of one network begins (`offspring` is null for the ancestor). */
  onTrainStart?: (generation: number, offspring: number | null) => void;
  onBatch?: (p: { epoch: number; epochs: number; batch: number; batches: number; loss: number }) => void;
  /**
   * Training of one network ended. Like onTrainStart it comes after a turn of the event loop
   * (so signal handlers have run), and may throw to stop the run without recording anything.
   */
  onTrainEnd?: (generation: number, offspring: number | null) => void;
  /** A generation is complete: its record and the selected network. */
  onGeneration: (record: GenerationRecord, net: Network) => Promise<void> | void;
  /**
   * A network finished an epoch other than its last, or an offspring other than the last
   * finished: the generation's state so far, from which a resumed run can continue it.
   */
  onCheckpoint?: (c: TrainingCheckpoint) => Promise<void> | void;
  /** The given checkpoint continues its generation. */
  onCheckpointUsed?: (c: TrainingCheckpoint) => void;
  /** The given checkpoint does not fit this run (`problem` says why): its generation starts afresh. */
  onCheckpointRejected?: (c: TrainingCheckpoint, problem: string) => void;
}

/** One turn of the event loop, so a pending signal is handled before the next network trains. */
function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The encoding options of one generation: the run's, with the generation's factors. */
function encodingFor(base: EncodingOptions, f: GenerationFactors): EncodingOptions {
  return {
    ...base, synapseFactor: f.synapseFactor, clusterFactor: f.clusterFactor ?? base.clusterFactor,
    layerClusterFactors: f.layerClusterFactors ?? undefined,
  };
}

/** Where a resumed run picks up: its saved ancestor and its last finished generation. */
export interface ResumePoint {
  /** The ancestor as saved in gen-00: the baseline of every efficiency. */
  ancestor: Network;
  /** The ancestor record's test accuracy (record 0), the baseline of accuracyDrop. */
  ancestorTestAccuracy: number;
  /** The last finished generation; the run continues at the next one. */
  generation: number;
  /** That generation's saved network. */
  parent: Network;
}

/** The generation's state that a checkpoint adds to the network in training. */
type Progress = Pick<TrainingCheckpoint, 'candidates' | 'best' | 'seconds' | 'trainSeconds'>;

/** The best offspring so far, as the generation loop holds it. */
interface Best {
  net: Network;
  validation: number;
  synapses: number;
  k: number;
  loss: number;
  expectedSynapses: number;
  budgetExceeded: boolean;
}

/**
 * Runs generation 0 (the ancestor) and generations 1..s.generations, or with `resume`, the
 * generations after resume.generation only. Every random stream is named by generation, so a
 * resumed run gives the records an uninterrupted one would. `loadedAncestor` is the --ancestor
 * network (on resume: gen-00 of a run that used --ancestor, for --init rewind). `checkpoint`
 * continues the first generation to run from its last finished epoch (see ./checkpoint.ts).
 */
export async function runLineage(
  arch: Architecture, data: Dataset, s: LineageSettings, events: LineageEvents, loadedAncestor?: Network,
  resume?: ResumePoint, checkpoint?: TrainingCheckpoint,
): Promise<GenerationRecord[]> {
  /**
   * Trains `net` (the network of generation/offspring `at`) in compacted form: dead units cost
   * nothing, and the function is the same. `from` continues it from a checkpoint; `progress`
   * is the rest of the generation's state for the checkpoints it writes.
   */
  const train = async (
    net: Network, epochs: number, rng: () => number, at: Pick<TrainingCheckpoint, 'generation' | 'offspring'>,
    from: TrainingCheckpoint | undefined, progress: () => Progress,
  ) => {
    const compact = compactNetwork(net);
    const onCheckpoint = events.onCheckpoint;
    const start = onCheckpoint && epochs > 1 ? fingerprint(compact.net) : '';
    if (from) {
      from.network!.forEach((p, l) => {
        compact.net.params[l].kernel = p.kernel;
        compact.net.params[l].bias = p.bias;
      });
    }
    const macs = measure(compact.net.layers, compact.net.params.map((p) => p.mask)).macs;
    const loss = await trainNetworkParallel(compact.net, data.train, {
      epochs, batchSize: s.batchSize, learningRate: s.learningRate, optimizer: s.optimizer, weightDecay: s.weightDecay, onBatch: events.onBatch,
      resume: from ? { epochsDone: from.epochsDone, optimizer: from.optimizer! } : undefined,
      onEpochEnd: onCheckpoint && ((e) => onCheckpoint({
        ...at, epochsDone: e.epochsDone, epochs, start, network: e.params, optimizer: e.optimizer, loss: e.loss, ...progress(),
      })),
    }, rng, nativeKernelsActive() || macs >= PARALLEL_MIN_MACS ? s.workers : 1);
    net.params = expandNetwork(compact, net).params;
    return loss;
  };
  const records: GenerationRecord[] = [];

  // Generation 0: the ancestor, trained dense from a seeded initialisation (or loaded).
  let t0 = Date.now();
  const ancestorInit = loadedAncestor ? cloneNetwork(loadedAncestor) : initialiseNetwork(arch, stream(s.seed, 'ancestor', 'init'));
  const offspringOf = (g: number, k: number, parent: Network, encoding: EncodingOptions) => {
    const genome = sampleOffspring(parent, encoding, stream(s.seed, 'generation', g, 'offspring', k, 'dna'));
    return { genome, child: developFrom(genome, parent, ancestorInit, s.init, stream(s.seed, 'generation', g, 'offspring', k, 'init')) };
  };

  const firstGeneration = resume ? resume.generation + 1 : 0;
  if (checkpoint && checkpoint.generation !== firstGeneration) {
    events.onCheckpointRejected?.(checkpoint, `it is of generation ${checkpoint.generation}; the run continues at generation ${firstGeneration}`);
    checkpoint = undefined;
  }
  /**
   * The checkpoint, if it continues generation g; `startOf(k)` is the network it trained
   * (before training). Used at most once; a misfit is reported and the generation starts afresh.
   */
  const continuation = (g: number, startOf: (k: number | null) => Network): TrainingCheckpoint | undefined => {
    const cp = checkpoint;
    if (!cp || cp.generation !== g) return undefined;
    checkpoint = undefined;
    let problem: string | null;
    try {
      problem = g === 0 && loadedAncestor ? 'the run loads its ancestor instead of training it' : checkpointProblem(cp, {
        generation: g, offspring: g === 0 ? 1 : s.offspring, epochs: g === 0 ? s.ancestorEpochs : s.epochs, optimizer: s.optimizer,
        full: ancestorInit, compact: cp.epochsDone > 0 ? compactNetwork(startOf(cp.offspring)).net : null,
      });
    } catch (e) {
      problem = `it does not fit this run (${e instanceof Error ? e.message : String(e)})`;
    }
    if (problem !== null) {
      events.onCheckpointRejected?.(cp, problem);
      return undefined;
    }
    events.onCheckpointUsed?.(cp);
    return cp;
  };
  let parent: Network;
  let ancestorMeasure: ReturnType<typeof measure>;
  let ancestorTestAccuracy: number;
  let trainSeconds = 0;
  if (resume) {
    parent = resume.parent;
    ancestorMeasure = measure(resume.ancestor.layers, resume.ancestor.params.map((p) => p.mask));
    ancestorTestAccuracy = resume.ancestorTestAccuracy;
  } else {
    parent = cloneNetwork(ancestorInit);
    let loss: number | null = null;
    const from = continuation(0, () => ancestorInit);
    if (!loadedAncestor && s.ancestorEpochs > 0) {
      if (from) {
        t0 -= from.seconds * 1000;
        trainSeconds = from.trainSeconds;
      }
      await tick();
      events.onTrainStart?.(0, null);
      const tt = Date.now();
      const before = trainSeconds;
      const progress = (): Progress => ({ candidates: [], best: null, seconds: (Date.now() - t0) / 1000, trainSeconds: before + (Date.now() - tt) / 1000 });
      loss = await train(parent, s.ancestorEpochs, stream(s.seed, 'ancestor', 'shuffle'), { generation: 0, offspring: null }, from, progress);
      trainSeconds = before + (Date.now() - tt) / 1000;
      await tick();
      events.onTrainEnd?.(0, null);
    }
    ancestorMeasure = measure(parent.layers, parent.params.map((p) => p.mask));
    const ancestorTest = await evaluate(parent, data.test);
    const ancestorRecord: GenerationRecord = {
      generation: 0,
      ...measureFields(ancestorMeasure, ancestorMeasure, s.encoding.granularity),
      testAccuracy: percent(ancestorTest),
      accuracyDrop: 0,
      validationAccuracy: percent(await evaluate(parent, data.validation)),
      synapseFactor: null, clusterFactor: null, layerClusterFactors: null, expectedSynapses: null, budgetExceeded: false,
      selected: null, candidates: [], loss,
      seconds: (Date.now() - t0) / 1000, trainSeconds,
    };
    records.push(ancestorRecord);
    ancestorTestAccuracy = ancestorRecord.testAccuracy;
    await events.onGeneration(ancestorRecord, parent);
  }

  // The budgets: what the last generation should reach, and each generation's share of the way.
  const plan = planBudget(parent.layers, ancestorMeasure, s.encoding, s.generations);
  for (let g = Math.max(1, firstGeneration); g <= s.generations; g++) {
    t0 = Date.now();
    trainSeconds = 0;
    const generationParent = parent;
    const factors = generationFactors(plan, measure(parent.layers, parent.params.map((p) => p.mask)), g, s.encoding);
    const encoding = encodingFor(s.encoding, factors);
    const from = continuation(g, (k) => offspringOf(g, k!, generationParent, encoding).child);
    let best: Best | undefined;
    const candidates: CandidateRecord[] = [];
    if (from) {
      // The offspring finished before the checkpoint are not trained again.
      candidates.push(...from.candidates);
      const b = from.best;
      if (b) {
        best = {
          net: { arch: parent.arch, layers: parent.layers, params: b.params }, validation: b.validation, synapses: b.synapses,
          k: b.offspring, loss: b.loss, expectedSynapses: b.expectedSynapses, budgetExceeded: b.budgetExceeded,
        };
      }
      t0 -= from.seconds * 1000;
      trainSeconds = from.trainSeconds;
    }
    const bestOffspring = (): BestOffspring | null => best ? {
      offspring: best.k, validation: best.validation, synapses: best.synapses, loss: best.loss,
      expectedSynapses: best.expectedSynapses, budgetExceeded: best.budgetExceeded, params: best.net.params,
    } : null;
    for (let k = from?.offspring ?? 0; k < s.offspring; k++) {
      const { genome, child } = offspringOf(g, k, parent, encoding);
      await tick();
      events.onTrainStart?.(g, k);
      const tt = Date.now();
      const before = trainSeconds;
      const progress = (): Progress => ({
        candidates: [...candidates], best: bestOffspring(), seconds: (Date.now() - t0) / 1000, trainSeconds: before + (Date.now() - tt) / 1000,
      });
      const resumeFrom = from && from.offspring === k && from.epochsDone > 0 ? from : undefined;
      const childLoss = await train(child, s.epochs, stream(s.seed, 'generation', g, 'offspring', k, 'shuffle'), { generation: g, offspring: k }, resumeFrom, progress);
      trainSeconds = before + (Date.now() - tt) / 1000;
      await tick();
      events.onTrainEnd?.(g, k);
      const validation = s.offspring > 1 || data.validation.count > 0 ? await evaluate(child, data.validation) : NaN;
      const synapses = measure(child.layers, child.params.map((p) => p.mask)).synapses;
      candidates.push({ offspring: k, synapses, validationAccuracy: percent(validation) });
      // Best validation accuracy wins; ties go to fewer synapses, then to the earlier offspring.
      if (!best || validation > best.validation || (validation === best.validation && synapses < best.synapses)) {
        best = {
          net: child, validation, synapses, k, loss: childLoss,
          expectedSynapses: genome.expectedSynapses, budgetExceeded: genome.budgetExceeded,
        };
      }
      if (k < s.offspring - 1 && events.onCheckpoint) {
        await events.onCheckpoint({
          generation: g, offspring: k + 1, epochsDone: 0, epochs: s.epochs, start: '', network: null, optimizer: null, loss: null,
          candidates: [...candidates], best: bestOffspring(), seconds: (Date.now() - t0) / 1000, trainSeconds,
        });
      }
    }
    const chosen = best!;
    const m = measure(chosen.net.layers, chosen.net.params.map((p) => p.mask));
    const test = percent(await evaluate(chosen.net, data.test));
    const record: GenerationRecord = {
      generation: g,
      ...measureFields(m, ancestorMeasure, s.encoding.granularity),
      testAccuracy: test,
      accuracyDrop: Math.round((ancestorTestAccuracy - test) * 1e4) / 1e4,
      validationAccuracy: percent(chosen.validation),
      ...factors,
      expectedSynapses: Math.round(chosen.expectedSynapses * 100) / 100,
      budgetExceeded: chosen.budgetExceeded,
      selected: chosen.k,
      candidates,
      loss: chosen.loss,
      seconds: (Date.now() - t0) / 1000,
      trainSeconds,
    };
    records.push(record);
    await events.onGeneration(record, chosen.net);
    parent = chosen.net;
  }
  return records;
}
