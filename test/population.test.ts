// Several parents and a population on the real CLI: records name each offspring's parents, the
// population is saved and read back, and a run killed with SIGKILL resumes to the same records.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { killAtCheckpoint, readRecords, runCli, tempDir, withoutTiming } from './helpers';

const args = [
  '--arch',
  'lenet300',
  '--generations',
  '3',
  '--parents',
  '2',
  '--population',
  '3',
  '--train-limit',
  '1000',
  '--test-limit',
  '300',
  '--epochs',
  '3',
  '--ancestor-epochs',
  '1',
  '--seed',
  '11',
];
let root = '';
let ref = '';

interface Candidate {
  offspring: number;
  parents: number[];
  validationAccuracy: number;
  synapses: number;
}

before(() => {
  root = tempDir('evolve-population-');
  ref = path.join(root, 'ref');
  const r = runCli([...args, '--out', ref]);
  assert.equal(r.code, 0, r.stderr);
});

test('records name each offspring’s parents from the previous population; the population is the best 3', () => {
  const config = JSON.parse(fs.readFileSync(path.join(ref, 'config.json'), 'utf8'));
  assert.equal(config.options.offspring, 3, '--offspring defaults to the --population');
  const records = readRecords(path.join(ref, 'generations.ndjson'));
  assert.equal(records.length, 4);
  assert.equal(records[0].survivors, null);
  for (const r of records.slice(1)) {
    const g = r.generation as number;
    const candidates = r.candidates as Candidate[];
    const previous = g === 1 ? [0] : (records[g - 1].survivors as number[]);
    assert.equal(candidates.length, 3);
    for (const c of candidates) {
      assert.equal(c.parents.length, g === 1 ? 1 : 2, `generation ${g}, offspring ${c.offspring}`);
      assert.ok(
        c.parents.every((p) => previous.includes(p)),
        `parents ${c.parents} from ${previous}`,
      );
      // Fittest first: in the previous population's order.
      const ranks = c.parents.map((p) => previous.indexOf(p));
      assert.deepEqual(
        ranks,
        [...ranks].sort((a, b) => a - b),
      );
    }
    // The population: every offspring, best validation accuracy first; the first is the selected one.
    const survivors = r.survivors as number[];
    assert.deepEqual([...survivors].sort(), [0, 1, 2]);
    assert.equal(survivors[0], r.selected);
    const accuracy = survivors.map((k) => candidates[k].validationAccuracy);
    assert.deepEqual(
      accuracy,
      [...accuracy].sort((a, b) => b - a),
    );
    for (const k of survivors.slice(1)) {
      assert.ok(fs.existsSync(path.join(ref, `gen-0${g}`, `survivor-${k}`, 'weights.bin')), `gen-0${g}/survivor-${k}`);
    }
  }
});

/** The records and the last generation's files of `out` are the reference run's. */
function sameAsReference(out: string): void {
  assert.deepEqual(
    readRecords(path.join(out, 'generations.ndjson')).map(withoutTiming),
    readRecords(path.join(ref, 'generations.ndjson')).map(withoutTiming),
  );
  const last = readRecords(path.join(ref, 'generations.ndjson'))[3].survivors as number[];
  const folders = ['gen-03', ...last.slice(1).map((n) => path.join('gen-03', `survivor-${n}`))];
  for (const folder of folders) {
    for (const f of ['weights.bin', 'mask.bin']) {
      const same = fs.readFileSync(path.join(out, folder, f)).equals(fs.readFileSync(path.join(ref, folder, f)));
      assert.ok(same, `${folder}/${f}`);
    }
  }
}

test('one training at a time: SIGKILL in generation 2, runners-up saved, --resume: same records, files', async () => {
  // One at a time, each offspring saves its epochs (with two at once, only the first unfinished one
  // does); the reference ran as many at once as there are cores, and the records do not change.
  const out = path.join(root, 'killed');
  const k = await killAtCheckpoint(
    [...args, '--workers', '1'],
    out,
    (c) => c.generation === 2 && c.offspring === 2 && c.epochsDone >= 1 && (c.runnersUp?.length ?? 0) >= 1,
  );
  assert.equal(k.signal, 'SIGKILL', `the run ended before the kill (${k.stderr})`);
  const r = runCli(['--resume', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /continuing from the checkpoint: generation 2, offspring 2 after epoch [12] of 3/);
  sameAsReference(out);
});

test('two trainings at once: SIGKILL at generation 2’s first saved progress, --resume: the same records', async () => {
  const out = path.join(root, 'killed-two');
  const k = await killAtCheckpoint([...args, '--workers', '2'], out, (c) => c.generation === 2);
  assert.equal(k.signal, 'SIGKILL', `the run ended before the kill (${k.stderr})`);
  const r = runCli(['--resume', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /continuing from the checkpoint: generation 2/);
  sameAsReference(out);
});

test('more parents than the population, or a population larger than the offspring: one line, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['--parents', '3', '--population', '2'], /^evolve: --parents 3 draws more parents than the --population of 2/],
    [['--population', '4', '--offspring', '2'], /^evolve: --population 4 keeps more than the 2 offspring/],
  ];
  for (const [extra, message] of cases) {
    const r = runCli([...extra, '--out', path.join(root, 'refused')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(fs.existsSync(path.join(root, 'refused')), false);
  }
});
