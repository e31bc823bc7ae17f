// Bad input and failing disks through the real CLI: one line, the right exit code, nothing written
// outside the output folder, and a fuzz of command lines and model files that must never crash.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import seedrandom from 'seedrandom';
import { bin, readRecords, runCli, tempDir, smallDisk, unmountDisk } from './helpers';
import { defaultMnistDir } from '../src/data/mnist';

const stackTrace = /\n\s+at \S+/;

/** Every file below `dir`, relative, sorted. */
function listing(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

test('a truncated MNIST file is a one-line error naming it, exit 1, nothing written', () => {
  const data = tempDir();
  const src = defaultMnistDir();
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(data, f));
  fs.truncateSync(path.join(data, 't10k-images-idx3-ubyte'), 5000);
  const cwd = tempDir();
  const r = spawnSync(process.execPath, [bin, '--arch', 'lenet300', '--out', path.join(cwd, 'run')], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, EVOLVE_MNIST_DIR: data, NO_COLOR: '1' },
  });
  assert.equal(r.status, 1, r.stderr);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, /^evolve: t10k-images-idx3-ubyte: truncated: expected 7840000 bytes of data, found 4984$/);
  assert.doesNotMatch(r.stderr, stackTrace);
  assert.deepEqual(fs.readdirSync(cwd), []);
});

test('a full disk mid-run: one line naming the file, exit 1, the finished generations intact', (t) => {
  // ~1.5 MB: config and the lenet300 ancestor (1.34 MB of files) fit, generation 1 does not.
  const disk = smallDisk(t, '1500k');
  if (!disk) return;
  try {
    const out = path.join(disk, 'run');
    const r = runCli([
      '--arch',
      'lenet300',
      '--generations',
      '2',
      '--train-limit',
      '300',
      '--test-limit',
      '100',
      '--ancestor-epochs',
      '1',
      '--epochs',
      '1',
      '--out',
      out,
    ]);
    assert.equal(r.code, 1, r.stderr);
    const last = r.stderr.trim().split('\n').pop()!;
    assert.match(
      last,
      new RegExp(
        String.raw`gen-01\/[\w.]+: cannot write \(no space left on device\); ` +
          String.raw`the run folder holds generations 0\.\.0; free space, then: evolve --resume `,
      ),
    );
    assert.doesNotMatch(r.stderr, stackTrace);
    const records = readRecords(path.join(out, 'generations.ndjson'));
    assert.deepEqual(
      records.map((x) => x.generation),
      [0],
    );
    assert.ok(fs.existsSync(path.join(out, 'gen-00', 'model.json')));
    assert.deepEqual(
      listing(out).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary files left',
    );
    assert.equal(fs.existsSync(path.join(out, '.evolve.lock')), false);
  } finally {
    unmountDisk(disk);
  }
});

const flags = [
  '--dataset',
  '--arch',
  '--generations',
  '--env-factor',
  '--target-efficiency',
  '--cluster-factor',
  '--target-cluster-efficiency',
  '--tau',
  '--normalisation',
  '--scope',
  '--granularity',
  '--init',
  '--offspring',
  '--epochs',
  '--ancestor-epochs',
  '--batch-size',
  '--lr',
  '--optimizer',
  '--validation',
  '--seed',
  '--backend',
  '--workers',
  '--json',
  '--resume',
  '--ancestor',
  '--bogus',
  'export',
  'bench',
];
const values = [
  '0',
  '1',
  '-1',
  '2.5',
  '1e9',
  'NaN',
  'Infinity',
  '',
  ' ',
  'x',
  '--',
  'mnist',
  'lenet300',
  'lenet5',
  'kernel',
  'max',
  'layer',
  'random',
  'rewind',
  'cpu',
  'sgd',
  'adam',
  '0.5',
  '0x10',
  '١',
  '../..',
  '/',
  'null',
];

