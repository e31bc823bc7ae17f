/**
 * The generation loop (docs/method.md): generation 0 is the ancestor (trained from a seeded
 * initialisation, or loaded); each later generation samples K offspring from its parent's DNA,
 * develops (trains) each, keeps the best on the validation split, measures it on the test split,
 * and hands it on as the next parent. Each generation is one step, done once: a finished one is
 * skipped, so resuming a run is running it again (see ./store.ts).
 */
import type { GenerationRecord } from './record';
import type { Generation } from './store';
import type { Lineage } from './types';
import { type Baseline, baselineOf, runGeneration } from './generation';

export type { InitMode, Lineage, LineageEvents, LineageSettings } from './types';

/**
 * Runs every generation of the lineage that is not finished yet, in order; resolves to the records
 * of those it ran. Every random stream is named by generation, so a generation run in a resumed
 * process gives the record an uninterrupted run would.
 */
export async function runLineage(lineage: Lineage): Promise<GenerationRecord[]> {
  const { settings, store, events } = lineage;
  const records: GenerationRecord[] = [];
  let parent: Generation | undefined; // generation g - 1
  let baseline: Baseline | undefined; // what every later generation takes from generation 0
  for (let g = 0; g <= settings.generations; g++) {
    if (store.finished(g)) continue; // saved: never run again, so resuming is running again
    if (g > 0 && parent?.record.generation !== g - 1) parent = await store.load(g - 1);
    if (g > 0) baseline ??= baselineOf(g === 1 ? parent! : await store.load(0), lineage);
    const { generation, clock } = await runGeneration(g, { parent, baseline }, lineage);
    // The networks before the record, so a record never points at a missing network; the record
    // then times their saving too.
    await clock.awaiting('save', () => store.saveNetworks(generation));
    generation.record = { ...generation.record, ...clock.times() };
    store.saveRecord(generation.record);
    records.push(generation.record);
    await events.onGeneration?.(generation.record);
    parent = generation;
  }
  return records;
}
