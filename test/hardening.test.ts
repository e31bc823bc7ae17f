// Hardening on the real CLI: lock races, links planted in a run folder, broken pipes, tampered
// config values, masks and weights, records without their folders, terminal signals, and the
// messages for odd --out values. Every case: one line, the documented exit code, nothing written
// outside the run folder, no lock left behind.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CliResult, bin, readRecords, runCli, tempDir, withoutTiming } from './helpers';
import { defaultMnistDir } from '../src/data/mnist';

const base = [
  '--arch',
  'lenet300',
  '--train-limit',
  '2000',
  '--test-limit',
  '500',
  '--epochs',
  '1',
  '--ancestor-epochs',
  '1',
  '--workers',
  '1',
];
const stackTrace = /\n\s+at \S+/;
let root = '';
let finished = '';
let reference: Record<string, unknown>[] = [];

before(() => {
  root = tempDir('evolve-hardening-');
  finished = path.join(root, 'finished');
  const r = runCli([...base, '--generations', '2', '--json', '--out', finished]);
  assert.equal(r.code, 0, r.stderr);
  reference = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(reference.length, 3);
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A copy of the finished run. */
function copy(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(finished, dir, { recursive: true });
  return dir;
}

/** A copy of the finished run as an interrupted one would be: generations 0..1 on disk. */
function interrupted(name: string): string {
  const dir = copy(name);
  const file = path.join(dir, 'generations.ndjson');
  fs.writeFileSync(file, `${fs.readFileSync(file, 'utf8').split('\n').slice(0, 2).join('\n')}\n`);
  fs.rmSync(path.join(dir, 'gen-02'), { recursive: true });
  return dir;
}

/** The single line on stderr; fails when there are more. */
function oneLine(r: CliResult): string {
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^evolve: /);
  assert.doesNotMatch(r.stderr, stackTrace);
  return lines[0];
}

function noLock(dir: string): void {
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith('.evolve.lock')),
    [],
    `${dir}: a lock was left behind`,
  );
}

/** Every file below `dir` with its bytes, to see that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort()) {
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

/** --resume `dir` must give the uninterrupted run's records, and its gen-02 weights and mask. */
function resumesToReference(dir: string): CliResult {
  const r = runCli(['--resume', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readRecords(path.join(dir, 'generations.ndjson')).map(withoutTiming), reference.map(withoutTiming));
  for (const f of ['weights.bin', 'mask.bin']) {
    assert.ok(
      fs.readFileSync(path.join(dir, 'gen-02', f)).equals(fs.readFileSync(path.join(finished, 'gen-02', f))),
      `gen-02/${f}`,
    );
  }
  noLock(dir);
  return r;
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function spawnEnded(command: string, args: string[], cwd = process.cwd()): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `evolve ARGS` for each of `runs`, 4 at a time (each in its own folder), in `root`: their results in order. */
async function cliAll(runs: string[][]): Promise<CliResult[]> {
  const results: CliResult[] = [];
  for (let i = 0; i < runs.length; i += 4) {
    const ends = await Promise.all(
      runs.slice(i, i + 4).map((args) => spawnEnded(process.execPath, [bin, ...args], root)),
    );
    results.push(...ends.map((e) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr })));
  }
  return results;
}

const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

