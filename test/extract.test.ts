// Safe extraction of real .tar.gz archives made here: node-tar's own for the normal case, tar
// headers written by hand for the malicious ones (a `../` entry, an absolute path, links).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import seedrandom from 'seedrandom';
import * as tar from 'tar';
import { type ArchiveEntry, extractTarGz } from '../src/data/extract';
import { tempDir, smallDisk, unmountDisk } from './helpers';
import { type RawEntry, rawTar, rawTarGz } from './fixtures/tarFiles';
import { tarGz, writeCifar10 } from './fixtures/datasetFiles';
import { datasetState, prepareDataset } from '../src/data/store';
import { datasets } from '../src/data/sets';

const { cifar10 } = datasets;

function randomBytes(n: number, seed: string): Buffer {
  const rng = seedrandom(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int32() & 0xff;
  return b;
}

/** Every path below `dir`, relative and sorted. */
function listing(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

/** Laid out like cifar-10-binary.tar.gz (smaller batches), made by node-tar from real files. */
async function cifarLikeArchive(root: string): Promise<{ archive: string; files: Map<string, Buffer> }> {
  const src = path.join(root, 'src');
  const files = new Map<string, Buffer>();
  const names = ['batches.meta.txt', 'data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin', 'readme.html'];
  fs.mkdirSync(path.join(src, 'cifar-10-batches-bin'), { recursive: true });
  for (const n of names) {
    const member = `cifar-10-batches-bin/${n}`;
    const body = randomBytes(n.endsWith('.bin') ? 3073 * 20 : 200, member);
    fs.writeFileSync(path.join(src, member), body);
    files.set(member, body);
  }
  const archive = path.join(root, 'cifar-10-binary.tar.gz');
  await tar.create({ gzip: true, file: archive, cwd: src, portable: true }, ['cifar-10-batches-bin']);
  return { archive, files };
}

test('extracts only the kept members, streaming, into dest; reports every entry', { timeout: 20000 }, async () => {
  const root = tempDir();
  const { archive, files } = await cifarLikeArchive(root);
  const dest = path.join(root, 'cache', 'cifar10');
  const seen: ArchiveEntry[] = [];
  let progress = 0;
  const keep = (p: string): boolean => p.endsWith('.bin');
  const kept = await extractTarGz({
    archive,
    dest,
    keep,
    onEntry: (e) => seen.push(e),
    onProgress: (p) => {
      progress = p.done;
    },
  });
  const expected = [...files.keys()].filter(keep);
  assert.deepEqual([...kept].sort(), expected.sort());
  assert.deepEqual(listing(dest), ['cifar-10-batches-bin', ...expected].sort());
  for (const m of expected) assert.ok(fs.readFileSync(path.join(dest, m)).equals(files.get(m)!), m);
  assert.equal(seen.filter((e) => e.type === 'File').length, files.size);
  assert.ok(seen.some((e) => e.path === 'cifar-10-batches-bin/readme.html' && !e.kept));
  assert.equal(progress, fs.statSync(archive).size);
  assert.deepEqual(fs.readdirSync(path.dirname(dest)), ['cifar10'], 'no temporary folder left');

  // Extracting again replaces dest as a whole: a stray file from before is gone. The temporary
  // folder of an extraction that died is removed; that of one still running (a live pid) is not.
  fs.writeFileSync(path.join(dest, 'stray'), 'x');
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  fs.mkdirSync(`${dest}.tmp-${dead}/cifar-10-batches-bin`, { recursive: true });
  fs.mkdirSync(`${dest}.tmp-${process.ppid}`);
  await extractTarGz({ archive, dest, keep: (p) => p.endsWith('test_batch.bin') });
  assert.deepEqual(listing(dest), ['cifar-10-batches-bin', 'cifar-10-batches-bin/test_batch.bin']);
  assert.deepEqual(fs.readdirSync(path.dirname(dest)).sort(), ['cifar10', `cifar10.tmp-${process.ppid}`]);
});

const malicious: [string, RawEntry, RegExp][] = [
  [
    'a ../ entry',
    { path: '../escaped.txt', body: Buffer.from('pwned') },
    /entry "\.\.\/escaped\.txt" has a '\.\.' component/,
  ],
  [
    'a nested .. entry',
    { path: 'stl10_binary/../../escaped.txt', body: Buffer.from('pwned') },
    /entry "stl10_binary\/\.\.\/\.\.\/escaped\.txt" has a '\.\.' component/,
  ],
  [
    'an absolute path',
    { path: '/tmp/evolve-escaped.txt', body: Buffer.from('pwned') },
    /entry "\/tmp\/evolve-escaped\.txt" has an absolute path/,
  ],
  [
    'a symbolic link',
    { path: 'stl10_binary/link', type: '2', linkpath: '/etc' },
    /entry "stl10_binary\/link" is a symbolic link/,
  ],
  [
    'a hard link',
    { path: 'stl10_binary/hard', type: '1', linkpath: 'stl10_binary/train_X.bin' },
    /entry "stl10_binary\/hard" is a hard link/,
  ],
];

for (const [what, bad, message] of malicious) {
  test(`refuses an archive with ${what}, wherever it is, leaving nothing behind`, { timeout: 20000 }, async () => {
    // The bad entry comes after a good, kept one: that one was written to the temporary folder, which must go too.
    const root = tempDir();
    const archive = path.join(root, 'stl10_binary.tar.gz');
    rawTarGz(archive, [
      { path: 'stl10_binary/', type: '5' },
      { path: 'stl10_binary/train_X.bin', body: randomBytes(5000, 'x') },
      bad,
      { path: 'stl10_binary/test_X.bin', body: randomBytes(5000, 'y') },
    ]);
    const dest = path.join(root, 'cache', 'stl10');
    fs.mkdirSync(path.dirname(dest));
    const before = listing(root);
    const e = await extractTarGz({ archive, dest, keep: () => true }).then(
      () => assert.fail('accepted'),
      (err: Error) => err,
    );
    assert.equal(e.name, 'ExtractError');
    assert.match(e.message, new RegExp(`^stl10_binary\\.tar\\.gz: refused: ${message.source}; nothing was extracted$`));
    assert.deepEqual(listing(root), before, 'no dest, no temporary folder, nothing beside them');
    assert.equal(fs.existsSync('/tmp/evolve-escaped.txt'), false);
  });
}

test('a corrupt or truncated archive is one line and leaves nothing', { timeout: 20000 }, async () => {
  const root = tempDir();
  const { archive } = await cifarLikeArchive(root);
  const buf = fs.readFileSync(archive);
  const dest = path.join(root, 'out');
  for (const [label, bytes] of [
    ['truncated', buf.subarray(0, Math.floor(buf.length / 2))],
    ['not gzip', randomBytes(4000, 'noise')],
  ] as const) {
    const bad = path.join(root, `${label}.tar.gz`);
    fs.writeFileSync(bad, bytes);
    const e = await extractTarGz({ archive: bad, dest, keep: () => true }).then(
      () => assert.fail(`${label} accepted`),
      (err: Error) => err,
    );
    assert.equal(e.name, 'ExtractError', e.stack);
    assert.match(e.message, new RegExp(`^${label}\\.tar\\.gz: `));
    assert.doesNotMatch(e.message, /\n/);
    assert.equal(fs.existsSync(dest), false, label);
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.startsWith('out')),
      [],
      label,
    );
  }
  const missing = await extractTarGz({ archive: path.join(root, 'none.tar.gz'), dest, keep: () => true }).catch(
    (err: Error) => err,
  );
  assert.match(String((missing as Error).message), /^none\.tar\.gz: file not found/);
});

