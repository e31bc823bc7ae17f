// `evolve export` through the real CLI: the exported model, loaded with nothing but plain
// tf.loadLayersModel, predicts what the run's masked model predicts; compacted, it is smaller.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
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

const root = tempDir('evolve-export-');
const run = path.join(root, 'run');
// The whole MNIST test set.
const IMAGES = 10000;

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

test('export gen 2 full and --compact: tf.loadLayersModel predicts as the masked net; compact is smaller', async () => {
  const record = readRecords(path.join(run, 'generations.ndjson'))[2] as { synapses: number; params: number };
  const outFull = path.join(root, 'full');
  const outCompact = path.join(root, 'compact');
  fs.mkdirSync(outCompact); // an existing empty folder is fine

  let t0 = Date.now();
  const a = runCli(['export', run, '--generation', '2', '--out', outFull]);
  const fullSeconds = (Date.now() - t0) / 1000;
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, '');
  assert.match(
    oneLine(a.stderr),
    new RegExp(`wrote .*full: lenet5 .*generation 2; 4 weighted layers .*431080 params, ${record.synapses} synapses`),
  );
  t0 = Date.now();
  const b = runCli(['export', run, '--generation', '2', '--compact', '--out', outCompact]);
  const compactSeconds = (Date.now() - t0) / 1000;
  assert.equal(b.code, 0, b.stderr);
  assert.match(
    oneLine(b.stderr),
    new RegExp(`wrote .*compact: lenet5-compact .*, \\d+ params, ${record.synapses} synapses`),
  );
  process.stderr.write(
    `export.test: export ${fullSeconds.toFixed(1)} s, export --compact ${compactSeconds.toFixed(1)} s\n`,
  );
  for (const dir of [outFull, outCompact]) {
    assert.deepEqual(fs.readdirSync(dir).sort(), ['mask.bin', 'mask.json', 'model.json', 'weights.bin']);
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