// (1) Several processes find the same stale lock: exactly one takes it over. Each contender runs
// every trial, one folder each. The test steps them through the trials over their stdin: all are
// released at once ("go"), report what they got, and the holder lets go only once every other
// contender has reported, so each trial's outcome depends on no process's speed.
const lockScript = `
const fs = require('node:fs');
const { RunLock } = require(${JSON.stringify(path.resolve(__dirname, '..', 'src', 'run', 'lock.js'))});
let pending = '';
function readLine() {
  const buf = Buffer.alloc(64);
  while (!pending.includes('\\n')) {
    let n = 0;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      continue;
    }
    if (n === 0) process.exit(3);
    pending += buf.toString('utf8', 0, n);
  }
  const line = pending.slice(0, pending.indexOf('\\n'));
  pending = pending.slice(line.length + 1);
  return line;
}
for (const dir of JSON.parse(process.argv[1])) {
  readLine(); // go
  let line = '';
  let lock;
  try {
    lock = RunLock.acquire(dir, { onStale: () => { line += 'stale '; } });
    line += 'took';
  } catch (e) {
    line += 'refused: ' + e.message;
  }
  fs.writeSync(1, line + '\\n');
  if (lock) {
    readLine(); // release
    lock.release();
    fs.writeSync(1, 'released\\n');
  }
}`;

/** A child process that answers one line per line it is sent. */
function contender(dirs: string[]): { send: (line: string) => void; next: () => Promise<string>; end: Promise<Ended> } {
  const child = spawn(process.execPath, ['-e', lockScript, JSON.stringify(dirs)], { stdio: 'pipe' });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let buffered = '';
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    buffered += d;
    for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const end = new Promise<Ended>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    send: (line) => child.stdin.write(`${line}\n`),
    next: () =>
      lines.length > 0
        ? Promise.resolve(lines.shift()!)
        : new Promise((resolve, reject) => {
            waiting.push(resolve);
            void end.then((e) => reject(new Error(`the contender ended: ${e.stderr}`)));
          }),
    end,
  };
}

