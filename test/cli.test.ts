// The real CLI end to end: bad usage, a small run's records, reproducibility, and the saved models.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { resumeOptions } from '../src/run/resumeOptions';
import { Option } from 'commander';
import { defaultEnvFactor, optionTable, resolveFactors } from '../src/run/options';
import { bin, readMask, readRecords, readWeights, runCli, tempDir, withoutTiming } from './helpers';

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const badUsage: [string[], RegExp][] = [
  [['--dataset', 'cifar'], /--dataset.*cifar.*mnist/],
  [['--arch', 'vgg'], /--arch.*vgg.*lenet5, lenet300/],
  [['--backend', 'gpu'], /--backend.*gpu.*auto, tensorflow, wasm, cpu/],
  [['--epochs', '-1'], /--epochs.*-1.*integer from 0/],
  [['--epochs', 'two'], /--epochs.*two.*integer/],
  [['--generations', '2.5'], /--generations.*2\.5/],
  [['--env-factor', '0'], /--env-factor.*\(0, 1\]/],
  [['--env-factor', '1.5'], /--env-factor.*\(0, 1\]/],
  [['--cluster-factor', 'NaN'], /--cluster-factor/],
  [['--tau', '1'], /--tau.*\[0, 1\)/],
  [['--lr', '0'], /--lr/],
  [['--offspring', '0'], /--offspring.*integer from 1/],
  [['--batch-size', ''], /--batch-size/],
  [['--bogus'], /unknown option '--bogus'/],
  [['reproduc', 'mnist'], /unknown command 'reproduc' \(Did you mean reproduce\?\)/],
  [['--env-factor', '0.5', '--target-efficiency', '10'], /--env-factor and --target-efficiency/],
  [['--offspring', '2', '--validation', '0'], /--offspring.*--validation/],
  [['--ancestor', 'no/such/model.json'], /--ancestor no\/such\/model.json: no such file/],
  ...(isInstalled('@tensorflow/tfjs-node') || isInstalled('@tensorflow/tfjs-node-gpu')
    ? []
    : [
        [['--backend', 'tensorflow'], /--backend tensorflow: not installed.*npm install @tensorflow\/tfjs-node/] as [
          string[],
          RegExp,
        ],
      ]),
];

for (const [args, message] of badUsage) {
  test(`bad usage ${args.join(' ')}: one line, exit 2, nothing written`, () => {
    const cwd = tempDir();
    const r = runCli(args, cwd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(fs.readdirSync(cwd), []);
  });
}

test('--out that holds other files is refused and left alone', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  const r = runCli(['--out', dir, '--generations', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /already exists and is not empty/);
  assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
});

test('--help lists every option with its default', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  for (const flag of [
    '--dataset',
    '--arch',
    '--generations',
    '--env-factor',
    '--target-efficiency',
    '--cluster-factor',
    '--tau',
    '--normalisation',
    '--scope',
    '--granularity',
    '--init',
    '--offspring',
    '--epochs',
    '--ancestor-epochs',
    '--ancestor',
    '--batch-size',
    '--lr',
    '--optimizer',
    '--train-limit',
    '--test-limit',
    '--validation',
    '--seed',
    '--backend',
    '--out',
    '--json',
  ]) {
    assert.ok(r.stdout.includes(flag), flag);
  }
  assert.match(r.stdout.replace(/\s+/g, ' '), /default: 125\.09\^\(-1\/13\) = 0\.6897/);
  assert.match(r.stdout, /evolve --dataset mnist --generations 13/);
});

/** The CLI's output, run asynchronously so that several can run at once. */
function cliAsync(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } }, (e, stdout, stderr) =>
      resolve({ code: e ? (e.code as number) : 0, stdout, stderr }),
    );
  });
}

