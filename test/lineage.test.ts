// The generation loop in-process, through an in-memory GenerationStore (real small networks, real
// training): each generation is a step done once, so a lineage run again over finished generations
// runs only the rest, and a generation continued from any progress it saved gives the record and
// network of the uninterrupted run.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { selectBackend } from '../src/engine/backend';
import { lenet300 } from '../src/models/ancestors';
import { loadMnist } from '../src/data/mnist';
import { type Lineage, type LineageSettings, runLineage } from '../src/evolution/lineage';
import type { Generation, GenerationStore } from '../src/evolution/store';
import type { TrainingCheckpoint } from '../src/evolution/checkpoint';
import { type GenerationRecord, timingFields } from '../src/evolution/record';
import { decodeCheckpoint, describeCheckpoint, encodeCheckpoint } from '../src/run/checkpoint';
import { paramBytes, withoutTiming } from './helpers';

/** Finished generations and saved progress in memory; progress goes through the checkpoint file format. */
class MemoryStore implements GenerationStore {
  readonly saved: Generation[];
  readonly progressSaved: TrainingCheckpoint[] = [];
  readonly rejected: string[] = [];

  constructor(
    finished: Generation[] = [],
    private readonly given?: TrainingCheckpoint,
  ) {
    this.saved = [...finished];
  }

  finished(g: number): boolean {
    return g < this.saved.length;
  }

  async load(g: number): Promise<Generation> {
    return this.saved[g];
  }

  progress(g: number, problem: (p: TrainingCheckpoint) => string | null): TrainingCheckpoint | undefined {
    if (this.given?.generation !== g) return undefined;
    const why = problem(this.given);
    if (why !== null) this.rejected.push(why);
    return why === null ? this.given : undefined;
  }

  saveProgress(p: TrainingCheckpoint): void {
    this.progressSaved.push(decodeCheckpoint(encodeCheckpoint(p)));
  }

  async saveNetworks(generation: Generation): Promise<void> {
    this.saved.push(generation);
  }

  saveRecord(record: GenerationRecord): void {
    this.saved.at(-1)!.record = record;
  }
}

const data = loadMnist({ trainLimit: 96, testLimit: 32, validation: 32, rng: seedrandom('lineage') });
const settings: LineageSettings = {
  generations: 2,
  offspring: 2,
  parents: 1,
  population: 1,
  epochs: 2,
  ancestorEpochs: 2,
  batchSize: 32,
  learningRate: 0.05,
  optimizer: 'momentum',
  init: 'inherit',
  seed: 4,
  loadsAncestor: false,
  encoding: {
    synapseFactor: 0.5,
    clusterFactor: 0.7,
    tau: 0.01,
    normalisation: 'calibrated',
    scope: 'global',
    granularity: 'filter',
  },
};
const lineage = (store: GenerationStore): Lineage => ({ arch: lenet300, data, settings, store, events: {} });
const plain = (r: GenerationRecord) => withoutTiming(r as unknown as Record<string, unknown>);

test('a lineage run again runs only what is unfinished; saved progress continues to the same record', async (t) => {
  await selectBackend('wasm');
  const whole = new MemoryStore();
  const records = await runLineage(lineage(whole));
  assert.deepEqual(
    records.map((r) => r.generation),
    [0, 1, 2],
  );
  assert.deepEqual(await runLineage(lineage(whole)), [], 'a finished lineage has nothing to run');

  const resumed = new MemoryStore(whole.saved.slice(0, 2));
  assert.deepEqual((await runLineage(lineage(resumed))).map(plain), [plain(records[2])]);
  assert.ok(paramBytes(resumed.saved[2].net).equals(paramBytes(whole.saved[2].net)));

  // Generation 2 saved progress after offspring 0's first epoch, after offspring 0, and after offspring 1's first.
  const saved = whole.progressSaved.filter((p) => p.generation === 2);
  assert.deepEqual(saved.map(describeCheckpoint), [
    'generation 2, offspring 0 after epoch 1 of 2',
    'generation 2 after offspring 0',
    'generation 2, offspring 1 after epoch 1 of 2',
  ]);
  for (const p of saved) {
    const store = new MemoryStore(whole.saved.slice(0, 2), p);
    assert.deepEqual((await runLineage(lineage(store))).map(plain), [plain(records[2])], describeCheckpoint(p));
    assert.ok(paramBytes(store.saved[2].net).equals(paramBytes(whole.saved[2].net)), describeCheckpoint(p));
    assert.deepEqual(store.rejected, []);
  }
  // Every record times its parts, each moment in one part; continued progress carries its times on.
  const parts = timingFields.filter((f) => f !== 'seconds');
  for (const r of records) {
    const sum = parts.reduce((a, f) => a + (r[f] ?? Number.NaN), 0);
    assert.ok(sum <= r.seconds + 0.005, `generation ${r.generation}: parts ${sum} s of ${r.seconds} s`);
  }
  const times = { seconds: 2000, trainSeconds: 100, sampleSeconds: 200, setupSeconds: 300, evaluateSeconds: 400 };
  const timed = { ...saved[1], ...times, saveSeconds: 500 };
  const continued = new MemoryStore(whole.saved.slice(0, 2), timed);
  const [record] = await runLineage(lineage(continued));
  for (const f of timingFields) assert.ok((record[f] ?? 0) >= timed[f], `${f}: ${record[f]} after ${timed[f]}`);
  // Progress from another starting network is refused with its reason, and the generation starts afresh.
  const other = new MemoryStore(whole.saved.slice(0, 2), { ...saved[2], start: 'another network' });
  assert.deepEqual((await runLineage(lineage(other))).map(plain), [plain(records[2])]);
  assert.deepEqual(other.rejected, ['it was made from another starting network']);
  t.diagnostic(`generation 2 continued from ${saved.length} saved progress points`);
});