test('a stale lock found by 5 processes released at once: exactly one takes it over (12 trials)', async (t) => {
  const trials = 12;
  const dead = deadPid();
  const dirs = Array.from({ length: trials }, (_, i) => {
    const dir = path.join(root, `lock-race-${i}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '.evolve.lock'), `${dead}\n`);
    return dir;
  });
  const contenders = Array.from({ length: 5 }, () => contender(dirs));
  let stale = 0;
  for (const [trial, dir] of dirs.entries()) {
    for (const c of contenders) c.send('go');
    const outs = await Promise.all(contenders.map((c) => c.next()));
    const what = `trial ${trial}: ${outs.join(' | ')}`;
    // The holder keeps the lock until all have answered: the four others find it held.
    assert.equal(outs.filter((o) => o === 'stale took').length, 1, what);
    for (const o of outs) assert.match(o, /^stale took$|^refused: .*: in use by evolve pid \d+ on host /, what);
    const holder = contenders[outs.indexOf('stale took')];
    holder.send('release');
    assert.equal(await holder.next(), 'released');
    noLock(dir);
    stale += outs.filter((o) => o.includes('stale')).length;
  }
  const ends = await Promise.all(contenders.map((c) => c.end));
  assert.deepEqual(
    ends.map((e) => [e.code, e.stderr]),
    Array.from({ length: 5 }, () => [0, '']),
  );
  t.diagnostic(`${trials} trials of 5 processes: one takeover each (${stale} in all), the other 4 refused`);
});

test(
  'evolve --resume x4 at once on a run with a stale lock: one takeover, the others "in use" or after it; records ' +
    'unchanged (2 trials)',
  async () => {
    const dir = copy('lock-cli');
    const records = fs.readFileSync(path.join(dir, 'generations.ndjson'));
    for (let trial = 0; trial < 2; trial++) {
      fs.writeFileSync(path.join(dir, '.evolve.lock'), `${deadPid()}\n`);
      const ends = await Promise.all(
        Array.from({ length: 4 }, () => spawnEnded(process.execPath, [bin, '--resume', dir])),
      );
      const all = ends.map((e) => e.stderr).join('');
      assert.equal(all.match(/taking over a stale lock/g)?.length, 1, `trial ${trial}:\n${all}`);
      for (const e of ends) {
        if (e.code === 1) assert.match(e.stderr, /^evolve: .*: in use by evolve pid \d+ on host .*\)\n$/);
        else assert.equal(e.code, 0, e.stderr);
      }
      noLock(dir);
      assert.ok(fs.readFileSync(path.join(dir, 'generations.ndjson')).equals(records));
    }
  },
);

// (2) Links planted inside a run folder are refused, naming the link; nothing outside is touched.
test(
  'a symbolic link anywhere evolve reads or writes is refused (exit 1), naming it; the target is ' + 'untouched',
  async () => {
    const outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    const cases: [string, (run: string) => void][] = [
      [
        'gen-02',
        (run) => {
          fs.mkdirSync(path.join(outside, 'V'));
          fs.symlinkSync(path.join(outside, 'V'), path.join(run, 'gen-02'));
        },
      ],
      ['generations.ndjson', (run) => moveOut(run, 'generations.ndjson', outside)],
      ['config.json', (run) => moveOut(run, 'config.json', outside)],
      ['gen-01/mask.bin', (run) => moveOut(run, 'gen-01/mask.bin', outside)],
      [
        'work',
        (run) => {
          fs.writeFileSync(path.join(outside, 'cp'), 'mine');
          fs.symlinkSync(path.join(outside, 'cp'), path.join(run, 'work'));
        },
      ],
      [
        '.evolve.lock',
        (run) => {
          fs.writeFileSync(path.join(outside, 'pid'), `${deadPid()}\n`);
          fs.symlinkSync(path.join(outside, 'pid'), path.join(run, '.evolve.lock'));
        },
      ],
    ];
    const runs = cases.map(([, plant], i) => {
      const run = interrupted(`link-${i}`);
      plant(run);
      return run;
    });
    const before = snapshot(outside);
    const results = await cliAll(runs.map((run) => ['--resume', run]));
    cases.forEach(([name], i) => {
      const run = runs[i];
      const r = results[i];
      assert.equal(r.code, 1, `${name}: ${r.stderr}`);
      assert.equal(
        oneLine(r),
        `evolve: ${path.join(run, name)}: a symbolic link (to ${fs.readlinkSync(path.join(run, name))}); ` +
          'evolve reads and writes only plain files inside its run folder',
      );
      assert.deepEqual(snapshot(outside), before, `${name}: written through`);
      if (name !== '.evolve.lock') noLock(run);
      if (name === 'gen-01/mask.bin') {
        const e = runCli(['export', run, '--generation', '1', '--out', path.join(root, `link-export-${i}`)]);
        assert.equal(e.code, 1, e.stderr);
        assert.match(oneLine(e), /gen-01\/mask\.bin: a symbolic link/);
        assert.equal(fs.existsSync(path.join(root, `link-export-${i}`)), false);
      }
    });
    // With the link gone, the folder resumes to the records of an uninterrupted run.
    const run = path.join(root, 'link-0');
    fs.unlinkSync(path.join(run, 'gen-02'));
    resumesToReference(run);
  },
);

function moveOut(run: string, name: string, outside: string): void {
  const target = path.join(outside, name.replace('/', '-'));
  fs.renameSync(path.join(run, name), target);
  fs.symlinkSync(target, path.join(run, name));
}

test('a generations.ndjson with another hard link is refused (appending would change both)', () => {
  const run = interrupted('hardlink');
  const other = path.join(root, 'hardlink-records');
  fs.linkSync(path.join(run, 'generations.ndjson'), other);
  const before = fs.readFileSync(other);
  const r = runCli(['--resume', run]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(oneLine(r), /generations\.ndjson: has 1 other hard link\(s\)/);
  assert.ok(fs.readFileSync(other).equals(before));
  noLock(run);
});

// (3) and (4): closed pipes.
test('a closed stderr pipe does not crash: the run goes on silently to its end, exit 0, no lock', () => {
  const run = path.join(root, 'stderr-closed');
  const rc = path.join(root, 'stderr-closed.rc');
  const args = [...base, '--generations', '2', '--out', run].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('sh', ['-c', `('${process.execPath}' '${bin}' ${args} 2>&1; echo $? > '${rc}') | head -1`], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^evolve: backend /);
  // The subshell writes rc once evolve ends, after head has gone: wait for it.
  for (let i = 0; i < 600 && !fs.existsSync(rc); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  assert.equal(fs.readFileSync(rc, 'utf8').trim(), '0');
  assert.deepEqual(readRecords(path.join(run, 'generations.ndjson')).map(withoutTiming), reference.map(withoutTiming));
  noLock(run);
});

test(
  '--json | head -1: the run stops after the record it could not write, exit 141, no lock; --resume completes ' + 'it',
  () => {
    const run = path.join(root, 'stdout-closed');
    const rc = path.join(root, 'stdout-closed.rc');
    const args = [...base, '--generations', '2', '--json', '--out', run].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('sh', ['-c', `('${process.execPath}' '${bin}' ${args}; echo $? > '${rc}') | head -1`], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(withoutTiming(JSON.parse(r.stdout)), withoutTiming(reference[0]));
    for (let i = 0; i < 600 && !fs.existsSync(rc); i++)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    assert.equal(fs.readFileSync(rc, 'utf8').trim(), '141', r.stderr);
    assert.match(
      r.stderr,
      /evolve: stdout was closed; the run folder holds generations 0\.\.1; resume with: evolve --resume /,
    );
    noLock(run);
    resumesToReference(run);
  },
);

// (5) config.json values go through the command line's checks.
test(
  "edited config.json values are refused on --resume with the command line's checks: one line naming the field, " +
    'exit 2',
  async () => {
    const edits: [Record<string, unknown>, RegExp][] = [
      [{ arch: 'vgg' }, /options\.arch "vgg": expected one of lenet5, lenet300/],
      [{ batchSize: 0 }, /options\.batchSize 0: expected an integer from 1 to 100000/],
      [{ lr: 'abc' }, /options\.lr "abc": expected a number in \(0, 10\]/],
      [{ optimizer: null }, /options\.optimizer null: expected one of /],
      [{ trainLimit: -5 }, /options\.trainLimit -5: expected an integer from 1 to/],
      [{ tau: 5 }, /options\.tau 5: expected a number in \[0, 1\)/],
      [{ workers: 1000 }, /options\.workers 1000: expected an integer from 1 to 64/],
      [{ generations: 1000000 }, /options\.generations 1000000: expected an integer from 0 to 1000/],
      [{ generations: -1 }, /options\.generations -1: expected an integer from 0 to 1000/],
      [{ json: 'yes' }, /options\.json "yes": expected true or false/],
      [{ targetEfficiency: 10 }, /config\.json: --env-factor and --target-efficiency: give one or the other/],
    ];
    const runs = edits.map(([edit], i) => {
      const run = interrupted(`config-${i}`);
      const file = path.join(run, 'config.json');
      const config = JSON.parse(fs.readFileSync(file, 'utf8'));
      Object.assign(config.options, edit, edit.targetEfficiency ? { envFactor: 0.5 } : {});
      fs.writeFileSync(file, JSON.stringify(config));
      return run;
    });
    const before = runs.map(snapshot);
    const results = await cliAll(runs.map((run) => ['--resume', run]));
    edits.forEach(([edit, message], i) => {
      const r = results[i];
      assert.equal(r.code, 2, `${JSON.stringify(edit)}: ${r.stderr}`);
      const line = oneLine(r);
      assert.ok(line.startsWith(`evolve: ${path.join(runs[i], 'config.json')}: `), line);
      assert.match(line, message);
      assert.deepEqual(snapshot(runs[i]), before[i], `${JSON.stringify(edit)} changed the folder`);
    });
  },
);

// (6) What is read back is checked against the records and the data.
test('masks with other bytes or counts than the records, NaN weights: --resume and export refuse them (exit 1)', () => {
  const cases: [string, (gen1: string) => void, RegExp][] = [
    [
      'a mask byte 2',
      (g) =>
        patch(path.join(g, 'mask.bin'), (b) => {
          b[b.indexOf(1)] = 2;
        }),
      /gen-01\/mask\.bin: byte \d+ is 2; a mask holds only 0 \(dead\) and 1 \(live\)/,
    ],
    [
      'a mask of all ones',
      (g) => patch(path.join(g, 'mask.bin'), (b) => b.fill(1)),
      /gen-01\/mask\.bin: layer fc1 has 235200 live synapses, the record of generation 1 says \d+/,
    ],
    [
      'a NaN weight',
      (g) => patch(path.join(g, 'weights.bin'), (b) => b.writeFloatLE(NaN, 400)),
      /gen-01\/weights\.bin: value 100 is NaN; weights must be finite numbers/,
    ],
  ];
  cases.forEach(([name, tamper, message], i) => {
    const run = interrupted(`readback-${i}`);
    tamper(path.join(run, 'gen-01'));
    const before = snapshot(run);
    const r = runCli(['--resume', run]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(oneLine(r), message, name);
    assert.deepEqual(snapshot(run), before, `${name}: the folder changed`);
    const out = path.join(root, `readback-export-${i}`);
    const e = runCli(['export', run, '--generation', '1', '--out', out]);
    assert.equal(e.code, 1, `${name}: ${e.stderr}`);
    assert.match(oneLine(e), message, name);
    assert.equal(fs.existsSync(out), false);
  });
});

function patch(file: string, change: (b: Buffer) => void): void {
  const b = fs.readFileSync(file);
  change(b);
  fs.writeFileSync(file, b);
}

test("resuming with other data (another EVOLVE_MNIST_DIR) is refused, exit 2; with the run's data it completes", () => {
  const data = path.join(root, 'other-mnist');
  fs.mkdirSync(data);
  const src = defaultMnistDir();
  for (const f of fs.readdirSync(src)) fs.symlinkSync(path.join(src, f), path.join(data, f));
  // One pixel of the first test image: the test split of every run differs.
  fs.rmSync(path.join(data, 't10k-images-idx3-ubyte'));
  const images = fs.readFileSync(path.join(src, 't10k-images-idx3-ubyte'));
  images[16 + 300] ^= 0xff;
  fs.writeFileSync(path.join(data, 't10k-images-idx3-ubyte'), images);
  const run = interrupted('data');
  const before = snapshot(run);
  const r = spawnSync(process.execPath, [bin, '--resume', run], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', EVOLVE_MNIST_DIR: data },
  });
  assert.equal(r.status, 2, r.stderr);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(
    last,
    new RegExp(
      String.raw`config\.json: the data differ from the run's \(train\/validation\/test: ` +
        String.raw`2000\/182\/500 samples, sha256 \w+ now, ` +
        String.raw`2000\/182\/500 samples, sha256 \w+ in the run\)`,
    ),
  );
  assert.deepEqual(snapshot(run), before);
  resumesToReference(run);
});

// (7) A record whose folder is gone is not finished.
test(
  'a record without its gen folder: export does not offer it; --resume says so, writes it again and ends as an ' +
    'uninterrupted run',
  () => {
    const run = copy('no-folder');
    fs.rmSync(path.join(run, 'gen-02'), { recursive: true });
    const out = path.join(root, 'no-folder-export');
    const e = runCli(['export', run, '--generation', '2', '--out', out]);
    assert.equal(e.code, 2, e.stderr);
    assert.match(oneLine(e), /--generation 2: .* has no generation 2 \(available: 0, 1\)/);
    const r = resumesToReference(run);
    assert.match(
      r.stderr,
      /gen-02: missing or incomplete; its record and those after it were cut off, and the run goes on from there/,
    );
    assert.match(r.stderr, /resuming after generation 1/);
    // An incomplete folder (a file deleted) counts as missing too.
    fs.rmSync(path.join(run, 'gen-01', 'mask.json'));
    const f = runCli(['export', run, '--generation', '1', '--out', out]);
    assert.equal(f.code, 2, f.stderr);
    assert.match(oneLine(f), /has no generation 1 \(available: 0, 2\)/);
  },
);

test('temporary files of writes killed mid-way are removed by the next --resume, which completes the run', () => {
  const run = interrupted('temporary');
  // A kill during the save of generation 2, during a checkpoint's and config.json's writes, and while
  // trying for the lock (a contender that is gone).
  const left = [
    'gen-02/.weights.bin.99991.tmp',
    'work/gen-02/.checkpoint.bin.99992.tmp',
    '.config.json.99993.tmp',
    `.evolve.lock.${deadPid()}.tmp`,
  ];
  for (const f of left) {
    fs.mkdirSync(path.dirname(path.join(run, f)), { recursive: true });
    fs.writeFileSync(path.join(run, f), 'partial');
  }
  const r = resumesToReference(run);
  assert.match(r.stderr, /removed 4 temporary file\(s\) of an interrupted write: /);
  const all = (fs.readdirSync(run, { recursive: true }) as string[]).map(String);
  assert.deepEqual(
    all.filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('--resume loads --ancestor from the absolute path in config.json and refuses a changed file (exit 2)', () => {
  const a = path.join(root, 'ancestor-a');
  const b = path.join(root, 'ancestor-b');
  fs.cpSync(path.join(finished, 'gen-00'), a, { recursive: true });
  fs.cpSync(path.join(finished, 'gen-02'), b, { recursive: true }); // another network under the same name
  const run = path.join(root, 'with-ancestor');
  const args = [...base, '--generations', '0', '--ancestor', 'model.json', '--out', run];
  const r = runCli(args, a);
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
  assert.equal(config.ancestor.path, path.join(a, 'model.json'));
  assert.match(config.ancestor.sha256, /^[0-9a-f]{64}$/);
  const records = readRecords(path.join(run, 'generations.ndjson'));
  // Killed before generation 0 was saved; resumed from the folder of another model.json.
  const restart = (): void => {
    fs.rmSync(path.join(run, 'generations.ndjson'));
    fs.rmSync(path.join(run, 'gen-00'), { recursive: true });
  };
  restart();
  const s = runCli(['--resume', run], b);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(readRecords(path.join(run, 'generations.ndjson')).map(withoutTiming), records.map(withoutTiming));
  restart();
  const weights = fs.readFileSync(path.join(a, 'weights.bin'));
  weights[100] ^= 1;
  fs.writeFileSync(path.join(a, 'weights.bin'), weights);
  const c = runCli(['--resume', run], b);
  assert.equal(c.code, 2, c.stderr);
  assert.match(
    oneLine(c),
    /the run's --ancestor .*ancestor-a\/model\.json differs from the one it started from \(sha256/,
  );
  noLock(run);
});

/** `evolve reproduce mnist --quick --seeds 1 --out out`, sent `signal` once its run has written config.json. */
function reproduceSignalled(out: string, signal: NodeJS.Signals): Promise<Ended> {
  return new Promise((resolve) => {
    const args = [bin, 'reproduce', 'mnist', '--quick', '--seeds', '1', '--out', out];
    const child = spawn(process.execPath, args, { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const poll = setInterval(() => {
      if (!fs.existsSync(path.join(out, 'mnist', 'seed-1', 'config.json'))) return;
      clearInterval(poll);
      child.kill(signal);
    }, 5);
    // 'close' comes once every holder of the stderr pipe has ended: the run's evolve too.
    child.on('close', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, stdout, stderr });
    });
  });
}

test('reproduce killed (SIGKILL) leaves nothing running: its run stops as on a hangup, no lock', async () => {
  const out = path.join(root, 'reproduce-kill');
  const e = await reproduceSignalled(out, 'SIGKILL');
  assert.equal(e.signal, 'SIGKILL');
  const run = path.join(out, 'mnist', 'seed-1');
  assert.match(e.stderr, new RegExp(`evolve: interrupted \\(SIGHUP\\); .*; resume with: evolve --resume ${run}\n`));
  noLock(run);
});

test('reproduce interrupted (SIGINT): says it stops the current run, which stops once; exit 130, no lock', async () => {
  const out = path.join(root, 'reproduce-int');
  const e = await reproduceSignalled(out, 'SIGINT');
  assert.equal(e.code, 130, e.stderr);
  assert.match(e.stderr, /evolve: reproduce: interrupted; stopping mnist\/seed-1 after its current batch/);
  assert.match(e.stderr, /evolve: interrupted; the run folder holds .*; resume with: evolve --resume /);
  assert.doesNotMatch(e.stderr, /interrupted again/);
  assert.match(e.stderr, /reproduce mnist --quick interrupted; run the same command again to resume\n$/);
  noLock(path.join(out, 'mnist', 'seed-1'));
  // A half-made run folder (a start-up killed before config.json) is started again, not refused.
  const half = path.join(root, 'reproduce-half');
  fs.mkdirSync(path.join(half, 'mnist', 'seed-1'), { recursive: true });
  fs.writeFileSync(path.join(half, 'mnist', 'seed-1', '.evolve.lock'), `${deadPid()}\n`);
  const plan = runCli(['reproduce', 'mnist', '--quick', '--seeds', '1', '--plan', '--out', half]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stderr, /1 to start/);
  assert.match(plan.stdout, /--out \S*reproduce-half\/mnist\/seed-1\n$/);
});

test('reproduce skips a run another process is running, naming it, and does not call it failed', (t) => {
  if (!fs.existsSync('/proc/self/ns/pid')) {
    t.skip('no /proc here');
    return;
  }
  // The lock of a live run: this test process, as a lock names it.
  const run = path.join(root, 'reproduce-busy', 'mnist', 'seed-1');
  fs.mkdirSync(run, { recursive: true });
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const holder = {
    pid: process.pid,
    host: os.hostname(),
    boot: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    pidNamespace: fs.readlinkSync('/proc/self/ns/pid'),
    startTicks: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]),
    started: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(run, '.evolve.lock'), `${JSON.stringify(holder)}\n`);
  const r = runCli(['reproduce', 'mnist', '--quick', '--seeds', '1', '--out', path.join(root, 'reproduce-busy')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`reproduce: mnist/seed-1 is being run by evolve pid ${process.pid} on host .*; skipped`),
  );
  assert.match(
    r.stderr,
    /mnist\/seed-1 still being run by another process; run the same command again once it is done/,
  );
  assert.doesNotMatch(r.stderr, /failed|to resume them/);
});

// (8) Terminal signals stop the run as SIGINT does.
for (const signal of ['SIGHUP', 'SIGQUIT'] as const) {
  test(
    `${signal} after the ancestor: exit 130, the resume command on stderr, no ` +
      `lock${signal === 'SIGHUP' ? '; --resume completes it' : ''}`,
    async () => {
      const run = path.join(root, signal);
      const child = spawn(process.execPath, [bin, ...base, '--generations', '2', '--out', run], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/gen {2}0 /.test(stderr) && child.exitCode === null && !child.killed) child.kill(signal);
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      assert.equal(code, 130, stderr);
      assert.match(
        stderr,
        new RegExp(
          `evolve: interrupted \\(${signal}\\); the run folder holds generations 0\\.\\.[01]; resume with: evolve ` +
            `--resume ${run}\n`,
        ),
      );
      noLock(run);
      if (signal === 'SIGHUP') resumesToReference(run);
    },
  );
}

// (9) Messages.
test(
  'odd --out values, a folder as checkpoint.bin, the largest seed, a missing run folder: one clear line ' + 'each',
  async () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'mine');
    const dangling = path.join(root, 'dangling');
    fs.symlinkSync(path.join(root, 'nowhere'), dangling);
    const cases: [string[], number, RegExp][] = [
      [['--out', ''], 2, /^evolve: --out: an empty folder name; give the folder to write$/],
      [['--out', file], 2, /^evolve: --out .*a-file: exists and is not a folder; choose a new folder$/],
      [['--out', '/dev/null'], 2, /^evolve: --out \/dev\/null: exists and is not a folder; choose a new folder$/],
      [['--out', dangling], 2, /^evolve: --out .*dangling: a symbolic link to .*nowhere, which does not exist$/],
      [
        ['--seed', '9007199254740992'],
        2,
        new RegExp(
          String.raw`^evolve: option '--seed <n>' argument '9007199254740992' is invalid\. ` +
            String.raw`expected an integer from 0 to 9007199254740991$`,
        ),
      ],
      [['--resume', path.join(root, 'no-such-run')], 2, /^evolve: --resume .*no-such-run: no such run folder$/],
      [
        ['export', path.join(root, 'no-such-run'), '--generation', '0', '--out', path.join(root, 'x')],
        2,
        /^evolve: .*no-such-run: no such run folder$/,
      ],
    ];
    const results = await cliAll(
      cases.map(([args]) =>
        args[0] === 'export' || args[0] === '--resume' ? args : [...base, '--generations', '0', ...args],
      ),
    );
    cases.forEach(([args, code, message], i) => {
      assert.equal(results[i].code, code, `${args.join(' ')}: ${results[i].stderr}`);
      assert.match(oneLine(results[i]), message);
    });
    assert.equal(fs.readFileSync(file, 'utf8'), 'mine');
    assert.equal(fs.existsSync(path.join(root, 'nowhere')), false);

    const run = interrupted('checkpoint-folder');
    fs.mkdirSync(path.join(run, 'work', 'gen-02', 'checkpoint.bin'), { recursive: true });
    const r = runCli(['--resume', run]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      oneLine(r),
      new RegExp(
        String.raw`checkpoint\.bin: a folder where evolve keeps a file; ` +
          String.raw`evolve reads and writes only plain files inside its run folder$`,
      ),
    );
    noLock(run);
  },
);

