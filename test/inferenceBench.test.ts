// `evolve bench --inference RUN` through the real CLI on a real (tiny) run: every chosen generation
// is timed as its compacted network against the ancestor, beside the run's own efficiencies. No
// speed is asserted: speed targets never live in tests.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecords, runCli, tempDir } from './helpers';

const root = tempDir('evolve-inference-');
const run = path.join(root, 'run');

before(() => {
  const r = runCli([
    '--arch',
    'lenet5',
    '--generations',
    '2',
    '--train-limit',
    '640',
    '--test-limit',
    '200',
    '--ancestor-epochs',
    '1',
    '--epochs',
    '1',
    '--env-factor',
    '0.3',
    '--cluster-factor',
    '0.6',
    '--out',
    run,
  ]);
  assert.equal(r.code, 0, r.stderr);
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

const positive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

test('bench --inference --json: the chosen generations and the ancestor, compacted, at each batch size', () => {
  const r = runCli([
    'bench',
    '--inference',
    run,
    '--generations',
    '2',
    '--rounds',
    '3',
    '--inference-batch-sizes',
    '1,16',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.arch, 'lenet5');
  assert.equal(out.backend.kernels, 'native', 'the default path: native kernels');
  const rows = out.inference;
  assert.deepEqual(
    rows.map((row: { generation: number }) => row.generation),
    [0, 2],
    'generation 0 is always added',
  );

  const records = readRecords(path.join(run, 'generations.ndjson'));
  for (const row of rows) {
    const record = records.find((x) => x.generation === row.generation)!;
    assert.equal(row.synapseEfficiency, record.synapseEfficiency);
    assert.equal(row.clusterEfficiency, record.clusterEfficiency);
    // The timed network is the compacted one: as many units per layer as the record counts live.
    assert.deepEqual(
      row.units,
      (record.layers as { units: number }[]).map((l) => l.units),
    );
    assert.deepEqual(
      row.latency.map((l: { batchSize: number }) => l.batchSize),
      [1, 16],
    );
    for (const l of row.latency) {
      assert.ok(positive(l.msPerImage) && l.q1 <= l.msPerImage && l.msPerImage <= l.q3, JSON.stringify(l));
      assert.ok(
        Math.abs(
          l.speedup -
            rows[0].latency.find((a: { batchSize: number }) => a.batchSize === l.batchSize).msPerImage / l.msPerImage,
        ) <
          1e-9 * l.speedup,
      );
    }
  }
  assert.deepEqual(rows[0].units, [20, 50, 500, 10]);
  assert.ok(rows[1].units[0] < 20, 'the offspring lost conv1 filters, and its compacted form has fewer');
  assert.match(
    r.stderr,
    /generation\s+synapse eff\s+cluster eff\s+batch 1 ms\/image\s+speed-up\s+batch 16 ms\/image\s+speed-up/,
  );
});

test('bench --inference without --json prints the table on stdout', () => {
  const r = runCli(['bench', '--inference', run, '--rounds', '1', '--inference-batch-sizes', '2']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^Inference latency of lenet5 generations, compacted/);
  assert.equal(lines.length, 2 + 3, 'title, header, generations 0, 1 and 2 (every finished one by default)');
  assert.match(lines[2], /^\s+0\s+1\.00x\s+1\.00x\s.*\s1\.00x\s+20-50-500-10$/);
});

const badUsage: [string[], RegExp][] = [
  [['bench', '--inference', run, '--generations', '7'], /--generations: .* has no generation 7 \(available: 0, 1, 2\)/],
  [['bench', '--inference', run, '--generations', 'last'], /--generations.*'last'.*comma-separated generation numbers/],
  [['bench', '--inference', path.join(root, 'none')], /--inference .*none: no such run folder/],
  [['bench', '--generations', '1'], /--generations needs --inference RUN/],
  [['bench', '--inference', run, '--arch', 'alexnet'], /--arch is a training option/],
  [['bench', '--inference', run, '--inference-batch-sizes', '0'], /--inference-batch-sizes.*batch sizes from 1 up/],
];

for (const [args, message] of badUsage) {
  test(`bad usage ${args.slice(1).join(' ').replace(root, 'ROOT')}: one line, exit 2`, () => {
    const r = runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  });
}

test('bench --inference on a run with no finished generation yet: one line, exit 1, no empty table', () => {
  const started = path.join(root, 'started');
  fs.mkdirSync(started);
  fs.copyFileSync(path.join(run, 'config.json'), path.join(started, 'config.json'));
  const r = runCli(['bench', '--inference', started]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^evolve: --inference .*started: no finished generation yet; nothing to time\n$/);
  assert.equal(r.stdout, '');
});
