// Run folders written before the records took the report's names (architecturalEfficiency,
// accuracyDrop with the opposite sign, budgetExceeded) read, report, export and resume as folders
// written after it: the old folders are made from a real run by writing its lines under the old names.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecords, runCli, tempDir, withoutTiming } from './helpers';
import { upgradeRecord } from '../src/evolution/record';

const run = [
  '--arch',
  'lenet300',
  '--generations',
  '2',
  '--train-limit',
  '500',
  '--test-limit',
  '200',
  '--epochs',
  '1',
  '--ancestor-epochs',
  '1',
];

/** A record line as evolve wrote it before the rename: each old name in its new name's place. */
function oldLine(r: Record<string, unknown>): string {
  const old = Object.entries(r).map(([k, v]): [string, unknown] => {
    if (k === 'synapseEfficiency') return ['architecturalEfficiency', v];
    if (k === 'accuracyChange') return ['accuracyDrop', Math.round(-(v as number) * 1e4) / 1e4];
    if (k === 'capped') return ['budgetExceeded', v];
    return [k, v];
  });
  return `${JSON.stringify(Object.fromEntries(old))}\n`;
}

/** A copy of run folder `from` holding its first `generations` generations, their lines under the old names. */
function oldFolder(from: string, to: string, generations: number): void {
  fs.cpSync(from, to, { recursive: true });
  const records = readRecords(path.join(from, 'generations.ndjson'));
  for (let g = generations; g < records.length; g++) fs.rmSync(path.join(to, `gen-0${g}`), { recursive: true });
  const lines = records.slice(0, generations).map(oldLine).join('');
  assert.match(lines, /"accuracyDrop":-\d/); // the run gained accuracy: the old sign is the opposite one
  fs.writeFileSync(path.join(to, 'generations.ndjson'), lines);
}

/** The report's per-generation rows of one folder, which name no folder. */
function reported(folder: string): unknown {
  const r = runCli(['report', '--format', 'json', folder]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { groups: { generations: unknown }[] }).groups.map((g) => g.generations);
}

test('old record names read as the new ones: the sign of accuracyDrop flipped, no -0, fields in place', () => {
  const r = upgradeRecord({ generation: 1, architecturalEfficiency: 2.5, accuracyDrop: 1.7, budgetExceeded: true });
  assert.deepEqual(Object.entries(r), [
    ['generation', 1],
    ['synapseEfficiency', 2.5],
    ['accuracyChange', -1.7],
    ['capped', true],
  ]);
  assert.ok(Object.is(upgradeRecord({ accuracyDrop: 0 }).accuracyChange, 0));
  const now = { generation: 2, synapseEfficiency: 3, accuracyChange: 0.25, capped: false };
  assert.deepEqual(upgradeRecord({ ...now }), now);
});

test('a run folder with old record names resumes, reports and exports as one written today', () => {
  const root = tempDir('evolve-old-names-');
  const fresh = path.join(root, 'fresh');
  const done = runCli([...run, '--json', '--out', fresh]);
  assert.equal(done.code, 0, done.stderr);
  const records = readRecords(path.join(fresh, 'generations.ndjson'));

  // Killed after generation 1: resuming adds generation 2 under the new names after the old lines.
  const part = path.join(root, 'part');
  oldFolder(fresh, part, 2);
  const resumed = runCli(['--resume', part, '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(withoutTiming(JSON.parse(resumed.stdout)), withoutTiming(records[2]));
  const lines = fs.readFileSync(path.join(part, 'generations.ndjson'), 'utf8').split('\n');
  assert.deepEqual(
    lines.map((l) => (l.includes('"accuracyDrop"') ? 'old' : l.includes('"accuracyChange"') ? 'new' : l)),
    ['old', 'old', 'new', ''],
  );
  const change = records[2].accuracyChange as number;
  assert.match(resumed.stderr, new RegExp(`test [\\d.]+% \\(\\+${change.toFixed(2)} points against the ancestor\\)`));
  assert.deepEqual(
    readRecords(path.join(part, 'generations.ndjson')).map((r) => withoutTiming({ ...upgradeRecord(r) })),
    records.map(withoutTiming),
  );

  // Finished under the old names: nothing to resume; the report and export read it as the fresh run.
  const old = path.join(root, 'old');
  oldFolder(fresh, old, 3);
  const again = runCli(['--resume', old]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /already finished/);
  assert.deepEqual(reported(old), reported(fresh));
  assert.deepEqual(reported(part), reported(fresh));
  const exported = path.join(root, 'export');
  const ex = runCli(['export', old, '--generation', '2', '--out', exported]);
  assert.equal(ex.code, 0, ex.stderr);
  const usage = JSON.parse(fs.readFileSync(path.join(exported, 'usage.json'), 'utf8')) as { testAccuracy: number };
  assert.equal(usage.testAccuracy, records[2].testAccuracy);
  fs.rmSync(root, { recursive: true, force: true });
});