test('--out=~/x writes below the home folder, never into a folder named ~', () => {
  const home = path.join(root, 'home');
  fs.mkdirSync(home);
  const r = spawnSync(process.execPath, [bin, ...base, '--generations', '0', '--out=~/tilde'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', HOME: home },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(home, 'tilde', 'config.json')));
  assert.equal(fs.existsSync(path.join(root, '~')), false);
});

test('a generation with no synapses left is printed as such, never "Infinityx"', () => {
  const r = runCli([...base, '--generations', '1', '--env-factor', '0.00001', '--out', path.join(root, 'none-left')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /gen {2}1 {2}synapses 0 \(none left\)/);
  assert.match(r.stderr, /done in .*: no synapses left, /);
  assert.doesNotMatch(r.stderr, /Infinity|NaN/);
});

test('TERM=dumb on a terminal: no colour or cursor codes (a TERM=xterm terminal gets them)', (t) => {
  if (spawnSync('script', ['--version']).status !== 0) {
    t.skip('no script(1) to give evolve a terminal');
    return;
  }
  const onTerminal = (term: string, out: string): string => {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: term };
    delete env.NO_COLOR;
    const command = [process.execPath, bin, ...base, '--generations', '0', '--out', path.join(root, out)]
      .map((a) => `'${a}'`)
      .join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stdout);
    return r.stdout;
  };
  assert.doesNotMatch(onTerminal('dumb', 'dumb'), /\x1b/);
  assert.match(onTerminal('xterm', 'xterm'), /\x1b\[/);
});
