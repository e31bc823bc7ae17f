// `evolve export` through the real CLI: the exported model, loaded with nothing but plain
// tf.loadLayersModel, predicts what the run's masked model predicts; compacted, it is smaller. The
// README beside it states the input and its preprocessing, and its Node program works as written.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import { readRecords, runCli, tempDir } from './helpers';
import { selectBackend } from '../src/engine/backend';
import { loadNetwork } from '../src/engine/modelio';
import { forward } from '../src/engine/network';
import { lenet5 } from '../src/models/ancestors';
import type { Network } from '../src/models/network';
import { liveUnits } from '../src/models/masks';
import { loadMnist } from '../src/data/mnist';
import { byteTable } from '../src/data/preprocess';
import { percent } from '../src/evolution/record';
import { outputNames, program, usageJson } from '../src/cli/exportUsage';

const root = tempDir('evolve-export-');
const run = path.join(root, 'run');
// A fifth of MNIST's test set: enough images to catch a wrong weight, at a fifth of the forward passes' time.
const IMAGES = 2000;

before(() => {
  const t0 = Date.now();
  const r = runCli([
    '--arch',
    'lenet5',
    '--generations',
    '2',
    '--train-limit',
    '640',
    '--test-limit',
    '200',
    '--ancestor-epochs',
    '1',
    '--epochs',
    '1',
    '--env-factor',
    '0.3',
    '--cluster-factor',
    '0.6',
    '--out',
    run,
  ]);
  assert.equal(r.code, 0, r.stderr);
  process.stderr.write(`export.test: the run took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A plain IOHandler over the files on disk: no evolve code is involved in loading. */
function fromDisk(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const groups = json.weightsManifest as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      const data = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
      return {
        modelTopology: json.modelTopology,
        weightSpecs: groups.flatMap((g) => g.weights),
        weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      };
    },
  };
}

function testImages(): tf.Tensor4D {
  const data = loadMnist({ trainLimit: 1, testLimit: IMAGES, validation: 0, rng: seedrandom('d') });
  return tf.tensor4d(
    Float32Array.from(data.test.images, (v) => v / 255),
    [data.test.count, 28, 28, 1],
  );
}

/** The masked model's logits as evolve evaluates it (masked kernels, dead units' biases 0). */
function maskedLogits(net: Network, x: tf.Tensor4D): tf.Tensor2D {
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  return tf.tidy(() =>
    forward(
      net,
      net.params.map((p, l) =>
        tf.tensor(
          p.kernel.map((v, k) => (p.mask[k] ? v : 0)),
          net.layers[l].kernelShape,
        ),
      ),
      net.params.map((p, l) => tf.tensor1d(p.bias.map((b, u) => (units[l][u] ? b : 0)))),
      x,
    ),
  );
}

async function argMax(t: tf.Tensor2D): Promise<Int32Array> {
  const a = tf.argMax(t, 1);
  const v = (await a.data()) as Int32Array;
  a.dispose();
  return v;
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  return lines[0];
}

/** An export's two lines: what was written, and where its README is. */
function wroteLine(stderr: string, out: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 2, stderr);
  assert.equal(lines[1], `evolve: how to use it (input, preprocessing, classes, a Node program): ${out}/README.md`);
  return lines[0];
}

test('export gen 2, full and --compact: plain tfjs predicts as the masked net; the README program works', async () => {
  const record = readRecords(path.join(run, 'generations.ndjson'))[2] as {
    synapses: number;
    params: number;
    testAccuracy: number;
  };
  const outFull = path.join(root, 'full');
  const outCompact = path.join(root, 'compact');
  fs.mkdirSync(outCompact); // an existing empty folder is fine

  let t0 = Date.now();
  const a = runCli(['export', run, '--generation', '2', '--out', outFull]);
  const fullSeconds = (Date.now() - t0) / 1000;
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, '');
  assert.match(
    wroteLine(a.stderr, outFull),
    new RegExp(`wrote .*full: lenet5 .*generation 2; 4 weighted layers .*431080 params, ${record.synapses} synapses`),
  );
  t0 = Date.now();
  const b = runCli(['export', run, '--generation', '2', '--compact', '--out', outCompact]);
  const compactSeconds = (Date.now() - t0) / 1000;
  assert.equal(b.code, 0, b.stderr);
  assert.match(
    wroteLine(b.stderr, outCompact),
    new RegExp(`wrote .*compact: lenet5-compact .*, \\d+ params, ${record.synapses} synapses`),
  );
  process.stderr.write(
    `export.test: export ${fullSeconds.toFixed(1)} s, export --compact ${compactSeconds.toFixed(1)} s\n`,
  );
  for (const dir of [outFull, outCompact]) {
    const files = ['README.md', 'mask.bin', 'mask.json', 'model.json', 'usage.json', 'weights.bin'];
    assert.deepEqual(fs.readdirSync(dir).sort(), files);
  }

  await selectBackend('wasm');
  const before = tf.memory().numTensors;
  const x = testImages();
  const reference = maskedLogits(await loadNetwork(path.join(run, 'gen-02', 'model.json'), lenet5), x);
  const expected = await argMax(reference);
  const ref = (await reference.data()) as Float32Array;
  const counts: number[] = [];
  for (const dir of [outFull, outCompact]) {
    const model = await tfl.loadLayersModel(fromDisk(dir));
    counts.push(model.countParams());
    const y = model.predict(x) as tf.Tensor2D;
    assert.deepEqual(y.shape, [IMAGES, 10]);
    assert.deepEqual(await argMax(y), expected, `${dir}: predictions`);
    const got = (await y.data()) as Float32Array;
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - ref[i]));
    assert.ok(diff <= 1e-4, `${dir}: logits differ by ${diff}`);
    const what = `${model.countParams()} params, max |logit difference| ${diff.toExponential(2)}`;
    process.stderr.write(`export.test: ${path.basename(dir)}: ${what}\n`);
    y.dispose();
    model.dispose();
  }
  tf.dispose([x, reference]);
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked');

  const [fullParams, compactParams] = counts;
  assert.equal(fullParams, 431080);
  assert.ok(compactParams < fullParams / 2, `compact ${compactParams} vs full ${fullParams}`);
  // The record's `params` counts only inputs with a live synapse; the compact model is at least that.
  assert.ok(compactParams >= record.params, `compact ${compactParams} vs record ${record.params}`);
  assert.match(b.stderr, new RegExp(`, ${compactParams} params,`));
  checkReadme(outCompact, record);
});

test('export errors: one line, the right exit code, nothing written', async () => {
  const cases: { args: string[]; code: number; message: RegExp; out: string }[] = [];
  const out = () => path.join(root, `out-${cases.length}`);
  let o = out();
  cases.push({
    args: ['export', path.join(root, 'no-such-run'), '--generation', '2', '--out', o],
    code: 2,
    message: /no-such-run: no such run folder/,
    out: o,
  });
  o = out();
  cases.push({
    args: ['export', run, '--generation', '7', '--out', o],
    code: 2,
    message: /--generation 7: .*run has no generation 7 \(available: 0, 1, 2\)/,
    out: o,
  });
  o = out();
  cases.push({
    args: ['export', run, '--generation', 'two', '--out', o],
    code: 2,
    message: /--generation.*two.*integer/,
    out: o,
  });
  o = out();
  cases.push({ args: ['export', run, '--out', o], code: 2, message: /--generation.*not specified/, out: o });
  o = out();
  cases.push({
    args: ['export', root, '--generation', '0', '--out', o],
    code: 1,
    message: /not an evolve run folder \(no config\.json\)/,
    out: o,
  });
  // A run whose model is broken: a RunError from inside the (async) action reaches main's catch.
  const broken = path.join(root, 'broken');
  fs.cpSync(run, broken, { recursive: true });
  fs.truncateSync(path.join(broken, 'gen-01', 'weights.bin'), 1000);
  o = out();
  cases.push({
    args: ['export', broken, '--generation', '1', '--out', o],
    code: 1,
    message: /gen-01\/model\.json: weights are 1000 bytes/,
    out: o,
  });

  for (const c of cases) {
    const r = runCli(c.args);
    assert.equal(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), c.message);
    assert.match(r.stderr, /^evolve: /);
    assert.equal(r.stdout, '');
    assert.equal(fs.existsSync(c.out), false, `${c.args.join(' ')} wrote ${c.out}`);
  }

  // A non-empty --out is refused and left exactly as it was.
  const mine = path.join(root, 'mine');
  fs.mkdirSync(mine);
  fs.writeFileSync(path.join(mine, 'model.json'), 'my own file');
  const r = runCli(['export', run, '--generation', '2', '--compact', '--out', mine]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(oneLine(r.stderr), /--out .*mine: already exists and is not empty/);
  assert.deepEqual(fs.readdirSync(mine), ['model.json']);
  assert.equal(fs.readFileSync(path.join(mine, 'model.json'), 'utf8'), 'my own file');
});

/** The ```js block of an export's README.md, exactly as a reader would copy it. */
function readmeProgram(dir: string): string {
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  const block = /\n```js\n([\s\S]*?)\n```\n/.exec(readme);
  assert.ok(block, `${dir}/README.md has no js block`);
  return block[1];
}

/**
 * The README beside an export states the input, its preprocessing, logits and the classes, and
 * its Node program, run as written in a plain node process, scores the generation's recorded accuracy.
 */
function checkReadme(out: string, record: { testAccuracy: number }): void {
  const readme = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
  assert.match(readme, /shape `\[N, 28, 28, 1\]`/);
  assert.match(readme, /becomes `v \/ 255`/);
  assert.match(readme, /\*\*logits\*\*/);
  assert.match(readme, /in output order: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\./);
  assert.match(readme, new RegExp(`${record.testAccuracy}% top-1 on the first 200 MNIST test images`));
  const usage = JSON.parse(fs.readFileSync(path.join(out, 'usage.json'), 'utf8'));
  assert.deepEqual(usage.input, {
    shape: [null, 28, 28, 1],
    layout: 'NHWC',
    dtype: 'float32',
    from: 'image bytes 0..255',
    formula: 'byte / 255',
    mean: [0],
    std: [1],
  });
  assert.equal(usage.output.kind, 'logits');

  // The run's test split: the first 200 test images, as raw bytes the program reads.
  const t0 = Date.now();
  const data = loadMnist({ trainLimit: 1, testLimit: 200, validation: 0, rng: seedrandom('d') });
  const program = path.join(root, 'predict.js');
  fs.writeFileSync(program, readmeProgram(out));
  fs.writeFileSync(path.join(root, 'images.bin'), data.test.images);
  // Only the packages the README installs, found where npm would put them: no evolve code is loaded.
  const p = spawnSync(process.execPath, [program, out, path.join(root, 'images.bin')], {
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: path.resolve(__dirname, '..', '..', 'node_modules') },
  });
  assert.equal(p.status, 0, p.stderr);
  const predicted = p.stdout.trim().split('\n');
  assert.equal(predicted.length, 200);
  const right = predicted.filter((name, i) => name === String(data.test.labels[i])).length;
  assert.equal(percent(right / 200), record.testAccuracy);
  process.stderr.write(`export.test: README program ${right}/200 right in ${(Date.now() - t0) / 1000} s\n`);
}

test("export's preprocessing for a normalised run: the README program's floats are the run's, bit for bit", () => {
  const normalise = { mean: [0.4913996786152028, 0.4821585592944004, 0.4465309133731618], std: [0.247, 0.2435, 0.26] };
  const facts = {
    run: 'run',
    generation: 3,
    compact: false,
    arch: 'alexnet',
    dataset: 'cifar10',
    datasetTitle: 'CIFAR-10',
    inputShape: [32, 32, 3],
    classes: 10,
    normalise,
    testAccuracy: 80,
    testSamples: 10000,
    tfjsVersion: '4.22.0',
  };
  const code = program(facts);
  const constants = code.split('\n').filter((l) => /^const (SHAPE|CLASSES|MEAN|STD|toInput) /.test(l));
  assert.equal(constants.length, 5, code);
  const toInput = new Function(`${constants.join('\n')}\nreturn toInput;`)() as (v: number, c: number) => number;
  const table = byteTable(3, normalise);
  const got = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) got[c * 256 + v] = toInput(v, c);
  assert.deepEqual(got, table);
  assert.deepEqual(outputNames(facts), [
    'airplane',
    'automobile',
    'bird',
    'cat',
    'deer',
    'dog',
    'frog',
    'horse',
    'ship',
    'truck',
  ]);
  const usage = usageJson(facts) as { input: { mean: number[]; std: number[]; formula: string } };
  assert.deepEqual([usage.input.mean, usage.input.std], [normalise.mean, normalise.std]);
  assert.equal(usage.input.formula, '(byte / 255 - mean[c]) / std[c]');
});

test("export of a run that normalised its inputs: README and usage.json carry config.json's statistics exactly", () => {
  // The same run, as if it had normalised (as CIFAR-10 and STL-10 runs do): config.json's data.normalise.
  const normalised = path.join(root, 'normalised');
  fs.cpSync(run, normalised, { recursive: true });
  const file = path.join(normalised, 'config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8'));
  const stats = { mean: [0.13066047627384286], std: [0.30810780385646264] };
  config.data = { ...config.data, normalise: stats };
  fs.writeFileSync(file, JSON.stringify(config));
  const out = path.join(root, 'normalised-export');
  const r = runCli(['export', normalised, '--generation', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);

  const usage = JSON.parse(fs.readFileSync(path.join(out, 'usage.json'), 'utf8'));
  assert.deepEqual(
    [usage.input.mean, usage.input.std, usage.input.formula],
    [...Object.values(stats), '(byte / 255 - mean[c]) / std[c]'],
  );
  const readme = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
  assert.match(readme, /becomes `\(v \/ 255 - mean\[c\]\) \/ std\[c\]`/);
  const constants = readmeProgram(out)
    .split('\n')
    .filter((l) => /^const (SHAPE|MEAN|STD|toInput) /.test(l));
  assert.equal(constants.length, 4, readme);
  const toInput = new Function(`${constants.join('\n')}\nreturn toInput;`)() as (v: number, c: number) => number;
  assert.deepEqual(
    Float32Array.from({ length: 256 }, (_, v) => toInput(v, 0)),
    byteTable(1, stats),
  );
});