test('a full disk during extraction: one line naming the member, nothing half-written', {
  timeout: 20000,
}, async (t) => {
  const root = tempDir();
  const archive = path.join(root, 'stl10_binary.tar.gz');
  rawTarGz(archive, [
    { path: 'stl10_binary/test_y.bin', body: randomBytes(1000, 'labels') },
    { path: 'stl10_binary/test_X.bin', body: randomBytes(2 * 1024 * 1024, 'images') },
  ]);
  const disk = smallDisk(t, '1m');
  if (!disk) return;
  try {
    const dest = path.join(disk, 'stl10');
    const e = await extractTarGz({ archive, dest, keep: () => true }).then(
      () => assert.fail('fit on a full disk'),
      (err: Error) => err,
    );
    assert.equal(
      e.message,
      'stl10_binary.tar.gz: cannot write stl10_binary/test_X.bin (no space left on device); nothing was extracted',
    );
    assert.deepEqual(fs.readdirSync(disk), []);
  } finally {
    unmountDisk(disk);
  }
});

test('staging folders left by a killed extraction are removed by the next one and not counted on disk', {
  timeout: 20000,
}, async () => {
  const root = tempDir();
  const src = tempDir();
  const dir = path.join(root, 'cifar10');
  fs.mkdirSync(dir);
  writeCifar10(src, { perBatch: 10, testCount: 10, seed: 1 });
  tarGz(src, ['cifar-10-batches-bin'], path.join(dir, 'cifar-10-binary.tar.gz'));
  const options = { root, skipChecksum: true, download: false, log: () => undefined };
  await prepareDataset(cifar10, options);
  const ready = await datasetState(root, cifar10);
  // What Ctrl-C during an extraction leaves: the staging folder and node-tar's temporary one inside it.
  const dead = spawnSync('true').pid;
  const left = path.join(dir, `.extract-${dead}.tmp-${dead}`, 'cifar-10-batches-bin');
  fs.mkdirSync(left, { recursive: true });
  fs.writeFileSync(path.join(left, 'data_batch_1.bin'), Buffer.alloc(1 << 20));
  fs.mkdirSync(path.join(dir, `.extract-${dead}`));
  assert.equal((await datasetState(root, cifar10)).bytesOnDisk, ready.bytesOnDisk, 'leftovers are not counted');
  await prepareDataset(cifar10, options);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
});

