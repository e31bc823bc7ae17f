// `evolve reproduce` through the real CLI: the quick preset runs two real seeds, reports them with
// the paper's numbers, and is idempotent (a finished run is skipped, a cut-short one resumed
// alone); --plan and --slurm print and write the same commands and run nothing.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bin, readRecords, runCli, tempDir, withoutTiming } from './helpers';

const root = tempDir('evolve-reproduce-');
const dir = path.join(root, 'quick');
const seeds = ['--seeds', '1,2'];
let first = { code: 0 as number | null, stdout: '', stderr: '' };

before(() => {
  const t0 = Date.now();
  first = runCli(['reproduce', 'mnist', '--quick', ...seeds, '--out', dir]);
  process.stderr.write(`reproduce.test: the quick reproduction took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

const ndjson = (seed: number) => path.join(dir, 'mnist', `seed-${seed}`, 'generations.ndjson');

test("--quick runs every seed to its last generation and prints the report with the paper's 125.09x", () => {
  assert.equal(first.code, 0, first.stderr);
  for (const seed of [1, 2]) {
    const records = readRecords(ndjson(seed));
    assert.deepEqual(
      records.map((r) => r.generation),
      [0, 1, 2],
    );
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'mnist', `seed-${seed}`, 'config.json'), 'utf8'));
    assert.equal(config.options.seed, seed);
    assert.equal(config.options.arch, 'lenet5');
  }
  assert.match(first.stdout, /### MNIST lenet5, cluster encoding: 2 runs \(seeds 1, 2\)/);
  assert.match(first.stdout, /\| paper \(cluster encoding\), generation 13 \|  \|  \| 125\.09x \|  \| 9\.71x \|/);
  assert.match(first.stdout, /^\| 2 \| 2 \| /m);
  assert.match(first.stderr, /starting mnist\/seed-1 \(1 of 2\)/);
  // The report is also kept beside the runs.
  assert.equal(fs.readFileSync(path.join(dir, 'report.md'), 'utf8'), first.stdout);
  assert.equal(fs.readFileSync(path.join(dir, 'report.png')).subarray(1, 4).toString('ascii'), 'PNG');

  const report = runCli(['report', path.join(dir, 'mnist', 'seed-1'), path.join(dir, 'mnist', 'seed-2')]);
  assert.equal(report.code, 0, report.stderr);
  assert.equal(report.stdout, first.stdout, 'evolve report on the folders prints the same table');
  assert.equal(runCli(['report', dir]).stdout, first.stdout, 'and so does evolve report on the reproduce folder');
});

test('--plan prints one shell-quoted evolve command per run still to do, and runs nothing', () => {
  const fresh = path.join(root, 'plan it');
  const r = runCli(['reproduce', 'mnist', '--plan', '--seeds', '4,5', '--out', fresh]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.stdout.trim().split('\n'),
    [4, 5].map(
      (seed) =>
        'evolve --dataset mnist --arch lenet5 --generations 13 --target-efficiency 125.09 --ancestor-epochs 3 ' +
        `--epochs 2 --seed ${seed} --out '${path.join(fresh, 'mnist', `seed-${seed}`)}'`,
    ),
  );
  assert.equal(fs.existsSync(fresh), false, 'nothing written');

  const ablation = runCli(['reproduce', 'mnist', '--plan', '--ablation', '--quick', ...seeds, '--out', dir]);
  assert.equal(ablation.code, 0, ablation.stderr);
  const lines = ablation.stdout.trim().split('\n');
  // The cluster runs are the finished ones above; the two baselines share seeds and budget.
  assert.equal(lines.length, 4, ablation.stdout);
  assert.match(ablation.stderr, /6 runs: 2 finished \(skipped\), 0 to resume, 4 to start/);
  for (const encoding of ['synapse', 'magnitude']) {
    for (const seed of [1, 2]) {
      assert.ok(
        lines.includes(
          `evolve --dataset mnist --arch lenet5 --generations 2 --target-efficiency 4 --ancestor-epochs 2 --epochs 1 ` +
            `--train-limit 1000 --test-limit 500 --seed ${seed} --encoding ${encoding} ` +
            `--out ${path.join(dir, `mnist-${encoding}`, `seed-${seed}`)}`,
        ),
        `${encoding} ${seed}`,
      );
    }
  }
});

test('--tradeoff plans its settings beside the preset; mating settings at the scaled budget; MNIST only', () => {
  const dir = path.join(root, 'tradeoff');
  const r = runCli(['reproduce', 'mnist', '--plan', '--tradeoff', '--quick', '--seeds', '1', '--out', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /reproduce mnist --quick --tradeoff in .*: 9 runs: 0 finished \(skipped\), 0 to resume, 9 to start/,
  );
  const lines = r.stdout.trim().split('\n');
  const quick = '--generations 2 --target-efficiency';
  const rest = '--ancestor-epochs 2 --epochs 1 --train-limit 1000 --test-limit 500 --seed 1';
  // 258.37 / 125.09 of the quick budget 4, to 2 decimals: 8.26.
  assert.ok(
    lines.includes(
      `evolve --dataset mnist --arch lenet5 ${quick} 4 ${rest} --init random --out ${dir}/mnist-random-init/seed-1`,
    ),
  );
  assert.ok(
    lines.includes(
      `evolve --dataset mnist --arch lenet5 ${quick} 8.26 ${rest} --parents 3 --population 3 ` +
        `--out ${dir}/mnist-258x-p3/seed-1`,
    ),
    r.stdout,
  );
  assert.equal(lines.filter((l) => l.includes(' 8.26 ')).length, 7);
  assert.equal(fs.existsSync(dir), false, 'nothing written');
  const other = runCli(['reproduce', 'cifar10', '--plan', '--tradeoff', '--out', dir]);
  assert.equal(other.code, 2);
  assert.equal(other.stderr, "evolve: reproduce cifar10 --tradeoff: the trade-off is MNIST's only\n");
});

test('--slurm writes plan.txt and an sbatch job array over it, and runs nothing', () => {
  const out = path.join(root, 'slurm');
  const plan = runCli(['reproduce', 'cifar10', '--plan', '--out', out]);
  const r = runCli(['reproduce', 'cifar10', '--slurm', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /submit with: sbatch .*reproduce\.sbatch/);
  assert.equal(fs.readFileSync(path.join(out, 'plan.txt'), 'utf8'), plan.stdout);
  assert.match(plan.stdout, /--arch alexnet --generations 6 --target-efficiency 14\.39/);
  const script = fs.readFileSync(path.join(out, 'reproduce.sbatch'), 'utf8');
  assert.match(script, /^#SBATCH --array=0-2$/m);
  assert.match(script, /SLURM_ARRAY_TASK_ID \+ 1/);
  assert.equal(spawnSync('bash', ['-n', path.join(out, 'reproduce.sbatch')]).status, 0, 'valid bash');
  assert.deepEqual(fs.readdirSync(out).sort(), ['plan.txt', 'reproduce.sbatch']);
});

test('run again after one seed lost its last generation: only that run resumes, the other is skipped', () => {
  const keep = fs.readFileSync(ndjson(1), 'utf8');
  const complete = readRecords(ndjson(2));
  const lines = fs
    .readFileSync(ndjson(2), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  fs.writeFileSync(
    ndjson(2),
    lines
      .slice(0, -1)
      .map((l) => `${l}\n`)
      .join(''),
  );
  fs.rmSync(path.join(dir, 'mnist', 'seed-2', 'gen-02'), { recursive: true });

  const plan = runCli(['reproduce', 'mnist', '--quick', ...seeds, '--out', dir, '--plan']);
  assert.equal(plan.stdout, `evolve --resume ${path.join(dir, 'mnist', 'seed-2')}\n`);

  const r = runCli(['reproduce', 'mnist', '--quick', ...seeds, '--out', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 runs: 1 finished \(skipped\), 1 to resume, 0 to start/);
  assert.match(r.stderr, /resuming mnist\/seed-2 \(1 of 1\)/);
  assert.doesNotMatch(r.stderr, /seed-1 \(/);
  assert.equal(fs.readFileSync(ndjson(1), 'utf8'), keep, 'the finished run is untouched');
  const resumed = readRecords(ndjson(2));
  assert.deepEqual(
    resumed.map(withoutTiming),
    complete.map(withoutTiming),
    'the resumed run ends as the uninterrupted one did',
  );
  assert.match(r.stdout, /\| paper \(cluster encoding\), generation 13 \|/);
});

test('an existing run with other options is refused before anything runs', () => {
  // The full preset over the quick folders: resuming them would not reproduce the paper's setting.
  const r = runCli(['reproduce', 'mnist', ...seeds, '--out', dir]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.match(
    lines[lines.length - 1],
    /^evolve: .*seed-1: an existing run with --generations 2 where the preset has 13, .*choose another --out/,
  );
  assert.equal(r.stdout, '');
});

test('a run that fails is named with its exit code, the others still run, and the command exits 1', () => {
  // EVOLVE_MNIST_DIR at a folder without MNIST's files: every child fails at once, reading its data.
  const out = path.join(root, 'failing');
  const empty = path.join(root, 'no-mnist');
  fs.mkdirSync(empty);
  const r = spawnSync(process.execPath, [bin, 'reproduce', 'mnist', '--quick', '--seeds', '1,2', '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', EVOLVE_MNIST_DIR: empty },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /reproduce: mnist\/seed-1 failed \(exit code 1\); going on with the others/);
  assert.match(r.stderr, /starting mnist\/seed-2 \(2 of 2\)/);
  const lines = r.stderr.trim().split('\n');
  assert.match(
    lines[lines.length - 1],
    new RegExp(
      '^evolve: reproduce mnist --quick: 2 of 2 runs failed: ' +
        String.raw`mnist/seed-1 \(exit code 1\), mnist/seed-2 \(exit code 1\); ` +
        'none saved a generation: see the error above, then run the same command again$',
    ),
  );
  assert.equal(r.stdout, '', 'no report without records');
});
