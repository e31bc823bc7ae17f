// --resume, interrupts and the run lock, on the real CLI: runs killed at random moments and
// resumed must give the records of an uninterrupted run (timing fields aside).
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type CliResult,
  bin,
  killAtCheckpoint,
  readCheckpointFile,
  readRecords,
  runCli,
  tempDir,
  withoutTiming,
} from './helpers';
import { encodeCheckpoint } from '../src/run/checkpoint';
import type { TrainingCheckpoint } from '../src/evolution/checkpoint';

const base = [
  '--arch',
  'lenet300',
  '--generations',
  '4',
  '--train-limit',
  '3000',
  '--test-limit',
  '1000',
  '--epochs',
  '1',
  '--seed',
  '7',
];
let root = '';
let ref = '';
let reference: Record<string, unknown>[] = [];

before(() => {
  root = tempDir('evolve-resume-');
  ref = path.join(root, 'ref');
  const r = runCli([...base, '--json', '--out', ref]);
  assert.equal(r.code, 0, r.stderr);
  reference = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(reference.length, 5);
  assert.equal(fs.existsSync(path.join(ref, '.evolve.lock')), false, 'the lock is removed at the end');
});

function lineCount(file: string): number {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

/**
 * A point in a run, seen from outside: what the run has written. Kill points are chosen by what a
 * run has done, never by time, so they land where they should on fast and slow machines alike.
 */
interface Progress {
  name: string;
  reached: (out: string) => boolean;
}
const folderHeld: Progress = {
  name: 'once its folder is made and locked',
  reached: (out) => fs.existsSync(path.join(out, '.evolve.lock')),
};
const configWritten: Progress = {
  name: 'once config.json is written',
  reached: (out) => fs.existsSync(path.join(out, 'config.json')),
};
const ancestorCheckpoint: Progress = {
  name: "inside the ancestor, once its first epoch's checkpoint is written",
  reached: (out) => fs.existsSync(path.join(out, 'work', 'gen-00', 'checkpoint.bin')),
};
const recordsWritten = (n: number, name: string): Progress => ({
  name,
  reached: (out) => lineCount(path.join(out, 'generations.ndjson')) >= n,
});

interface Stopped {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  linesAtSignal: number | null;
}

/** Starts `evolve ARGS --out out` and sends `signal` as soon as the run has reached `at`. */
function runAndSignal(out: string, at: Progress, signal: NodeJS.Signals, args = base): Promise<Stopped> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args, '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    let linesAtSignal: number | null = null;
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const poll = setInterval(() => {
      if (!at.reached(out) || child.exitCode !== null || child.signalCode !== null) return;
      clearInterval(poll);
      linesAtSignal = lineCount(path.join(out, 'generations.ndjson'));
      child.kill(signal);
    }, 2);
    child.on('close', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, stderr, linesAtSignal });
    });
  });
}

