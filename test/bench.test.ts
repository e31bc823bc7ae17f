// `evolve bench` end to end with tiny settings: every row is there and the measured ones are real
// numbers. No speed is asserted: speed targets never live in tests.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers';

const positive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

function isInstalled(pkg: string): boolean {
  try { require.resolve(pkg); return true; } catch { return false; }
}

test('bench --json: one JSON object with the machine and a row per configuration', () => {
  // cpu does a few samples/s: one warm-up and one timed step of 8 samples keep this test short.
  const r = runCli(['bench', '--json', '--batches', '2', '--batch-size', '8', '--warmup', '1', '--cpu-batches', '1']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  const out = JSON.parse(lines[0]);

  assert.equal(typeof out.machine.cpu, 'string');
  assert.ok(out.machine.cores >= 1);
  assert.equal(out.machine.node, process.version);
  assert.match(out.machine.tfjs, /^\d+\.\d+\.\d+/);
  assert.deepEqual(out.settings, { batchSize: 8, batches: 2, seconds: 10, warmup: 1, cpuBatches: 1, torchThreads: 2 });

  const rows = out.configurations;
  assert.deepEqual(Object.keys(rows), ['cpu', 'wasm-plain', 'wasm-tuned', 'tensorflow', 'pytorch']);
  for (const name of ['wasm-plain', 'wasm-tuned']) {
    const row = rows[name];
    assert.equal(row.status, 'ok', JSON.stringify(row));
    assert.ok(positive(row.samplesPerSecond) && positive(row.msPerStep), JSON.stringify(row));
    assert.equal(row.batches, 2);
    assert.equal(row.batchSize, 8);
    assert.equal(row.backend.name, 'wasm');
    assert.ok(Number.isFinite(row.loss), 'the timed steps trained');
  }
  assert.equal(rows['wasm-plain'].vsWasmPlain, 1);

  assert.equal(rows.cpu.status, 'ok', JSON.stringify(rows.cpu));
  assert.equal(rows.cpu.batches, 1, 'cpu is capped by --cpu-batches');
  assert.ok(positive(rows.cpu.samplesPerSecond));
  assert.equal(rows.cpu.vsCpu, 1);

  if (!isInstalled('@tensorflow/tfjs-node') && !isInstalled('@tensorflow/tfjs-node-gpu')) {
    assert.equal(rows.tensorflow.status, 'not installed');
    assert.match(rows.tensorflow.note, /npm install @tensorflow\/tfjs-node/);
  }
  // Here or not, the peer has a row; where it ran, a real number.
  assert.ok(['ok', 'not found', 'failed'].includes(rows.pytorch.status), JSON.stringify(rows.pytorch));
  if (rows.pytorch.status === 'ok') assert.ok(positive(rows.pytorch.samplesPerSecond));

  // People's text (the table) went to stderr.
  assert.match(r.stderr, /configuration\s+samples\/s\s+ms\/step/);
  assert.match(r.stderr, /tensorflow\s/);
});

test('bench --only: one configuration in this process, one JSON line', () => {
  const r = runCli(['bench', '--only', 'wasm-tuned', '--batches', '1', '--batch-size', '4', '--warmup', '0']);
  assert.equal(r.code, 0, r.stderr);
  const row = JSON.parse(r.stdout);
  assert.equal(row.configuration, 'wasm-tuned');
  assert.equal(row.batches, 1);
  assert.ok(positive(row.samplesPerSecond));
});

const badUsage: [string[], RegExp][] = [
  [['bench', '--batches', '0'], /--batches.*'0'.*integer from 1/],
  [['bench', '--batch-size', 'many'], /--batch-size.*many.*integer/],
  [['bench', '--seconds', '-1'], /--seconds/],
  [['bench', '--only', 'gpu'], /--only.*gpu.*cpu, wasm-plain, wasm-tuned, tensorflow/],
  [['bench', '--bogus'], /unknown option '--bogus'/],
];

for (const [args, message] of badUsage) {
  test(`bad usage ${args.join(' ')}: one line, exit 2`, () => {
    const r = runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  });
}
