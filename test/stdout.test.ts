// stdout that cannot be written for another reason than a closed pipe: `> file` on a full disk.
// Linux's /dev/full fails every write with ENOSPC, as a full disk does; the real CLI writes to it.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bin, tempDir } from './helpers';
import { lockName } from '../src/run/lock';

const root = tempDir('evolve-stdout-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const full = fs.existsSync('/dev/full');
const run = path.join(root, 'run');

/** The CLI with stdout on /dev/full: its exit code and stderr. */
function toFullDisk(args: string[]): { code: number | null; stderr: string } {
  const fd = fs.openSync('/dev/full', 'w');
  try {
    const r = spawnSync(process.execPath, [bin, ...args], {
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 300_000,
    });
    return { code: r.status, stderr: r.stderr };
  } finally {
    fs.closeSync(fd);
  }
}

test('evolve --json > full disk: the run stops after the record it could not write, exit 1, resumable', (t) => {
  if (!full) return t.skip('no /dev/full');
  const cheap = ['--arch', 'lenet300', '--train-limit', '500', '--test-limit', '200', '--epochs', '1'];
  const r = toFullDisk([...cheap, '--ancestor-epochs', '1', '--generations', '1', '--json', '--out', run]);
  assert.equal(r.code, 1, r.stderr);
  const last = r.stderr.trim().split('\n').pop();
  assert.match(
    last ?? '',
    new RegExp(
      String.raw`^evolve: cannot write to stdout \(disk full\); the run folder holds generations 0\.\.0; ` +
        'resume with: evolve --resume ',
    ),
  );
  assert.doesNotMatch(r.stderr, /stdout was closed/);
  assert.equal(fs.readFileSync(path.join(run, 'generations.ndjson'), 'utf8').trim().split('\n').length, 1);
  assert.equal(fs.existsSync(path.join(run, lockName)), false, 'the lock is let go');
});

test('report and reproduce --plan > full disk: one line naming it, exit 1 (141 is for a closed pipe only)', (t) => {
  if (!full) return t.skip('no /dev/full');
  assert.ok(fs.existsSync(path.join(run, 'generations.ndjson')), 'the run folder of the test above');
  for (const args of [
    ['report', run, '--format', 'csv'],
    ['reproduce', 'mnist', '--plan', '--out', path.join(root, 'reproduce')],
  ]) {
    const r = toFullDisk(args);
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').pop(), 'evolve: cannot write to stdout (disk full)', args[0]);
  }
});
