/**
 * One generation, top to bottom (docs/method.md). Generation 0: the ancestor, trained dense from a
 * seeded initialisation (or loaded). Generation g: K offspring sampled from the parent's DNA under
 * the generation's budgets, each developed (trained) and scored on the validation split; the best
 * is measured on the test split and becomes the next parent. A generation interrupted part-way
 * continues from its saved progress: the finished offspring and the last finished epoch.
 */
import { type Network, cloneNetwork, initialiseNetwork } from '../models/network';
import { type EncodingOptions, type OffspringGenome, sampleOffspring } from '../encoding/offspring';
import { type NetworkMeasure, measure } from '../metrics/measure';
import { evaluate } from '../engine/trainer';
import { stream } from '../random';
import { developFrom } from '../encoding/develop';
import { compactNetwork } from '../models/compact';
import { type CandidateRecord, type GenerationRecord, measureFields, percent, pointsChange } from './record';
import { type BestOffspring, type Expected, type TrainingCheckpoint, checkpointProblem } from './checkpoint';
import { type BudgetPlan, type GenerationFactors, generationFactors, planBudget } from './budget';
import { Clock, develop } from './training';
import type { Lineage } from './types';
import type { Generation } from './store';

/** What generations 1.. take from generation 0. */
export interface Baseline {
  /** Generation 0's measure and test accuracy: the baselines of every efficiency and accuracy change. */
  measure: NetworkMeasure;
  testAccuracy: number;
  /** What the last generation should reach, and so each generation's share of the way (./budget.ts). */
  plan: BudgetPlan;
  /** The ancestor before training: where --init rewind starts each offspring. */
  init: Network;
}

const measureOf = (net: Network): NetworkMeasure =>
  measure(
    net.layers,
    net.params.map((p) => p.mask),
  );

/** The ancestor's seeded initialisation. */
function seededAncestor(lineage: Lineage): Network {
  return initialiseNetwork(lineage.arch, stream(lineage.settings.seed, 'ancestor', 'init'));
}

export function baselineOf(ancestor: Generation, lineage: Lineage): Baseline {
  const s = lineage.settings;
  const m = measureOf(ancestor.net);
  return {
    measure: m,
    testAccuracy: ancestor.record.testAccuracy,
    plan: planBudget(ancestor.net.layers, m, s.encoding, s.generations),
    // A loaded ancestor is saved untrained as generation 0.
    init: s.loadsAncestor ? ancestor.net : seededAncestor(lineage),
  };
}

/** Runs generation g: the ancestor for 0, else offspring of `before.parent` (generation g - 1). */
export function runGeneration(
  g: number,
  before: { parent?: Generation; baseline?: Baseline },
  lineage: Lineage,
): Promise<Generation> {
  return g === 0 ? runAncestor(lineage) : runOffspring(g, before.parent!, before.baseline!, lineage);
}

/** Why saved progress cannot continue the generation `expected` describes, or null when it can. */
function problemWith(cp: TrainingCheckpoint, expected: () => Expected): string | null {
  try {
    return checkpointProblem(cp, expected());
  } catch (e) {
    return `it does not fit this run (${e instanceof Error ? e.message : String(e)})`;
  }
}

async function runAncestor(lineage: Lineage): Promise<Generation> {
  const s = lineage.settings;
  const init = s.loadsAncestor ? lineage.ancestor! : seededAncestor(lineage);
  const net = cloneNetwork(init);
  const from = lineage.store.progress(0, (cp) =>
    s.loadsAncestor
      ? 'the run loads its ancestor instead of training it'
      : problemWith(cp, () => ({
          generation: 0,
          offspring: 1,
          epochs: s.ancestorEpochs,
          optimizer: s.optimizer,
          full: init,
          compact: cp.epochsDone > 0 ? compactNetwork(init).net : null,
        })),
  );
  const clock = new Clock(from);
  let loss: number | null = null;
  if (!s.loadsAncestor && s.ancestorEpochs > 0) {
    loss = await develop(lineage, {
      net,
      epochs: s.ancestorEpochs,
      rng: stream(s.seed, 'ancestor', 'shuffle'),
      at: { generation: 0, offspring: null },
      from,
      clock,
      progress: () => ({ candidates: [], best: null }),
    });
  }
  return { record: await ancestorRecord(net, { loss, clock }, lineage), net };
}

/** Generation 0's record: the ancestor measured, on the test split and then the validation split. */
async function ancestorRecord(
  net: Network,
  o: { loss: number | null; clock: Clock },
  lineage: Lineage,
): Promise<GenerationRecord> {
  const m = measureOf(net);
  const test = await evaluate(net, lineage.data.test);
  const record: GenerationRecord = {
    generation: 0,
    ...measureFields(m, m, lineage.settings.encoding.granularity),
    testAccuracy: percent(test),
    accuracyChange: 0,
    validationAccuracy: percent(await evaluate(net, lineage.data.validation)),
    synapseFactor: null,
    clusterFactor: null,
    layerClusterFactors: null,
    expectedSynapses: null,
    capped: false,
    selected: null,
    candidates: [],
    loss: o.loss,
    ...o.clock.times(),
  };
  return record;
}

/** The encoding options of one generation: the run's, with the generation's factors. */
function encodingFor(base: EncodingOptions, f: GenerationFactors): EncodingOptions {
  return {
    ...base,
    synapseFactor: f.synapseFactor,
    clusterFactor: f.clusterFactor ?? base.clusterFactor,
    layerClusterFactors: f.layerClusterFactors ?? undefined,
  };
}