test('a bare evolve prints the usage on stderr and exits 2; --version; help for every subcommand', async () => {
  const cwd = tempDir();
  const subcommands = ['bench', 'export', 'datasets', 'report', 'reproduce'];
  const [bare, version, ...helps] = await Promise.all([
    cliAsync([], cwd),
    cliAsync(['--version'], cwd),
    ...subcommands.map((name) => cliAsync(['help', name], cwd)),
  ]);
  assert.equal(bare.code, 2);
  assert.equal(bare.stdout, '');
  assert.match(bare.stderr, /^Usage: evolve \[options\] \[command\]/);
  assert.match(bare.stderr, /evolve --dataset mnist --generations 13/);
  assert.deepEqual(fs.readdirSync(cwd), [], 'no runs/ folder');
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  assert.deepEqual(version, { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  helps.forEach((h, i) => {
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`^Usage: evolve ${subcommands[i]} `));
  });
});

const small = [
  '--dataset',
  'mnist',
  '--arch',
  'lenet300',
  '--generations',
  '3',
  '--train-limit',
  '3000',
  '--test-limit',
  '1000',
  '--epochs',
  '1',
  '--json',
];

test('lenet300, 3 generations: rising efficiency, saved models match the records, reproducible by seed', () => {
  const root = tempDir();
  const a = runCli([...small, '--seed', '7', '--out', path.join(root, 'a')]);
  assert.equal(a.code, 0, a.stderr);
  const lines = a.stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  const records = lines.map((l) => JSON.parse(l));
  assert.deepEqual(
    records.map((r) => r.generation),
    [0, 1, 2, 3],
  );
  for (let g = 1; g < records.length; g++) {
    assert.ok(records[g].synapseEfficiency > records[g - 1].synapseEfficiency, `generation ${g}`);
    assert.ok(records[g].synapses < records[g - 1].synapses);
  }
  assert.equal(records[0].synapses, 266200);
  assert.ok(records[0].testAccuracy > 80, `ancestor accuracy ${records[0].testAccuracy}`);
  assert.deepEqual(readRecords(path.join(root, 'a', 'generations.ndjson')), records);

  // Every saved generation: non-zero weights equal `synapses`, per layer and in total, and no
  // masked weight is non-zero.
  for (const r of records) {
    const dir = path.join(root, 'a', `gen-0${r.generation}`);
    const kernels = readWeights(dir).filter((w) => w.shape.length > 1);
    const masks = readMask(dir);
    let total = 0;
    kernels.forEach((w, l) => {
      const nonzero = w.values.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
      assert.equal(nonzero, r.layers[l].synapses, `gen ${r.generation} layer ${l}`);
      assert.equal(
        masks[l].reduce((n, v) => n + v, 0),
        r.layers[l].synapses,
      );
      w.values.forEach((v, k) => {
        if (!masks[l][k]) assert.equal(v, 0);
      });
      total += nonzero;
    });
    assert.equal(total, r.synapses);
  }
  const config = JSON.parse(fs.readFileSync(path.join(root, 'a', 'config.json'), 'utf8'));
  assert.equal(config.options.seed, 7);
  assert.match(config.backend.name, /^(wasm|tensorflow|cpu)$/);

  // Same seed: the same records apart from timing. Another seed: other offspring.
  const b = runCli([...small, '--seed', '7', '--out', path.join(root, 'b')]);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(
    b.stdout
      .trim()
      .split('\n')
      .map((l) => withoutTiming(JSON.parse(l))),
    records.map(withoutTiming),
  );
  // Its stderr is a pipe: progress comes as plain lines, here at every tenth of an epoch.
  const c = runCli([...small, '--seed', '8', '--generations', '1', '--out', path.join(root, 'c')], undefined, {
    EVOLVE_PROGRESS_SECONDS: '0',
  });
  assert.equal(c.code, 0, c.stderr);
  assert.doesNotMatch(c.stderr, /[\r\x1b]/);
  const progress = c.stderr.split('\n').filter((l) => / epoch \d/.test(l));
  for (const label of ['ancestor', 'gen 1 offspring 0']) {
    const own = progress.filter((l) => l.startsWith(`${label}: `));
    assert.ok(own.length >= 10, `${label}: ${own.length} progress lines\n${c.stderr}`);
    for (const l of own) assert.match(l, /: epoch \d+\/\d+ batch \d+\/\d+ loss \d+\.\d{4} ETA (\d|\?)/);
  }
  const other = c.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.notEqual(other[1].synapses, records[1].synapses);

  // A saved generation loads back as an ancestor and scores the same on the same test split.
  const d = runCli([
    '--arch',
    'lenet300',
    '--generations',
    '0',
    '--test-limit',
    '1000',
    '--train-limit',
    '3000',
    '--json',
    '--ancestor',
    path.join(root, 'a', 'gen-02', 'model.json'),
    '--out',
    path.join(root, 'd'),
  ]);
  assert.equal(d.code, 0, d.stderr);
  const loaded = JSON.parse(d.stdout.trim());
  assert.equal(loaded.synapses, records[2].synapses);
  assert.equal(loaded.testAccuracy, records[2].testAccuracy);
});