test('fuzz: random command lines never crash with a stack trace or write outside --out', () => {
  const rng = seedrandom('fuzz');
  const pick = <T>(a: T[]): T => a[Math.floor(rng() * a.length)];
  for (let i = 0; i < 20; i++) {
    const cwd = tempDir();
    const args: string[] = [];
    for (let n = 1 + Math.floor(rng() * 4); n > 0; n--) {
      args.push(pick(flags));
      if (rng() < 0.8) args.push(pick(values));
    }
    // Keep every run short and inside its own folder, whatever the fuzz chose.
    const bounded =
      args[0] === 'export' || args[0] === 'bench'
        ? args
        : [
            ...args,
            '--arch',
            'lenet300',
            '--generations',
            '1',
            '--train-limit',
            '64',
            '--test-limit',
            '32',
            '--validation',
            '8',
            '--ancestor-epochs',
            '0',
            '--epochs',
            '0',
            '--offspring',
            '1',
            '--out',
            path.join(cwd, 'out'),
          ];
    if (bounded[0] === 'bench') bounded.push('--only', 'nonsense');
    const r = spawnSync(process.execPath, [bin, ...bounded], {
      cwd,
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    const what = `evolve ${bounded.join(' ')}`;
    assert.ok(
      r.status === 0 || r.status === 1 || r.status === 2,
      `${what}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`,
    );
    assert.doesNotMatch(r.stderr, stackTrace, what);
    assert.doesNotMatch(r.stderr, /internal error/, what);
    assert.deepEqual(
      listing(cwd).filter((f) => f !== 'out' && !f.startsWith(`out${path.sep}`)),
      [],
      `${what} wrote outside --out`,
    );
  }
});

test('fuzz: mutated model files given as --ancestor are one-line errors or load, never a crash', () => {
  const root = tempDir();
  const base = path.join(root, 'base');
  const made = runCli([
    '--arch',
    'lenet300',
    '--generations',
    '0',
    '--train-limit',
    '64',
    '--test-limit',
    '32',
    '--ancestor-epochs',
    '0',
    '--out',
    base,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const modelJson = fs.readFileSync(path.join(base, 'gen-00', 'model.json'));
  const weights = fs.readFileSync(path.join(base, 'gen-00', 'weights.bin'));
  const rng = seedrandom('mutations');
  for (let i = 0; i < 12; i++) {
    const dir = path.join(root, `m${i}`);
    fs.mkdirSync(dir);
    const json = Buffer.from(modelJson);
    const w = Buffer.from(weights);
    const kind = i % 4;
    let jsonOut: Buffer = json;
    let weightsOut: Buffer = w;
    if (kind === 0) for (let k = 0; k < 5; k++) json[Math.floor(rng() * json.length)] = Math.floor(rng() * 256);
    if (kind === 1) jsonOut = json.subarray(0, Math.floor(rng() * json.length));
    if (kind === 2) weightsOut = w.subarray(0, Math.floor(rng() * w.length));
    if (kind === 3) for (let k = 0; k < 50; k++) w[Math.floor(rng() * w.length)] = Math.floor(rng() * 256);
    fs.writeFileSync(path.join(dir, 'model.json'), jsonOut);
    fs.writeFileSync(path.join(dir, 'weights.bin'), weightsOut);
    const before = listing(root);
    const out = path.join(root, `out${i}`);
    const r = runCli([
      '--arch',
      'lenet300',
      '--generations',
      '0',
      '--train-limit',
      '64',
      '--test-limit',
      '32',
      '--ancestor',
      path.join(dir, 'model.json'),
      '--out',
      out,
    ]);
    assert.ok(r.code === 0 || r.code === 1, `mutation ${i} (kind ${kind}): exit ${r.code}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, stackTrace);
    assert.doesNotMatch(r.stderr, /internal error/, `mutation ${i} (kind ${kind}): ${r.stderr}`);
    const added = listing(root).filter(
      (f) => !before.includes(f) && f !== `out${i}` && !f.startsWith(`out${i}${path.sep}`),
    );
    assert.deepEqual(added, [], `mutation ${i} wrote outside --out`);
  }
});

/** Every file below `dir` with its bytes (links as their targets). */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of listing(dir)) {
    const p = path.join(dir, f);
    const st = fs.lstatSync(p);
    out[f] = st.isSymbolicLink()
      ? `-> ${fs.readlinkSync(p)}`
      : st.isFile()
        ? fs.readFileSync(p).toString('base64')
        : 'dir';
  }
  return out;
}

const plantable = [
  'generations.ndjson',
  'config.json',
  'gen-00',
  'gen-01',
  'gen-01/mask.bin',
  'gen-00/weights.bin',
  'gen-01/model.json',
  'work',
  '.evolve.lock',
];
const savedValues: unknown[] = [0, -1, 1.5, 1e9, null, 'x', '', true, [], {}, 'lenet5', 'max', 1000, 0.5, 2];

test(
  'fuzz: tampered run folders (config values, planted links, masks and weights against the records) never crash ' +
    'or write outside',
  (t) => {
    const root = tempDir();
    const base = path.join(root, 'base');
    const made = runCli([
      '--arch',
      'lenet300',
      '--generations',
      '1',
      '--train-limit',
      '64',
      '--test-limit',
      '32',
      '--validation',
      '8',
      '--ancestor-epochs',
      '0',
      '--epochs',
      '0',
      '--out',
      base,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const victim = path.join(root, 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'v.txt'), 'keep me');
    const untouched = contents(victim);
    const keys = Object.keys(JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')).options);
    const rng = seedrandom('tampering');
    const pick = <T>(a: T[]): T => a[Math.floor(rng() * a.length)];
    for (let i = 0; i < 16; i++) {
      const run = path.join(root, `t${i}`);
      fs.cpSync(base, run, { recursive: true });
      let what = '';
      if (rng() < 0.5) {
        // An interrupted run: the resume has a generation to write.
        fs.writeFileSync(
          path.join(run, 'generations.ndjson'),
          `${fs.readFileSync(path.join(run, 'generations.ndjson'), 'utf8').split('\n')[0]}\n`,
        );
        what += 'records 0..0; ';
      }
      const kind = i % 4;
      if (kind === 0) {
        const file = path.join(run, 'config.json');
        const config = JSON.parse(fs.readFileSync(file, 'utf8'));
        const [key, value] = [pick(keys), pick(savedValues)];
        config.options[key] = value;
        fs.writeFileSync(file, JSON.stringify(config));
        what += `options.${key} = ${JSON.stringify(value)}`;
      } else if (kind === 1) {
        const name = pick(plantable);
        fs.rmSync(path.join(run, name), { recursive: true, force: true });
        fs.symlinkSync(
          name.startsWith('gen-') && !name.includes('/') ? victim : path.join(victim, 'v.txt'),
          path.join(run, name),
        );
        what += `link ${name}`;
      } else {
        const file = path.join(run, pick(['gen-00', 'gen-01']), kind === 2 ? 'mask.bin' : 'weights.bin');
        const bytes = fs.readFileSync(file);
        const n = 1 + Math.floor(rng() * 20);
        for (let k = 0; k < n; k++)
          bytes[Math.floor(rng() * bytes.length)] = kind === 2 ? pick([0, 1, 2, 255]) : Math.floor(rng() * 256);
        const cut = rng() < 0.2;
        fs.writeFileSync(file, cut ? bytes.subarray(0, Math.floor(rng() * bytes.length)) : bytes);
        what += `${n} bytes of ${path.relative(run, file)} changed${cut ? ', then cut' : ''}`;
      }
      const out = path.join(root, `e${i}`);
      const args = rng() < 0.7 ? ['--resume', run] : ['export', run, '--generation', pick(['0', '1']), '--out', out];
      const r = spawnSync(process.execPath, [bin, ...args], {
        encoding: 'utf8',
        timeout: 60000,
        env: { ...process.env, NO_COLOR: '1' },
      });
      const label = `${what}; evolve ${args[0]}: exit ${r.status}\n${r.stderr}`;
      assert.ok(r.status === 0 || r.status === 1 || r.status === 2, label);
      assert.doesNotMatch(r.stderr, stackTrace, label);
      assert.doesNotMatch(r.stderr, /internal error/, label);
      if (r.status !== 0)
        assert.equal(
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => !/^evolve: (backend|mnist|continuing)/.test(l)).length,
          1,
          label,
        );
      assert.deepEqual(contents(victim), untouched, `${label}: wrote outside the run folder`);
      assert.equal(
        fs.existsSync(path.join(run, '.evolve.lock')) && !fs.lstatSync(path.join(run, '.evolve.lock')).isSymbolicLink(),
        false,
        `${label}: left a lock`,
      );
      assert.deepEqual(
        fs.readdirSync(root).filter((f) => !/^(base|victim|t\d+|e\d+)$/.test(f)),
        [],
        label,
      );
      t.diagnostic(`${what}; ${args[0]}: exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
    }
    fs.rmSync(root, { recursive: true, force: true });
  },
);
