/**
 * One generation, top to bottom (docs/method.md). Generation 0: the ancestor, trained dense from a
 * seeded initialisation (or loaded). Generation g: K offspring sampled from the parent's DNA under
 * the generation's budgets, each developed (trained) and scored on the validation split; the best
 * is measured on the test split and becomes the next parent. A generation interrupted part-way
 * continues from its saved progress: the finished offspring and the last finished epoch.
 */
import { type Network, cloneNetwork, initialiseNetwork } from '../models/network';
import { type Mating, mate } from '../encoding/mating';
import { type EncodingOptions, type OffspringGenome, sampleOffspring } from '../encoding/offspring';
import { type NetworkMeasure, measure } from '../metrics/measure';
import { evaluate, parallelTrainings } from '../engine/trainer';
import { stream } from '../random';
import { developFrom } from '../encoding/develop';
import { compactNetwork } from '../models/compact';
import { type CandidateRecord, type GenerationRecord, measureFields, percent, pointsChange } from './record';
import { type BestOffspring, type Expected, type TrainingCheckpoint, checkpointProblem } from './checkpoint';
import {
  type BudgetPlan,
  type GenerationFactors,
  generationFactors,
  meanMeasure,
  planBudget,
  unionFactors,
} from './budget';
import { Clock, develop } from './training';
import type { Lineage } from './types';
import type { Generation } from './store';
import { type Survivor, drawParents } from './parents';

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

/** A generation run, not yet saved, and the clock still timing it (its saving is part of its time). */
export interface Finished {
  generation: Generation;
  clock: Clock;
}