test('lenet5 trains on the default backend with conv masks intact', () => {
  const root = tempDir();
  const r = runCli([
    '--generations',
    '1',
    '--train-limit',
    '640',
    '--test-limit',
    '300',
    '--ancestor-epochs',
    '1',
    '--epochs',
    '1',
    '--env-factor',
    '0.5',
    '--json',
    '--out',
    path.join(root, 'run'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const records = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(records.length, 2);
  assert.equal(records[0].synapses, 430500);
  assert.equal(records[0].filters, 70);
  assert.ok(records[1].synapses < 430500 * 0.6);
  const kernels = readWeights(path.join(root, 'run', 'gen-01')).filter((w) => w.shape.length > 1);
  kernels.forEach((w, l) => {
    assert.equal(
      w.values.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0),
      records[1].layers[l].synapses,
    );
  });
  assert.match(r.stderr, /backend (wasm|tensorflow|cpu)/);
});

test('--generations 0 trains and records the ancestor only', () => {
  const root = tempDir();
  const r = runCli([
    '--arch',
    'lenet300',
    '--generations',
    '0',
    '--train-limit',
    '500',
    '--test-limit',
    '200',
    '--ancestor-epochs',
    '1',
    '--json',
    '--out',
    path.join(root, 'run'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.deepEqual(fs.readdirSync(path.join(root, 'run')).sort(), ['config.json', 'gen-00', 'generations.ndjson']);
});

test('a model.json that is not a model, or does not fit the architecture, is a one-line error', () => {
  const root = tempDir();
  const junk = path.join(root, 'model.json');
  fs.writeFileSync(junk, '{"hello": 1}');
  let r = runCli(['--arch', 'lenet300', '--generations', '0', '--ancestor', junk, '--out', path.join(root, 'x')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /model\.json: not a TensorFlow\.js layers model/);
  assert.equal(
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('evolve: backend')).length,
    1,
    r.stderr,
  );
  assert.equal(fs.existsSync(path.join(root, 'x')), false);
  // A lenet300 model offered as a lenet5 ancestor.
  const ok = runCli([
    '--arch',
    'lenet300',
    '--generations',
    '0',
    '--train-limit',
    '200',
    '--test-limit',
    '100',
    '--ancestor-epochs',
    '0',
    '--out',
    path.join(root, 'l300'),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  r = runCli([
    '--arch',
    'lenet5',
    '--generations',
    '0',
    '--ancestor',
    path.join(root, 'l300', 'gen-00', 'model.json'),
    '--out',
    path.join(root, 'y'),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /do not match lenet5/);
  // A truncated weights file.
  const weights = path.join(root, 'l300', 'gen-00', 'weights.bin');
  fs.truncateSync(weights, 1000);
  r = runCli([
    '--arch',
    'lenet300',
    '--generations',
    '0',
    '--ancestor',
    path.join(root, 'l300', 'gen-00', 'model.json'),
    '--out',
    path.join(root, 'z'),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /weights are 1000 bytes, the manifest needs 1066440/);
});

test("the option table's keys are commander's names for its flags (a negation's is its option's)", () => {
  for (const [key, spec] of Object.entries(optionTable)) {
    const option = new Option(spec.flags);
    if (option.negate) assert.ok(Object.hasOwn(optionTable, option.attributeName()), spec.flags);
    else assert.equal(key, option.attributeName(), spec.flags);
  }
});

test('docs/options.md documents every option with its default', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { optionSpecs } = require('../src/run/options') as typeof import('../src/run/options');
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'options.md'), 'utf8');
  for (const spec of optionSpecs) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${spec.flags}\``));
    assert.ok(row, `docs/options.md has no row for ${spec.flags}`);
    if (spec.defaultValue !== undefined)
      assert.ok(row.includes(`\`${String(spec.defaultValue)}\``), `${spec.flags} default`);
  }
});

test('lenet5 with 2 training threads: the same seed gives the same records, and so does 1 thread', () => {
  const root = tempDir();
  const args = [
    '--generations',
    '1',
    '--train-limit',
    '640',
    '--test-limit',
    '200',
    '--ancestor-epochs',
    '1',
    '--epochs',
    '1',
    '--workers',
    '2',
    '--json',
  ];
  const a = runCli([...args, '--out', path.join(root, 'a')]);
  const b = runCli([...args, '--out', path.join(root, 'b')]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(a.stderr, /2 training threads/);
  const ra = a.stdout
    .trim()
    .split('\n')
    .map((l) => withoutTiming(JSON.parse(l)));
  const rb = b.stdout
    .trim()
    .split('\n')
    .map((l) => withoutTiming(JSON.parse(l)));
  assert.equal(ra.length, 2);
  assert.deepEqual(rb, ra);
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'a', 'config.json'), 'utf8')).options.workers, 2);
  // With the native kernels the threads split each kernel without changing a float: one thread gives the same records.
  assert.match(a.stderr, /native kernels/);
  const one = runCli([
    ...args.filter((x) => x !== '--workers' && x !== '2'),
    '--workers',
    '1',
    '--out',
    path.join(root, 'c'),
  ]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stderr, /1 training thread\b/);
  assert.deepEqual(
    one.stdout
      .trim()
      .split('\n')
      .map((l) => withoutTiming(JSON.parse(l))),
    ra,
  );
});