test("what follows the archive's end is not read: data inside the gzip stream, zeros after it", {
  timeout: 20000,
}, async () => {
  const root = tempDir();
  const members = [
    { path: 'set/a.bin', body: randomBytes(70_000, 'a') },
    { path: 'set/b.bin', body: randomBytes(3000, 'b') },
  ];
  const tarBytes = rawTar(members);
  const MiB = 1 << 20;
  const cases: [string, Buffer][] = [
    // Junk that node-tar would parse as headers, compressed with the archive.
    ['inside', zlib.gzipSync(Buffer.concat([tarBytes, ...Array(96).fill(randomBytes(65536, 'junk'))]), { level: 0 })],
    ['zeros inside', zlib.gzipSync(Buffer.concat([tarBytes, Buffer.alloc(2 * MiB)]))],
    ['zeros after', Buffer.concat([zlib.gzipSync(tarBytes), Buffer.alloc(12 * MiB)])],
  ];
  for (const [name, bytes] of cases) {
    const archive = path.join(root, `${name}.tar.gz`);
    fs.writeFileSync(archive, bytes);
    let read = 0;
    const kept = await extractTarGz({
      archive,
      dest: path.join(root, name),
      keep: () => true,
      onProgress: (p) => {
        read = p.done;
      },
    });
    assert.deepEqual(kept, ['set/a.bin', 'set/b.bin'], name);
    assert.ok(fs.readFileSync(path.join(root, name, 'set', 'a.bin')).equals(members[0].body), name);
    // A few read-ahead chunks of 1 MiB at most, whatever follows.
    if (bytes.length >= 6 * MiB) assert.ok(read <= 4 * MiB, `${name}: read ${read} of ${bytes.length} bytes`);
  }
});
