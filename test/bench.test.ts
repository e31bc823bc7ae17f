// `evolve bench` end to end with tiny settings: every row is there and the measured ones are real
// numbers, and the sparsity part's offspring get more efficient with their target. No speed is
// asserted: speed targets never live in tests.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers';
import type { SparsityRow } from '../src/bench/sparsity';
import { benchArchitecture, trainingFlopsPerSample } from '../src/bench/measure';

const positive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

test('bench --json: one JSON object with the machine and a row per configuration', () => {
  // cpu does a few samples/s: one warm-up and one timed step of 8 samples keep this test short.
  const r = runCli([
    'bench',
    '--json',
    '--arch',
    'lenet5',
    '--batches',
    '2',
    '--batch-size',
    '8',
    '--warmup',
    '1',
    '--cpu-batches',
    '1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  const out = JSON.parse(lines[0]);

  assert.equal(typeof out.machine.cpu, 'string');
  assert.ok(out.machine.cores >= 1);
  assert.equal(out.machine.node, process.version);
  assert.match(out.machine.tfjs, /^\d+\.\d+\.\d+/);
  assert.deepEqual(out.settings, {
    arch: ['lenet5'],
    batchSize: 8,
    batches: 2,
    seconds: 10,
    warmup: 1,
    cpuBatches: 1,
    torchThreads: 2,
    sparsityLevels: [1, 10, 100],
  });
  assert.deepEqual(Object.keys(out.architectures), ['lenet5']);

  const rows = out.configurations;
  assert.deepEqual(Object.keys(rows), ['cpu', 'wasm-plain', 'wasm-tuned', 'native', 'tensorflow', 'pytorch']);
  assert.equal(rows.native.backend.kernels, 'native', 'npm ci built the addon');
  assert.equal(rows['wasm-tuned'].backend.kernels, 'tuned');
  for (const name of ['wasm-plain', 'wasm-tuned', 'native']) {
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

  // The sparsity part ran by default, in its own child, with the same tiny settings.
  checkSparsityRows(out.sparsity, [1, 10, 100], 2, 8);

  // People's text (the tables) went to stderr.
  assert.match(r.stderr, /configuration\s+samples\/s\s+ms\/step/);
  assert.match(r.stderr, /tensorflow\s/);
  assert.match(
    r.stderr,
    /target\s+synapses\s+arch eff\s+filters\s+filter eff\s+form\s+ms\/step\s+samples\/s\s+epoch s\s+vs ancestor/,
  );
  assert.match(r.stderr, /^\s+100x\s.*masked/m);
  assert.match(r.stderr, /^\s+compacted\s/m);
  // Measurements only: no verdict on a goal of the project's own.
  assert.doesNotMatch(r.stderr, /goal|\bmet\b/);
});

test("bench --arch alexnet,stl10net: evolve's default path and the PyTorch peer on both, no sparsity part", () => {
  const r = runCli([
    'bench',
    '--json',
    '--arch',
    'alexnet,stl10net',
    '--batches',
    '1',
    '--batch-size',
    '2',
    '--warmup',
    '0',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.deepEqual(out.settings.arch, ['alexnet', 'stl10net']);
  assert.deepEqual(out.configurations, {}, 'LeNet-5 was not measured');
  assert.deepEqual(out.sparsity, [], "the sparsity part is LeNet-5's");
  assert.deepEqual(Object.keys(out.architectures), ['alexnet', 'stl10net']);
  for (const arch of ['alexnet', 'stl10net']) {
    const rows = out.architectures[arch].configurations;
    assert.deepEqual(Object.keys(rows), ['native', 'tensorflow', 'pytorch']);
    assert.equal(rows.native.status, 'ok', JSON.stringify(rows.native));
    assert.equal(rows.native.backend.kernels, 'native');
    assert.equal(rows.native.batches, 1);
    assert.equal(rows.native.batchSize, 2);
    assert.ok(positive(rows.native.samplesPerSecond) && Number.isFinite(rows.native.loss), JSON.stringify(rows.native));
    // Its arithmetic rate, against the multiply-add peak its own path timed.
    const flops = trainingFlopsPerSample(benchArchitecture(arch));
    assert.ok(Math.abs(rows.native.gflops - (flops * rows.native.samplesPerSecond) / 1e9) < 1e-9 * rows.native.gflops);
    assert.ok(positive(rows.native.peakGflops), JSON.stringify(rows.native));
    assert.ok(Math.abs(rows.native.ofPeak - rows.native.gflops / rows.native.peakGflops) < 1e-9);
    assert.ok(['ok', 'not found', 'failed'].includes(rows.pytorch.status), JSON.stringify(rows.pytorch));
    if (rows.pytorch.status === 'ok') {
      // The peer ran the repository's script on the same batch size, and the ratio is the two rates'.
      assert.equal(rows.pytorch.batchSize, 2);
      assert.ok(positive(rows.pytorch.samplesPerSecond));
      assert.ok(
        Math.abs(rows.native.vsPytorch - rows.native.samplesPerSecond / rows.pytorch.samplesPerSecond) <
          1e-9 * rows.native.vsPytorch,
      );
    } else {
      assert.equal(rows.native.vsPytorch, null);
    }
  }
  assert.match(r.stderr, /^AlexNet \(32x32x3, random images\) training throughput/m);
  assert.match(r.stderr, /vs pytorch\s+GFLOP\/s\s+of peak\s+backend/);
  assert.match(r.stderr, /^GFLOP\/s: 2 per multiply-add .* of peak: against \d+\.\d GFLOP\/s/m);
  assert.match(r.stderr, /^STL-10 net \(96x96x3, random images\) training throughput/m);
});

test('training flops per sample: LeNet-5 by hand, conv1 without an input gradient', () => {
  // Multiply-adds: conv1 24x24x20 x 25, conv2 8x8x50 x 500, fc1 800 x 500, fc2 500 x 10.
  const [conv1, conv2, fc1, fc2] = [288000, 1600000, 400000, 5000];
  assert.equal(trainingFlopsPerSample(benchArchitecture('lenet5')), 2 * (2 * conv1 + 3 * (conv2 + fc1 + fc2)));
});

/** A row as printed, once its status is checked to be 'ok'. */
type OkRow = Extract<SparsityRow, { status: 'ok' }>;

/** Rows of the sparsity part: one per target, efficiencies rising with it, both forms timed. No speed is asserted. */
function checkSparsityRows(rows: OkRow[], targets: number[], batches: number, batchSize: number): void {
  assert.ok(Array.isArray(rows), JSON.stringify(rows));
  assert.deepEqual(
    rows.map((row) => row.target),
    targets,
  );
  for (const row of rows) {
    assert.equal(row.status, 'ok', JSON.stringify(row));
    assert.equal(row.backend.name, 'wasm');
    assert.ok(positive(row.synapses) && positive(row.filters) && positive(row.macs), JSON.stringify(row));
    assert.equal(row.synapseFactor, 1 / row.target);
    assert.equal(row.clusterFactor, 1 / Math.sqrt(row.target));
    assert.equal(row.units.length, 4, 'units per weighted layer of LeNet-5');
    assert.equal(row.units[3], 10, 'output units never die');
    for (const form of [row.masked, row.compacted]) {
      assert.equal(form.batches, batches);
      assert.equal(form.batchSize, batchSize);
      assert.ok(positive(form.msPerStep) && positive(form.samplesPerSecond), JSON.stringify(form));
      assert.ok(Math.abs(form.epochSeconds - 55000 / form.samplesPerSecond) < 1e-9 * form.epochSeconds);
      assert.ok(positive(form.vsAncestor), JSON.stringify(form));
      assert.ok(Number.isFinite(form.loss), 'the timed steps trained');
    }
  }
  // The first row is the dense ancestor itself, the reference for every ratio.
  const [ancestor] = rows;
  assert.equal(ancestor.target, 1);
  assert.equal(ancestor.synapseEfficiency, 1);
  assert.equal(ancestor.filterEfficiency, 1);
  assert.deepEqual(ancestor.units, [20, 50, 500, 10]);
  assert.equal(ancestor.masked.vsAncestor, 1);
  for (let i = 1; i < rows.length; i++) {
    const [before, now] = [rows[i - 1], rows[i]];
    assert.ok(
      now.synapseEfficiency > before.synapseEfficiency,
      `synapse efficiency rises: ${before.target}x -> ${now.target}x`,
    );
    assert.ok(
      now.filterEfficiency > before.filterEfficiency,
      `filter efficiency rises: ${before.target}x -> ${now.target}x`,
    );
    assert.ok(now.synapses < before.synapses && now.macs < before.macs);
    // About X: within a factor of 2 of the target, and the filters about sqrt(X).
    assert.ok(now.synapseEfficiency > now.target / 2 && now.synapseEfficiency < now.target * 2, JSON.stringify(now));
    assert.ok(
      now.filterEfficiency > Math.sqrt(now.target) / 2 && now.filterEfficiency < Math.sqrt(now.target) * 2,
      JSON.stringify(now),
    );
  }
}

test('bench --only sparsity: the chosen levels, with the dense ancestor first, in one JSON line', () => {
  const r = runCli([
    'bench',
    '--only',
    'sparsity',
    '--sparsity-levels',
    '100,10',
    '--batches',
    '2',
    '--batch-size',
    '4',
    '--warmup',
    '1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  const out = JSON.parse(lines[0]);
  assert.equal(out.part, 'sparsity');
  checkSparsityRows(out.rows, [1, 10, 100], 2, 4);
});

test('bench --no-sparsity: no sparsity child, an empty sparsity array; cpu only when asked', () => {
  const r = runCli([
    'bench',
    '--json',
    '--arch',
    'lenet5',
    '--no-sparsity',
    '--batches',
    '1',
    '--batch-size',
    '4',
    '--warmup',
    '0',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  // The plain-JavaScript backend (seconds a step) only when asked for.
  const cpu = out.configurations.cpu;
  assert.equal(cpu.status, 'skipped');
  assert.match(cpu.note, /--cpu-batches/);
  assert.deepEqual(out.sparsity, []);
  assert.deepEqual(out.settings.sparsityLevels, []);
  assert.doesNotMatch(r.stderr, /sparsity|vs ancestor/);
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
  [['bench', '--only', 'gpu'], /--only.*gpu.*cpu, wasm-plain, wasm-tuned, native, tensorflow/],
  [['bench', '--bogus'], /unknown option '--bogus'/],
  [['bench', '--arch', 'vgg16'], /--arch.*'vgg16'.*comma-separated ancestors from lenet5, lenet300, alexnet, stl10net/],
  [['bench', '--sparsity-levels', '0'], /--sparsity-levels.*'0'.*comma-separated efficiencies from 1 to 10000/],
  [['bench', '--sparsity-levels', '1,,10'], /--sparsity-levels.*comma-separated/],
  [['bench', '--sparsity-levels', 'ten'], /--sparsity-levels.*'ten'/],
  [['bench', '--only', 'sparse'], /--only.*sparse.*tensorflow, sparsity/],
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
