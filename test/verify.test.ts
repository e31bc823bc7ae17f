// The cache folder, the checksum verifier and its stamp, on real files.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import { dataRoot } from '../src/data/cache';
import { describeVerifyResult, type FileSpec, hashFile, isVerified, stampPath, verifyFile } from '../src/data/verify';
import { tempDir } from './helpers';

function writeRandomFile(dir: string, n: number): { file: string; spec: FileSpec } {
  const rng = seedrandom('verify-file');
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i++) buf[i] = rng.int32() & 0xff;
  const file = path.join(dir, 'data.bin');
  fs.writeFileSync(file, buf);
  const sha256 = createHash('sha256').update(buf).digest('hex');
  return { file, spec: { name: 'data.bin', url: 'http://127.0.0.1:1/data.bin', bytes: n, sha256 } };
}

test('dataRoot: --data-dir, then EVOLVE_DATA_DIR, then XDG_CACHE_HOME/evolve, then ~/.cache/evolve', () => {
  const env = { HOME: '/home/u', XDG_CACHE_HOME: '/xdg', EVOLVE_DATA_DIR: '/data' };
  assert.equal(dataRoot({ dataDir: '/flag', env }), '/flag');
  assert.equal(dataRoot({ dataDir: 'rel', env }), path.resolve('rel'));
  assert.equal(dataRoot({ env }), '/data');
  assert.equal(dataRoot({ env: { ...env, EVOLVE_DATA_DIR: '' } }), '/xdg/evolve');
  assert.equal(dataRoot({ env: { HOME: '/home/u', XDG_CACHE_HOME: 'relative' } }), '/home/u/.cache/evolve');
  assert.equal(dataRoot({ env: { HOME: '/home/u' } }), '/home/u/.cache/evolve');
  assert.equal(dataRoot({ env: {} }), path.join(os.homedir(), '.cache', 'evolve'));
  const pkg = path.resolve(__dirname, '..', '..');
  assert.ok(!dataRoot({ env: {} }).startsWith(pkg + path.sep), 'never the package folder');
});

test('hashFile streams a file to its SHA-256 and size, reporting progress', async () => {
  const { file, spec } = writeRandomFile(tempDir(), 3 * 1024 * 1024 + 7);
  const seen: number[] = [];
  const r = await hashFile(file, (done, total) => {
    assert.equal(total, spec.bytes);
    seen.push(done);
  });
  assert.deepEqual(r, { bytes: spec.bytes, sha256: spec.sha256 });
  assert.ok(seen.length >= 3 && seen.at(-1) === spec.bytes);
});

test('verifyFile: ok, missing, wrong size (without hashing), wrong checksum', async () => {
  const dir = tempDir();
  const { file, spec } = writeRandomFile(dir, 100_000);
  const ok = await verifyFile(file, spec);
  assert.deepEqual(ok, { status: 'ok', path: file, bytes: spec.bytes, sha256: spec.sha256, fromStamp: false });
  assert.deepEqual(await verifyFile(path.join(dir, 'nope'), spec), { status: 'missing', path: path.join(dir, 'nope') });
  let hashed = false;
  const size = await verifyFile(
    file,
    { ...spec, bytes: 99 },
    {
      onProgress: () => {
        hashed = true;
      },
    },
  );
  assert.deepEqual(size, { status: 'wrong-size', path: file, expectedBytes: 99, actualBytes: 100_000 });
  assert.equal(hashed, false, 'a size mismatch is reported without reading the file');
  const wrong = 'cd'.repeat(32);
  const sum = await verifyFile(file, { ...spec, sha256: wrong });
  assert.deepEqual(sum, {
    status: 'wrong-checksum',
    path: file,
    bytes: spec.bytes,
    expectedSha256: wrong,
    actualSha256: spec.sha256,
  });
  assert.equal(
    describeVerifyResult('data.bin', sum),
    `data.bin: wrong checksum: expected sha256 ${wrong}, found ${spec.sha256} (${file})`,
  );
  assert.equal(
    describeVerifyResult('data.bin', size),
    `data.bin: wrong size: expected 99 bytes, found 100000 (${file})`,
  );
});

test('the verified stamp spares a re-hash only while size, mtime and the expected checksum still hold', async () => {
  const dir = tempDir();
  const { file, spec } = writeRandomFile(dir, 100_000);
  assert.equal(await isVerified(file, spec), false);
  await verifyFile(file, spec);
  const stamp = JSON.parse(fs.readFileSync(stampPath(file), 'utf8'));
  assert.deepEqual(stamp, { sha256: spec.sha256, bytes: spec.bytes, mtimeMs: fs.statSync(file).mtimeMs });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['data.bin', 'data.bin.verified'], 'no temporary stamp left');
  assert.equal(await isVerified(file, spec), true);
  let hashed = false;
  const again = await verifyFile(file, spec, {
    onProgress: () => {
      hashed = true;
    },
  });
  assert.equal(again.status === 'ok' && again.fromStamp, true);
  assert.equal(hashed, false);

  // Another expected checksum (a changed spec): the stamp no longer vouches and is deleted.
  assert.equal(await isVerified(file, { ...spec, sha256: 'ef'.repeat(32) }), false);
  assert.equal(fs.existsSync(stampPath(file)), false);

  // The file changed in place, same size: a new mtime makes the stamp stale, and the hash finds the change.
  await verifyFile(file, spec);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([fs.readFileSync(file)[500] ^ 0xff]), 0, 1, 500);
  fs.closeSync(fd);
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const changed = await verifyFile(file, spec);
  assert.equal(changed.status, 'wrong-checksum');
  assert.equal(fs.existsSync(stampPath(file)), false, 'a mismatch deletes the stamp');

  // A stamp that is not JSON is worthless and removed.
  fs.writeFileSync(stampPath(file), '{');
  assert.equal(await isVerified(file, spec), false);
  assert.equal(fs.existsSync(stampPath(file)), false);
});
