// The new data sets through the real CLI: archives laid out like the published ones (real member
// names, canonical binary formats) but generated here, so their checksums differ from the real.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { bin, readRecords, tempDir as makeTempDir } from './helpers';

const made: string[] = [];
/** A temporary folder removed when the file's tests end. */
function tempDir(prefix: string): string {
  made.push(makeTempDir(prefix));
  return made[made.length - 1];
}
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
import { tarGz, writeCifar10, writeStl10 } from './fixtures/datasetFiles';
import { padGzipTo, rawTarGz } from './fixtures/tarFiles';
// Also guards this process: its own clients may reach 127.0.0.1 only.
import { OFFLINE_MARK } from './fixtures/offline';
import { datasetNames, datasets } from '../src/data/sets';
import { ancestorNames } from '../src/models/ancestors';

const { cifar10 } = datasets;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI's environment: no colour, and no connection but to 127.0.0.1 (in its children too). */
function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const offline = `--require ${path.join(__dirname, 'fixtures', 'offline.js')}`;
  return { ...process.env, NO_COLOR: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${offline}`, ...env };
}

function evolve(args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: cliEnv(env) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A data cache holding a generated archive of `name` in the layout evolve expects. */
function cacheWith(name: 'cifar10' | 'stl10', counts: { train: number; test: number }): string {
  const root = tempDir('evolve-data-');
  const src = tempDir('evolve-src-');
  fs.mkdirSync(path.join(root, name));
  if (name === 'cifar10') {
    writeCifar10(src, { perBatch: counts.train / 5, testCount: counts.test, seed: 3 });
    tarGz(src, ['cifar-10-batches-bin'], path.join(root, name, 'cifar-10-binary.tar.gz'));
  } else {
    writeStl10(src, { trainCount: counts.train, testCount: counts.test, seed: 4 });
    tarGz(src, ['stl10_binary'], path.join(root, name, 'stl10_binary.tar.gz'));
  }
  fs.rmSync(src, { recursive: true, force: true });
  return root;
}

const quick = [
  '--generations',
  '2',
  '--epochs',
  '1',
  '--ancestor-epochs',
  '1',
  '--validation',
  '16',
  '--batch-size',
  '32',
  '--json',
];

test('an archive of the real size and layout but other bytes is refused on its checksum', () => {
  const root = cacheWith('cifar10', { train: 50, test: 20 });
  const archive = path.join(root, 'cifar10', 'cifar-10-binary.tar.gz');
  padGzipTo(archive, cifar10.archive!.bytes);
  const verify = evolve(['datasets', 'verify', 'cifar10', '--data-dir', root]);
  assert.equal(verify.code, 1, verify.stderr);
  assert.match(
    verify.stderr,
    new RegExp(
      "SHA-256 [0-9a-f]{64} does not match the published cifar-10-binary\\.tar\\.gz's " +
        'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd',
    ),
  );
  const out = path.join(root, 'run');
  const run = evolve(['--dataset', 'cifar10', '--data-dir', root, '--out', out, ...quick]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /does not match the published .*EVOLVE_SKIP_CHECKSUM=1/);
  assert.equal(
    run.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.includes('backend')).length,
    1,
    run.stderr,
  );
  assert.ok(!fs.existsSync(out), 'no run folder for data that did not verify');
  assert.ok(!fs.existsSync(path.join(root, 'cifar10', 'cifar-10-batches-bin')), 'nothing extracted');
});

test('alexnet on generated CIFAR-10: 2 generations, every conv layer recorded, clusters over all five', () => {
  const root = cacheWith('cifar10', { train: 100, test: 32 });
  const out = path.join(root, 'run');
  const r = evolve(['--dataset', 'cifar10', '--data-dir', root, '--out', out, '--train-limit', '32', ...quick], {
    EVOLVE_SKIP_CHECKSUM: '1',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /EVOLVE_SKIP_CHECKSUM=1/);
  const records = readRecords(path.join(out, 'generations.ndjson'));
  assert.equal(records.length, 3);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.options.arch, 'alexnet');
  assert.equal(config.data.checksumSkipped, true);
  assert.equal(config.data.normalise.mean.length, 3);
  assert.deepEqual(config.data.augment, { pad: 4, flip: true });
  for (const rec of records) {
    const layers = rec.layers as { name: string; kind: string; units: number }[];
    const convs = layers.filter((l) => l.kind === 'conv');
    assert.deepEqual(
      convs.map((l) => l.name),
      ['conv1', 'conv2', 'conv3', 'conv4', 'conv5'],
    );
    assert.equal(
      rec.clusters,
      convs.reduce((a, l) => a + l.units, 0),
    );
  }
  assert.ok((records[2].synapses as number) < (records[0].synapses as number));
  // The second run finds the extracted files from the same archive and does not extract again.
  const again = evolve(
    [
      '--dataset',
      'cifar10',
      '--data-dir',
      root,
      '--out',
      path.join(root, 'run2'),
      '--train-limit',
      '32',
      '--generations',
      '0',
      '--ancestor-epochs',
      '0',
      '--test-limit',
      '8',
      '--validation',
      '16',
    ],
    { EVOLVE_SKIP_CHECKSUM: '1' },
  );
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /extracting/);
});

test('stl10net on generated STL-10: 2 generations exit 0 with per-layer records', () => {
  const root = cacheWith('stl10', { train: 60, test: 24 });
  const out = path.join(root, 'run');
  const r = evolve(['--dataset', 'stl10', '--data-dir', root, '--out', out, '--train-limit', '32', ...quick], {
    EVOLVE_SKIP_CHECKSUM: '1',
  });
  assert.equal(r.code, 0, r.stderr);
  const records = readRecords(path.join(out, 'generations.ndjson'));
  assert.equal(records.length, 3);
  const names = (records[2].layers as { name: string }[]).map((l) => l.name);
  assert.deepEqual(names, ['conv1', 'conv2', 'conv3', 'fc1', 'fc2']);
  assert.equal(fs.readdirSync(path.join(root, 'stl10', 'stl10_binary')).includes('unlabeled_X.bin'), false);
});

test('a malicious archive is refused and nothing is written outside the cache folder', () => {
  for (const [entry, reason] of [
    [{ path: 'cifar-10-batches-bin/../../escaped.bin', body: Buffer.from('x') }, /'\.\.'/],
    [{ path: '/tmp/evolve-absolute-escape.bin', body: Buffer.from('x') }, /absolute path/],
    [{ path: 'cifar-10-batches-bin/data_batch_1.bin', type: '2' as const, linkpath: '/etc/passwd' }, /symbolic link/],
  ] as const) {
    const parent = tempDir('evolve-mal-');
    const root = path.join(parent, 'cache');
    fs.mkdirSync(path.join(root, 'cifar10'), { recursive: true });
    rawTarGz(path.join(root, 'cifar10', 'cifar-10-binary.tar.gz'), [
      { path: 'cifar-10-batches-bin/batches.meta.txt', body: Buffer.from('airplane\n') },
      entry,
    ]);
    const r = evolve(['--dataset', 'cifar10', '--data-dir', root, '--out', path.join(root, 'run'), ...quick], {
      EVOLVE_SKIP_CHECKSUM: '1',
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trim().split('\n').pop()!, reason);
    assert.deepEqual(fs.readdirSync(parent), ['cache']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'cifar10')), ['cifar-10-binary.tar.gz']);
    assert.ok(!fs.existsSync('/tmp/evolve-absolute-escape.bin'));
  }
});

test('datasets download: a wrong checksum from a local server, and an unreachable one', async () => {
  const root = cacheWith('cifar10', { train: 50, test: 20 });
  const body = fs.readFileSync(path.join(root, 'cifar10', 'cifar-10-binary.tar.gz'));
  fs.rmSync(path.join(root, 'cifar10'), { recursive: true });
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': cifar10.archive!.bytes });
    res.end(Buffer.concat([body, Buffer.alloc(cifar10.archive!.bytes - body.length)]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cifar-10-binary.tar.gz`;
  try {
    const r = await new Promise<Run>((resolve) => {
      const { spawn } = require('node:child_process') as typeof import('node:child_process');
      const p = spawn(
        process.execPath,
        [bin, 'datasets', 'download', 'cifar10', '--data-dir', root, '--url', url, '--retries', '0'],
        { env: cliEnv() },
      );
      let stderr = '';
      p.stderr.on('data', (d) => {
        stderr += d;
      });
      p.on('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /wrong checksum.*c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd/);
    assert.deepEqual(fs.readdirSync(path.join(root, 'cifar10')), [], 'no file that looks valid, no .part');
  } finally {
    server.close();
  }
  const off = evolve([
    'datasets',
    'download',
    'cifar10',
    '--data-dir',
    root,
    '--url',
    'http://127.0.0.1:1/cifar-10-binary.tar.gz',
    '--retries',
    '0',
  ]);
  assert.equal(off.code, 1);
  assert.match(off.stderr, /http:\/\/127\.0\.0\.1:1\/cifar-10-binary\.tar\.gz/);
  assert.ok(off.stderr.includes(path.join(root, 'cifar10')), off.stderr);
});

test('list, path, --help and a data set that does not fit the architecture', () => {
  const root = tempDir('evolve-data-');
  const list = evolve(['datasets', 'list', '--data-dir', root]);
  assert.equal(list.code, 0, list.stderr);
  for (const name of datasetNames) assert.match(list.stdout, new RegExp(`^${name} `, 'm'));
  assert.match(list.stdout, /stl10 .*not downloaded/);
  assert.equal(evolve(['datasets', 'path', 'stl10', '--data-dir', root]).stdout.trim(), path.join(root, 'stl10'));
  const help = evolve(['--help']).stdout;
  for (const name of [...datasetNames, ...ancestorNames]) assert.ok(help.includes(`"${name}"`), name);
  const misfit = evolve([
    '--dataset',
    'cifar10',
    '--arch',
    'lenet5',
    '--data-dir',
    root,
    '--out',
    path.join(root, 'run'),
  ]);
  assert.equal(misfit.code, 2);
  assert.match(misfit.stderr, /--arch lenet5 takes 28x28x1 inputs but --dataset cifar10 has 32x32x3 images/);
  assert.ok(!fs.existsSync(path.join(root, 'run')));
  const unknown = evolve(['datasets', 'verify', 'imagenet']);
  assert.equal(unknown.code, 2);
});

test('reproduce without the data set: one message saying where to put it, exit 1, no run started', () => {
  const root = tempDir('evolve-data-');
  const out = path.join(root, 'runs');
  const t0 = Date.now();
  const r = evolve(['reproduce', 'cifar10', '--out', out], { EVOLVE_DATA_DIR: path.join(root, 'cache') });
  process.stderr.write(`datasetsCli.test: reproduce cifar10 without data took ${Date.now() - t0} ms\n`);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, new RegExp(OFFLINE_MARK), 'no download was attempted');
  assert.deepEqual(r.stderr.trim().split('\n'), [
    `evolve: cifar10: cifar-10-binary.tar.gz (170 MB) is not in ${path.join(root, 'cache', 'cifar10')}; ` +
      'put it there, or run: evolve datasets download cifar10 ' +
      `(from ${cifar10.archive!.url}; --url MIRROR for a mirror)`,
  ]);
  assert.equal(fs.existsSync(out), false, 'no run folder');
  // An archive that is not the published one: one message too, before any run.
  const cache = cacheWith('cifar10', { train: 50, test: 20 });
  const wrong = evolve(['reproduce', 'cifar10', '--out', out], { EVOLVE_DATA_DIR: cache });
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
  assert.match(wrong.stderr, /not the published archive; delete it and run: evolve datasets download cifar10/);
  assert.doesNotMatch(wrong.stderr, /resume/);
  assert.equal(fs.existsSync(out), false, 'no run folder');
});

test('Ctrl-C during datasets download: exit 130, a line saying what is kept and that it continues', async () => {
  const root = tempDir('evolve-data-');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': cifar10.archive!.bytes });
    res.write(Buffer.alloc(1 << 20)); // then nothing: the transfer waits for the signal
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cifar-10-binary.tar.gz`;
  const part = path.join(root, 'cifar10', 'cifar-10-binary.tar.gz.part');
  try {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const p = spawn(process.execPath, [bin, 'datasets', 'download', 'cifar10', '--data-dir', root, '--url', url], {
      env: cliEnv(),
    });
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = new Promise<number | null>((resolve) => p.on('close', (c) => resolve(c)));
    while (!fs.existsSync(part) || fs.statSync(part).size === 0) await new Promise((r) => setTimeout(r, 20));
    p.kill('SIGINT');
    assert.equal(await code, 130, stderr);
    assert.match(
      stderr.trim().split('\n').pop()!,
      new RegExp(
        `^evolve: interrupted: cifar-10-binary\\.tar\\.gz: \\d+ of ${cifar10.archive!.bytes} bytes are kept in ` +
          `${part.replace(/[.]/g, '\\.')}; the next download continues from there$`,
      ),
    );
    assert.deepEqual(fs.readdirSync(path.join(root, 'cifar10')), ['cifar-10-binary.tar.gz.part'], 'no lock left');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