/** Runs generation g: the ancestor for 0, else offspring of `before.parent` (generation g - 1). */
export function runGeneration(
  g: number,
  before: { parent?: Generation; baseline?: Baseline },
  lineage: Lineage,
): Promise<Finished> {
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

async function runAncestor(lineage: Lineage): Promise<Finished> {
  const s = lineage.settings;
  const init = s.loadsAncestor ? lineage.ancestor! : seededAncestor(lineage);
  const net = cloneNetwork(init);
  const from = lineage.store.progress(0, (cp) =>
    s.loadsAncestor
      ? 'the run loads its ancestor instead of training it'
      : problemWith(cp, () => ({
          generation: 0,
          offspring: 1,
          population: 1,
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
  return { generation: { record: await ancestorRecord(net, { loss, clock }, lineage), net }, clock };
}

/** Generation 0's record: the ancestor measured, on the test split and then the validation split. */
async function ancestorRecord(
  net: Network,
  o: { loss: number | null; clock: Clock },
  lineage: Lineage,
): Promise<GenerationRecord> {
  const m = measureOf(net);
  const test = await o.clock.awaiting('evaluate', () => evaluate(net, lineage.data.test));
  const validation = await o.clock.awaiting('evaluate', () => evaluate(net, lineage.data.validation));
  const record: GenerationRecord = {
    generation: 0,
    ...measureFields(m, m, lineage.settings.encoding.granularity),
    testAccuracy: percent(test),
    accuracyChange: 0,
    validationAccuracy: percent(validation),
    synapseFactor: null,
    clusterFactor: null,
    layerClusterFactors: null,
    expectedSynapses: null,
    capped: false,
    selected: null,
    survivors: null,
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

/** Offspring k of generation g: its parents, its factors, its genome and its network before training. */
interface Offspring {
  k: number;
  parents: number[];
  factors: GenerationFactors;
  genome: OffspringGenome;
  child: Network;
}

/** A generation's offspring finished so far: their candidate entries, and the best --population, best first. */
interface Selection {
  candidates: CandidateRecord[];
  ranked: BestOffspring[];
  /** The first offspring not yet in them: only it may save its training's progress. */
  next: number;
}

/** The population a generation hands on, best first, numbered as its record numbers them. */
function populationOf(gen: Generation): Survivor[] {
  const nets = gen.survivors ?? [gen.net];
  const numbers = gen.record.survivors ?? [gen.record.selected ?? 0];
  return nets.map((net, i) => ({ number: numbers[i], net }));
}

/**
 * What offspring k of generation g is drawn from: its parents, their mating, the generation's
 * factors (from the parents' mean, as recorded) and those rescaled to the mated DNA's union.
 */
interface Plan {
  parents: Survivor[];
  mating: Mating;
  factors: GenerationFactors;
  sampling: GenerationFactors;
}

/** The plan of an offspring of `parents` in generation g. */
function planFor(g: number, parents: Survivor[], baseline: Baseline, encoding: EncodingOptions): Plan {
  const mating = mate(parents.map((p) => p.net));
  const mean = meanMeasure(parents.map((p) => measureOf(p.net)));
  const union = parents.length === 1 ? mean : measureOf(mating.dna);
  const factors = generationFactors(baseline.plan, mean, g, encoding);
  return { parents, mating, factors, sampling: unionFactors(factors, mean, union, encoding.granularity) };
}

/**
 * Offspring of generation g: each one's parents drawn from the population and mated, the budget's
 * factors taken from the parents' mean (closed-loop as for one parent), its genome drawn from the
 * mated DNA with those factors rescaled to the union.
 */
function offspringOf(g: number, population: Survivor[], baseline: Baseline, lineage: Lineage) {
  const s = lineage.settings;
  const at = (k: number, name: string) => stream(s.seed, 'generation', g, 'offspring', k, name);
  const plans = new Map<string, Plan>();
  const planOf = (k: number): Plan => {
    const parents = drawParents(population, s.parents, at(k, 'parents'));
    const key = parents.map((p) => p.number).join(',');
    if (!plans.has(key)) plans.set(key, planFor(g, parents, baseline, s.encoding));
    return plans.get(key)!;
  };
  const make = (k: number, clock = new Clock()): Offspring => {
    const { parents, mating, factors, genome } = clock.during('sample', () => {
      const plan = planOf(k);
      return {
        ...plan,
        genome: sampleOffspring(plan.mating.dna, encodingFor(s.encoding, plan.sampling), at(k, 'dna')),
      };
    });
    const child = clock.during('setup', () =>
      developFrom(genome, mating.inherit, baseline.init, s.init, at(k, 'init')),
    );
    return { k, parents: parents.map((p) => p.number), factors, genome, child };
  };
  return { planOf, make };
}

async function runOffspring(g: number, parent: Generation, baseline: Baseline, lineage: Lineage): Promise<Finished> {
  const s = lineage.settings;
  const { planOf, make: offspring } = offspringOf(g, populationOf(parent), baseline, lineage);
  const from = lineage.store.progress(g, (cp) =>
    problemWith(cp, () => ({
      generation: g,
      offspring: s.offspring,
      population: s.population,
      epochs: s.epochs,
      optimizer: s.optimizer,
      full: baseline.init,
      compact: cp.epochsDone > 0 ? compactNetwork(offspring(cp.offspring!).child).net : null,
    })),
  );
  const clock = new Clock(from);
  // The offspring finished before the progress was saved are not trained again.
  const selection: Selection = {
    candidates: [...(from?.candidates ?? [])],
    ranked: from?.best ? [from.best, ...(from.runnersUp ?? [])] : [],
    next: from?.offspring ?? 0,
  };
  const develop = (k: number): Promise<Developed> => {
    const continued = from?.offspring === k && from.epochsDone > 0 ? from : undefined;
    return developOffspring(lineage, offspring(k, clock), { g, clock, selection, from: continued });
  };
  await inOrder(selection.next, s.offspring, parallelTrainings(), develop, (k, d) => {
    commit(selection, d, s.population);
    selection.next = k + 1;
    if (k < s.offspring - 1) {
      clock.during('save', () => lineage.store.saveProgress(betweenOffspring(g, k + 1, selection, clock, s.epochs)));
    }
  });
  const factors = planOf(selection.ranked[0].offspring).factors;
  return { generation: await selected(g, { parent, baseline, factors, selection, clock }, lineage), clock };
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
    ...progressOf(selection),
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

/** The saved form of a selection: the candidates, the best and the runners-up. */
function progressOf(selection: Selection): Pick<TrainingCheckpoint, 'candidates' | 'best' | 'runnersUp'> {
  const [best, ...runnersUp] = selection.ranked;
  return { candidates: [...selection.candidates], best: best ?? null, runnersUp };
}

/** Generation g's record and network: its best offspring, measured on the test split, and its population. */
async function selected(g: number, o: Selected, lineage: Lineage): Promise<Generation> {
  const chosen = o.selection.ranked[0];
  const { arch, layers } = o.parent.net;
  const survivors = o.selection.ranked.map((r): Network => ({ arch, layers, params: r.params }));
  const net = survivors[0];
  const test = percent(await o.clock.awaiting('evaluate', () => evaluate(net, lineage.data.test)));
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
    survivors: o.selection.ranked.map((r) => r.offspring),
    candidates: o.selection.candidates,
    loss: chosen.loss,
    ...o.clock.times(),
  };
  return { record, net, survivors };
}

/** Whether `a` ranks above `b`: better validation accuracy, then fewer synapses (an earlier offspring wins ties). */
const ranksAbove = (a: BestOffspring, b: BestOffspring): boolean =>
  a.validation > b.validation || (a.validation === b.validation && a.synapses < b.synapses);

/** Puts `entry` in its place among the best `size`, best first. */
function rank(ranked: BestOffspring[], entry: BestOffspring, size: number): void {
  const at = ranked.findIndex((r) => ranksAbove(entry, r));
  ranked.splice(at < 0 ? ranked.length : at, 0, entry);
  ranked.length = Math.min(ranked.length, size);
}

/** An offspring developed and scored, not yet among its generation's. */
interface Developed {
  candidate: CandidateRecord;
  entry: BestOffspring;
}

/** Adds a developed offspring to the generation's candidates and ranks it among the best `size`. */
function commit(selection: Selection, d: Developed, size: number): void {
  selection.candidates.push(d.candidate);
  rank(selection.ranked, d.entry, size);
}

/**
 * Runs work(k) for k = first..end-1, up to `lanes` at once, and hands each result to `done` in
 * the order of k, so what it builds is the same whatever the lanes. On a failure it waits for
 * the work under way to settle, then throws the first failure in that order.
 */
async function inOrder<T>(
  first: number,
  end: number,
  lanes: number,
  work: (k: number) => Promise<T>,
  done: (k: number, result: T) => void,
): Promise<void> {
  const running = new Map<number, Promise<T>>();
  let next = first;
  try {
    for (let k = first; k < end; k++) {
      for (; next < end && next - k < Math.max(1, lanes); next++) {
        const p = work(next);
        p.catch(() => {}); // awaited below, in order
        running.set(next, p);
      }
      const result = await running.get(k)!;
      running.delete(k);
      done(k, result);
    }
  } finally {
    await Promise.allSettled(running.values());
  }
}

/** Develops one offspring and scores it on the validation split. */
async function developOffspring(
  lineage: Lineage,
  o: Offspring,
  at: { g: number; clock: Clock; selection: Selection; from?: TrainingCheckpoint },
): Promise<Developed> {
  const { settings: s, data } = lineage;
  const { selection } = at;
  const loss = await develop(lineage, {
    net: o.child,
    epochs: s.epochs,
    rng: stream(s.seed, 'generation', at.g, 'offspring', o.k, 'shuffle'),
    at: { generation: at.g, offspring: o.k },
    from: at.from,
    clock: at.clock,
    // Saved progress describes the offspring before it as finished: only the first unfinished one saves.
    progress: () => (selection.next === o.k ? progressOf(selection) : null),
  });
  const validation =
    s.offspring > 1 || data.validation.count > 0
      ? await at.clock.awaiting('evaluate', () => evaluate(o.child, data.validation))
      : NaN;
  const synapses = measureOf(o.child).synapses;
  return {
    candidate: { offspring: o.k, parents: o.parents, synapses, validationAccuracy: percent(validation) },
    entry: {
      offspring: o.k,
      validation,
      synapses,
      loss,
      expectedSynapses: o.genome.expectedSynapses,
      capped: o.genome.capped,
      params: o.child.params,
    },
  };
}
