// --encoding on the real CLI: one short LeNet-5 run per encoding, what its records and
// config.json say, and a resume that tries to change the encoding.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecords, runCli, tempDir } from './helpers';

const short = [
  '--arch',
  'lenet5',
  '--train-limit',
  '2000',
  '--test-limit',
  '500',
  '--epochs',
  '1',
  '--ancestor-epochs',
  '1',
  '--generations',
  '2',
];
const root = tempDir('evolve-encoding-');

for (const encoding of ['cluster', 'synapse', 'magnitude']) {
  test(`--encoding ${encoding}: a short run exits 0, keeps the budget and records its factors`, () => {
    const out = path.join(root, encoding);
    const r = runCli([...short, '--encoding', encoding, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.options.encoding, encoding);
    const records = readRecords(path.join(out, 'generations.ndjson'));
    assert.equal(records.length, 3);
    const last = records[2];
    // Two generations at F = 0.69: 1/0.69^2 = 2.10x, within 10%.
    assert.ok(Math.abs((last.synapseEfficiency as number) / 0.69 ** -2 - 1) < 0.1, `${last.synapseEfficiency}`);
    assert.equal(typeof last.synapseFactor, 'number');
    if (encoding === 'cluster') {
      assert.ok((last.clusterEfficiency as number) > 1, 'filters die with the cluster stage');
      const factors = last.layerClusterFactors as (number | null)[];
      assert.equal(factors.length, 4);
      assert.ok(
        factors.slice(0, 2).every((f) => typeof f === 'number' && f > 0 && f <= 1),
        'both conv layers draw clusters',
      );
      assert.equal(factors[3], null, 'output neurons never die as clusters');
    } else {
      assert.equal(last.clusterFactor, null);
      assert.equal(last.layerClusterFactors, null);
    }
  });
}

test("magnitude keeps exactly round(F x the parent's synapses) at generation 1, less only what stage 4 removes", () => {
  const g1 = readRecords(path.join(root, 'magnitude', 'generations.ndjson'))[1];
  const kept = Math.round((g1.synapseFactor as number) * 430500);
  assert.equal(g1.expectedSynapses, kept);
  assert.ok((g1.synapses as number) <= kept && (g1.synapses as number) > 0.99 * kept, `${g1.synapses} of ${kept}`);
});

test('an unknown encoding is refused (exit 2), and a resume may not change the encoding', () => {
  const bad = runCli([...short, '--encoding', 'random', '--out', path.join(root, 'bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^evolve: .*--encoding.*cluster, synapse, magnitude/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.equal(fs.existsSync(path.join(root, 'bad')), false);
  const r = runCli(['--resume', path.join(root, 'synapse'), '--encoding', 'cluster']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--encoding cluster \(the run has synapse\) differs from the run's options/);
});