test('a run saved at the old default F resumes at the F its config.json resolved', () => {
  const run = tempDir();
  const write = (options: object, synapseFactor: number) =>
    fs.writeFileSync(
      path.join(run, 'config.json'),
      JSON.stringify({
        command: ['evolve'],
        options,
        resolved: { synapseFactor, clusterFactor: Math.sqrt(synapseFactor) },
      }),
    );
  // Saved before the default became the paper's pace: no --env-factor, F 0.69 resolved.
  write({ dataset: 'mnist', arch: 'lenet5', generations: 13 }, 0.69);
  const old = resumeOptions(run, {}, false).o;
  assert.deepEqual(resolveFactors(old), { synapseFactor: 0.69, clusterFactor: Math.sqrt(0.69) });
  write({ dataset: 'mnist', arch: 'lenet5', generations: 13 }, defaultEnvFactor);
  assert.equal(resolveFactors(resumeOptions(run, {}, false).o).synapseFactor, defaultEnvFactor);
  // A target given on the command line stays the run's own.
  write({ dataset: 'mnist', arch: 'lenet5', generations: 13, targetEfficiency: 125.09 }, defaultEnvFactor);
  const target = resumeOptions(run, {}, false).o;
  assert.equal(target.envFactor, undefined);
  assert.equal(resolveFactors(target).synapseFactor, 125.09 ** (-1 / 13));
});