function runAndWait(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resumes `out` and checks its whole file, and the final model, against the uninterrupted run. */
function resumeAndCompare(out: string, t: { diagnostic: (m: string) => void }): void {
  const r = runCli(['--resume', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const all = readRecords(path.join(out, 'generations.ndjson'));
  assert.deepEqual(all.map(withoutTiming), reference.map(withoutTiming));
  const resumed =
    r.stdout.trim() === ''
      ? []
      : r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
  assert.deepEqual(resumed.map(withoutTiming), reference.slice(5 - resumed.length).map(withoutTiming));
  for (const f of ['weights.bin', 'mask.bin']) {
    assert.ok(
      fs.readFileSync(path.join(out, 'gen-04', f)).equals(fs.readFileSync(path.join(ref, 'gen-04', f))),
      `gen-04/${f}`,
    );
  }
  assert.equal(fs.existsSync(path.join(out, '.evolve.lock')), false);
  t.diagnostic(
    `resumed ${resumed.length} generation(s); ${r.stderr
      .split('\n')
      .filter((l) => /stale|torn|resuming/.test(l))
      .join(' | ')}`,
  );
}

// kill -9 at points chosen by what the run has done: one drawn at random (config.json written, the
// ancestor's first checkpoint, 3 records), then right after the ancestor and after generation 1.
const randomPoint = [configWritten, ancestorCheckpoint, recordsWritten(3, 'after generation 2')][
  Math.floor(Math.random() * 3)
];
const trials: [string, Progress][] = [
  ['random', randomPoint],
  ['ancestor', recordsWritten(1, 'after the ancestor')],
  ['gen1', recordsWritten(2, 'after generation 1')],
];
for (const [name, at] of trials) {
  const when = name === 'random' ? 'at a random point of the run' : at.name;
  test(`SIGKILL ${when}, then --resume: the records of an uninterrupted run`, async (t) => {
    const out = path.join(root, `kill-${name}`);
    const s = await runAndSignal(out, at, 'SIGKILL');
    assert.equal(s.signal, 'SIGKILL', `the run ended before the kill (${s.stderr})`);
    assert.ok(fs.existsSync(path.join(out, 'config.json')), 'the kill landed after config.json was written');
    const complete = lineCount(path.join(out, 'generations.ndjson'));
    t.diagnostic(`killed ${at.name}: ${s.linesAtSignal} line(s) at the kill, ${complete} complete`);
    resumeAndCompare(out, t);
  });
}

/** What a start-up writes before config.json (src/run/runFolder.ts): the lock and temporary names. */
const startupFile = /^(\.evolve\.lock(\.takeover|\.\d+\.tmp)?|\.config\.json\.\d+\.tmp)$/;

test(
  'SIGKILL during start-up (folder made, no config.json yet): --resume says so in one line (exit 2); the same ' +
    'command started again takes the folder over and gives the records of an uninterrupted run',
  async (t) => {
    // The kill is sent as soon as the folder holds its lock; the start-up then still loads the backend and
    // the data. Should a kill land after config.json all the same, that try is a resume case: retry.
    let out = '';
    for (let attempt = 0; ; attempt++) {
      out = path.join(root, `startup-${attempt}`);
      const s = await runAndSignal(out, folderHeld, 'SIGKILL');
      assert.equal(s.signal, 'SIGKILL', `the run ended before the kill (${s.stderr})`);
      if (!fs.existsSync(path.join(out, 'config.json'))) break;
      assert.ok(attempt < 4, 'five kills in a row landed after config.json was written');
    }
    const left = fs.readdirSync(out);
    assert.ok(left.includes('.evolve.lock') && left.every((f) => startupFile.test(f)), left.join(' '));
    const holder = JSON.parse(fs.readFileSync(path.join(out, '.evolve.lock'), 'utf8'));
    assert.deepEqual(
      Object.keys(holder).sort(),
      ['boot', 'command', 'host', 'pid', 'pidNamespace', 'started', 'startTicks'].sort(),
    );
    assert.equal(holder.host, os.hostname());
    const r = runCli(['--resume', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /a half-made run folder \(its start-up was killed before config\.json was written\)/);
    assert.match(r.stderr, /start it again with: evolve .*--out \S+ \(it takes the folder over\), or delete /);
    assert.deepEqual(fs.readdirSync(out), left, '--resume changes nothing');
    const again = runCli([...base, '--json', '--out', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      readRecords(path.join(out, 'generations.ndjson')).map(withoutTiming),
      reference.map(withoutTiming),
    );
    assert.match(again.stderr, /taking over a stale lock from evolve pid \d+ on host .*, which is no longer running/);
    assert.match(again.stderr, /a half-made run folder .*; starting the run afresh in it/);
    assert.deepEqual(
      fs.readdirSync(out).filter((f) => f.startsWith('.')),
      [],
    );
    t.diagnostic(`killed with ${left.join(', ')} in the folder`);
  },
);

test('two runs started on one folder at once: one goes on, the other is refused in one line, exit 2', async () => {
  const out = path.join(root, 'two-starts');
  const cheap = ['--arch', 'lenet300', '--generations', '0', '--train-limit', '500', '--test-limit', '200'];
  const first = runAndWait([...cheap, '--ancestor-epochs', '1', '--seed', '1', '--out', out]);
  // The second starts once the first holds the folder, while it loads its data (config.json not yet written).
  while (!fs.existsSync(path.join(out, '.evolve.lock'))) await new Promise((resolve) => setTimeout(resolve, 2));
  const second = await runAndWait([...cheap, '--ancestor-epochs', '1', '--seed', '2', '--out', out]);
  const won = await first;
  assert.equal(won.code, 0, won.stderr);
  assert.equal(second.code, 2, second.stderr);
  assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
  assert.match(second.stderr, /^evolve: (.*: in use by evolve pid \d+.*; choose another --out|--out .*: holds a run)/);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.options.seed, 1);
  assert.equal(readRecords(path.join(out, 'generations.ndjson')).length, 1);
});

test(
  'SIGINT mid-run: exit 130, the resume command on stderr, no partial generation; --resume completes ' + 'it',
  async (t) => {
    const out = path.join(root, 'sigint');
    const s = await runAndSignal(out, recordsWritten(2, 'after generation 1'), 'SIGINT');
    assert.equal(s.code, 130, s.stderr);
    const m = s.stderr.match(
      /evolve: interrupted; the run folder holds generations 0\.\.(\d+); resume with: evolve --resume (.*)\n/,
    );
    assert.ok(m, s.stderr);
    assert.equal(m[2], out);
    const g = Number(m[1]);
    const records = readRecords(path.join(out, 'generations.ndjson'));
    assert.equal(records.length, g + 1);
    assert.deepEqual(records.map(withoutTiming), reference.slice(0, g + 1).map(withoutTiming));
    // Only finished generations are on disk, and the lock is gone.
    assert.deepEqual(
      fs
        .readdirSync(out)
        .filter((f) => f.startsWith('gen-'))
        .sort(),
      Array.from({ length: g + 1 }, (_, i) => `gen-0${i}`),
    );
    assert.equal(fs.existsSync(path.join(out, '.evolve.lock')), false);
    t.diagnostic(`interrupted with generations 0..${g} on disk`);
    resumeAndCompare(out, t);
  },
);

test('a torn last line is cut off, said on stderr, and the run resumes from the line before', (t) => {
  const out = path.join(root, 'torn');
  fs.cpSync(ref, out, { recursive: true });
  const file = path.join(out, 'generations.ndjson');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  fs.writeFileSync(file, `${lines.slice(0, 3).join('\n')}\n${lines[3].slice(0, 50)}`);
  const r = runCli(['--resume', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /generations\.ndjson: cut off a torn last line \(50 bytes with no newline\)/);
  assert.match(r.stderr, /resuming after generation 2/);
  assert.deepEqual(readRecords(file).map(withoutTiming), reference.map(withoutTiming));
  assert.deepEqual(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => withoutTiming(JSON.parse(l))),
    reference.slice(3).map(withoutTiming),
  );
  void t;
});

test('resuming a finished run says so and exits 0; the same options may be repeated', () => {
  const before = fs.readFileSync(path.join(ref, 'generations.ndjson'));
  for (const extra of [[], ['--seed', '7', '--epochs', '1', '--json'], ['--out', ref]]) {
    const r = runCli(['--resume', ref, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already finished \(generations 0\.\.4 of 4\); nothing to do/);
    assert.equal(r.stdout, '');
  }
  assert.ok(fs.readFileSync(path.join(ref, 'generations.ndjson')).equals(before));
});

test('resuming with an option that differs from the run is refused, naming it; nothing changes', () => {
  const listing = fs.readdirSync(ref).sort();
  const before = fs.readFileSync(path.join(ref, 'generations.ndjson'));
  const r = runCli(['--resume', ref, '--seed', '8', '--epochs', '1']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--seed 8 \(the run has 7\) differs from the run's options/);
  assert.doesNotMatch(r.stderr, /--epochs/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.deepEqual(fs.readdirSync(ref).sort(), listing);
  assert.ok(fs.readFileSync(path.join(ref, 'generations.ndjson')).equals(before));
  const n = runCli(['--resume', path.join(root, 'no-such-run')]);
  assert.equal(n.code, 2, 'a missing run folder is bad usage, as for export');
  assert.match(n.stderr, /no such run folder/);
});

test('a live lock refuses the run (exit 1); a stale one is taken over', () => {
  const lock = path.join(ref, '.evolve.lock');
  fs.writeFileSync(lock, `${process.pid}\n`);
  const r = runCli(['--resume', ref]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim(), `evolve: ${ref}: in use by evolve pid ${process.pid}`);
  assert.equal(fs.readFileSync(lock, 'utf8'), `${process.pid}\n`, 'a live lock is left alone');
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  fs.writeFileSync(lock, `${gone}\n`);
  const s = runCli(['--resume', ref]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, new RegExp(`taking over a stale lock from pid ${gone}, which is no longer running`));
  assert.equal(fs.existsSync(lock), false);
});

/** This process as a lock names it, with `change` applied: a lock as another host or namespace would write it. */
function lockOf(change: Record<string, unknown>): string {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const me = {
    pid: process.pid,
    host: os.hostname(),
    boot: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    pidNamespace: fs.readlinkSync('/proc/self/ns/pid'),
    startTicks: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]),
    started: new Date().toISOString(),
    command: ['evolve', '--out', 'elsewhere'],
  };
  return `${JSON.stringify({ ...me, ...change })}\n`;
}

test(
  'a lock from another host or pid namespace is not taken over while its heartbeat is fresh, and is once it is ' +
    '10 min old; a reused pid is stale',
  (t) => {
    if (!fs.existsSync('/proc/self/ns/pid')) {
      t.skip('no /proc here');
      return;
    }
    const lock = path.join(ref, '.evolve.lock');
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['another host', { pid: gone, host: 'node-b', boot: 'another-boot' }, /on host node-b \(started .*; last/],
      ['a container', { pid: gone, pidNamespace: 'pid:[1]' }, /, another pid namespace \(started/],
    ];
    for (const [name, change, message] of cases) {
      const text = lockOf(change);
      fs.writeFileSync(lock, text);
      const r = runCli(['--resume', ref]);
      assert.equal(r.code, 1, `${name}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^evolve: ${ref}: in use by evolve pid ${gone} `));
      assert.match(r.stderr, message, name);
      assert.match(r.stderr, /last heartbeat \d+ s ago\)\n$/, name);
      assert.equal(fs.readFileSync(lock, 'utf8'), text, `${name}: a live lock is left alone`);
      const old = (Date.now() - 11 * 60_000) / 1000;
      fs.utimesSync(lock, old, old);
      const s = runCli(['--resume', ref]);
      assert.equal(s.code, 0, `${name}: ${s.stderr}`);
      assert.match(
        s.stderr,
        new RegExp(`taking over a stale lock from evolve pid ${gone} on host .*, whose last heartbeat was 11 min ago`),
      );
      assert.equal(fs.existsSync(lock), false);
    }
    // This host and namespace, a live pid with another start time: the pid was reused.
    fs.writeFileSync(lock, lockOf({ startTicks: 1 }));
    const r = runCli(['--resume', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`taking over a stale lock from evolve pid ${process.pid} on host .*, which is no longer running`),
    );
  },
);

// Epoch checkpoints: a run killed inside a long generation continues from its last finished epoch.
function describe(c: TrainingCheckpoint): string {
  return c.offspring === null
    ? `the ancestor after epoch ${c.epochsDone} of ${c.epochs}`
    : `generation ${c.generation}, offspring ${c.offspring} after epoch ${c.epochsDone} of ${c.epochs}`;
}

/** --resume `out`; its records and last generation's files must equal the uninterrupted run `refDir`'s. */
function resumeMatches(out: string, refDir: string, last: string): CliResult {
  const r = runCli(['--resume', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    readRecords(path.join(out, 'generations.ndjson')).map(withoutTiming),
    readRecords(path.join(refDir, 'generations.ndjson')).map(withoutTiming),
  );
  for (const f of ['weights.bin', 'mask.bin']) {
    assert.ok(
      fs.readFileSync(path.join(out, last, f)).equals(fs.readFileSync(path.join(refDir, last, f))),
      `${last}/${f}`,
    );
  }
  assert.equal(fs.existsSync(path.join(out, 'work')), false, 'the checkpoint is removed with the last record');
  return r;
}

const epochs = [
  '--arch',
  'lenet300',
  '--generations',
  '1',
  '--epochs',
  '3',
  '--ancestor-epochs',
  '3',
  '--offspring',
  '2',
  '--train-limit',
  '1200',
  '--test-limit',
  '300',
  '--seed',
  '3',
  // One training at a time: with two at once, offspring 1 saves its epochs only after offspring 0 is finished.
  '--workers',
  '1',
];

test(
  'SIGKILL inside the ancestor and inside generation 1 (offspring 1), a checkpoint between offspring, a corrupt ' +
    'one: --resume gives the same records and weights',
  async (t) => {
    const epochRef = path.join(root, 'epoch-ref');
    const r = runCli([...epochs, '--out', epochRef]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(path.join(epochRef, 'work')), false);

    const cases: [string, (c: TrainingCheckpoint) => boolean][] = [
      ['ancestor', (c) => c.generation === 0 && c.epochsDone >= 1],
      ['gen1', (c) => c.generation === 1 && c.offspring === 1 && c.epochsDone >= 1],
    ];
    for (const [name, when] of cases) {
      const out = path.join(root, `epoch-${name}`);
      const k = await killAtCheckpoint(epochs, out, when);
      assert.equal(k.signal, 'SIGKILL', `the run ended before the kill (${k.stderr})`);
      assert.ok(k.checkpoint, 'a checkpoint is on disk after the kill');
      if (name === 'gen1') {
        // Offspring 0 is not trained again: the checkpoint carries its result and network.
        assert.equal(k.checkpoint.candidates.length, 1);
        assert.ok(k.checkpoint.best);
        for (const copy of ['epoch-corrupt', 'epoch-between'])
          fs.cpSync(out, path.join(root, copy), { recursive: true });
      }
      const resumed = resumeMatches(out, epochRef, 'gen-01');
      assert.match(resumed.stderr, new RegExp(`continuing from the checkpoint: ${describe(k.checkpoint)}\n`));
      t.diagnostic(`${name}: killed with a checkpoint of ${describe(k.checkpoint)}`);
    }

    // The checkpoint written between offspring 0 and 1 (none of offspring 1's epochs done): offspring 1 from its start.
    const between = path.join(root, 'epoch-between');
    const cp = readCheckpointFile(between)!;
    fs.writeFileSync(
      path.join(between, 'work', 'gen-01', 'checkpoint.bin'),
      encodeCheckpoint({ ...cp, epochsDone: 0, start: '', network: null, optimizer: null, loss: null }),
    );
    assert.match(
      resumeMatches(between, epochRef, 'gen-01').stderr,
      /continuing from the checkpoint: generation 1 after offspring 0\n/,
    );

    // The same folder with a flipped byte in its checkpoint: one warning, and generation 1 from its start.
    const corrupt = path.join(root, 'epoch-corrupt');
    const file = path.join(corrupt, 'work', 'gen-01', 'checkpoint.bin');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x10;
    fs.writeFileSync(file, bytes);
    const c = resumeMatches(corrupt, epochRef, 'gen-01');
    const warnings = c.stderr.split('\n').filter((l) => l.includes('checkpoint'));
    assert.deepEqual(warnings, [
      `evolve: ${file}: corrupt (checksum mismatch); ignored; generation 1 restarts from its start`,
    ]);
  },
);

test(
  'JavaScript kernels, --workers 2 (LeNet-5): SIGKILL after an ancestor epoch, --resume restores the optimizer ' +
    'state; same record and weights',
  async (t) => {
    // The path of hosts where the native kernels did not build: one thread, whatever --workers says.
    process.env.EVOLVE_NATIVE = '0';
    t.after(() => {
      delete process.env.EVOLVE_NATIVE;
    });
    const args = [
      '--arch',
      'lenet5',
      '--generations',
      '0',
      '--ancestor-epochs',
      '3',
      '--train-limit',
      '400',
      '--test-limit',
      '100',
      '--workers',
      '2',
      '--seed',
      '5',
    ];
    const lenetRef = path.join(root, 'lenet5-ref');
    const r = runCli([...args, '--out', lenetRef]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /JavaScript kernels \(EVOLVE_NATIVE=0\)\), 2 training threads/);
    const out = path.join(root, 'lenet5-kill');
    const k = await killAtCheckpoint(args, out, (c) => c.epochsDone >= 1);
    assert.equal(k.signal, 'SIGKILL', `the run ended before the kill (${k.stderr})`);
    assert.ok(k.checkpoint);
    assert.equal(k.checkpoint.optimizer?.optimizer, 'momentum');
    const resumed = resumeMatches(out, lenetRef, 'gen-00');
    assert.match(resumed.stderr, new RegExp(`continuing from the checkpoint: ${describe(k.checkpoint)}\n`));
    t.diagnostic(`killed with a checkpoint of ${describe(k.checkpoint)}`);
  },
);