/** Offspring k of generation g: its genome, drawn from the parent's DNA, and its network before training. */
interface Offspring {
  k: number;
  genome: OffspringGenome;
  child: Network;
}

/** The offspring of a generation finished so far, and the best of them. */
interface Selection {
  candidates: CandidateRecord[];
  best: BestOffspring | null;
}

/** Offspring k of generation g, drawn from the parent's DNA under the generation's encoding options. */
function offspringOf(g: number, parent: Network, init: Network, encoding: EncodingOptions, lineage: Lineage) {
  const s = lineage.settings;
  return (k: number): Offspring => {
    const genome = sampleOffspring(parent, encoding, stream(s.seed, 'generation', g, 'offspring', k, 'dna'));
    const child = developFrom(genome, parent, init, s.init, stream(s.seed, 'generation', g, 'offspring', k, 'init'));
    return { k, genome, child };
  };
}

async function runOffspring(g: number, parent: Generation, baseline: Baseline, lineage: Lineage): Promise<Generation> {
  const s = lineage.settings;
  const factors = generationFactors(baseline.plan, measureOf(parent.net), g, s.encoding);
  const offspring = offspringOf(g, parent.net, baseline.init, encodingFor(s.encoding, factors), lineage);
  const from = lineage.store.progress(g, (cp) =>
    problemWith(cp, () => ({
      generation: g,
      offspring: s.offspring,
      epochs: s.epochs,
      optimizer: s.optimizer,
      full: baseline.init,
      compact: cp.epochsDone > 0 ? compactNetwork(offspring(cp.offspring!).child).net : null,
    })),
  );
  const clock = new Clock(from);
  // The offspring finished before the progress was saved are not trained again.
  const selection: Selection = { candidates: [...(from?.candidates ?? [])], best: from?.best ?? null };
  for (let k = from?.offspring ?? 0; k < s.offspring; k++) {
    const continued = from?.offspring === k && from.epochsDone > 0 ? from : undefined;
    await developOffspring(lineage, offspring(k), { g, clock, selection, from: continued });
    if (k < s.offspring - 1) lineage.store.saveProgress(betweenOffspring(g, k + 1, selection, clock, s.epochs));
  }
  return selected(g, { parent, baseline, factors, selection, clock }, lineage);
}

/** The progress of generation g once its offspring before `next` are finished. */
function betweenOffspring(
  g: number,
  next: number,
  selection: Selection,
  clock: Clock,
  epochs: number,
): TrainingCheckpoint {
  return {
    generation: g,
    offspring: next,
    epochsDone: 0,
    epochs,
    start: '',
    network: null,
    optimizer: null,
    loss: null,
    candidates: [...selection.candidates],
    best: selection.best,
    ...clock.times(),
  };
}

interface Selected {
  parent: Generation;
  baseline: Baseline;
  factors: GenerationFactors;
  selection: Selection;
  clock: Clock;
}

/** Generation g's record and network: its best offspring, measured on the test split. */
async function selected(g: number, o: Selected, lineage: Lineage): Promise<Generation> {
  const chosen = o.selection.best!;
  const net: Network = { arch: o.parent.net.arch, layers: o.parent.net.layers, params: chosen.params };
  const test = percent(await evaluate(net, lineage.data.test));
  const record: GenerationRecord = {
    generation: g,
    ...measureFields(measureOf(net), o.baseline.measure, lineage.settings.encoding.granularity),
    testAccuracy: test,
    accuracyChange: pointsChange(test, o.baseline.testAccuracy),
    validationAccuracy: percent(chosen.validation),
    ...o.factors,
    expectedSynapses: Math.round(chosen.expectedSynapses * 100) / 100,
    capped: chosen.capped,
    selected: chosen.offspring,
    candidates: o.selection.candidates,
    loss: chosen.loss,
    ...o.clock.times(),
  };
  return { record, net };
}

/** Develops one offspring, scores it on the validation split, and keeps it if it is the best so far. */
async function developOffspring(
  lineage: Lineage,
  o: Offspring,
  at: { g: number; clock: Clock; selection: Selection; from?: TrainingCheckpoint },
): Promise<void> {
  const { settings: s, data } = lineage;
  const { selection } = at;
  const loss = await develop(lineage, {
    net: o.child,
    epochs: s.epochs,
    rng: stream(s.seed, 'generation', at.g, 'offspring', o.k, 'shuffle'),
    at: { generation: at.g, offspring: o.k },
    from: at.from,
    clock: at.clock,
    progress: () => ({ candidates: [...selection.candidates], best: selection.best }),
  });
  const validation = s.offspring > 1 || data.validation.count > 0 ? await evaluate(o.child, data.validation) : NaN;
  const synapses = measureOf(o.child).synapses;
  selection.candidates.push({ offspring: o.k, synapses, validationAccuracy: percent(validation) });
  const best = selection.best;
  // Best validation accuracy wins; ties go to fewer synapses, then to the earlier offspring.
  if (!best || validation > best.validation || (validation === best.validation && synapses < best.synapses)) {
    selection.best = {
      offspring: o.k,
      validation,
      synapses,
      loss,
      expectedSynapses: o.genome.expectedSynapses,
      capped: o.genome.capped,
      params: o.child.params,
    };
  }
}
