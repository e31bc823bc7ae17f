// `evolve report` through the real CLI on run folders written in the real formats (config.json,
// generations.ndjson with every record field), with numbers chosen so that means and spreads are
// known; the figure checked as a real PNG and SVG, its text drawn with the shipped font.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { bin, runCli, tempDir } from './helpers';
import { measureFields } from '../src/evolution/record';
import { measure } from '../src/metrics/measure';
import { kernelSize, outUnitOf, weightedLayers } from '../src/models/architecture';
import { lenet300 } from '../src/models/ancestors/lenet300';
import type { GenerationRecord } from '../src/evolution/record';
import { rasterise } from '../src/report/plot';

const root = tempDir('evolve-report-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const ancestorSynapses = 430500;

/** One generation's record with every field a run writes; `efficiency` and `accuracy` drive the rest. */
function record(
  generation: number,
  efficiency: number,
  clusterEfficiency: number,
  accuracy: number,
  ancestorAccuracy: number,
): GenerationRecord {
  const synapses = Math.round(ancestorSynapses / efficiency);
  return {
    generation,
    synapses,
    synapseEfficiency: efficiency,
    clusters: Math.round(70 / clusterEfficiency),
    clusterEfficiency,
    granularity: 'filter',
    filters: Math.round(70 / clusterEfficiency),
    filterEfficiency: clusterEfficiency,
    kernels: 1000,
    kernelEfficiency: 1,
    denseNeurons: 510,
    testAccuracy: accuracy,
    accuracyChange: Math.round((accuracy - ancestorAccuracy) * 1e4) / 1e4 + 0,
    validationAccuracy: accuracy,
    synapseFactor: generation === 0 ? null : 0.69,
    clusterFactor: generation === 0 ? null : 0.83,
    layerClusterFactors: null,
    expectedSynapses: null,
    capped: false,
    selected: generation === 0 ? null : 0,
    candidates: [],
    macs: synapses * 10,
    params: synapses + 600,
    loss: 0.1,
    layers: [],
    seconds: 1,
    trainSeconds: 1,
  };
}

/**
 * A run folder as evolve writes it (no gen-NN models: the report does not read them); `edit` changes
 * a generation's record (null where no rows are given: config.json alone, a run that has just started).
 */
function writeRun(
  name: string,
  options: Record<string, unknown>,
  rows: [number, number, number][] | null,
  torn = '',
  edit: (r: GenerationRecord) => object = (r) => r,
): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify(
      {
        command: ['evolve'],
        options: { dataset: 'mnist', arch: 'lenet5', ...options },
        resolved: { synapseFactor: 0.5 },
      },
      null,
      2,
    ),
  );
  if (rows === null) return dir;
  const lines = rows.map(([e, c, a], g) => `${JSON.stringify(edit(record(g, e, c, a, rows[0][2])))}\n`);
  fs.writeFileSync(path.join(dir, 'generations.ndjson'), lines.join('') + torn);
  return dir;
}

// Two seeds of the default encoding, generations 0..2; seed 2's last line is torn (being written).
const seed1 = writeRun('cluster-1', { seed: 1, generations: 2 }, [
  [1, 1, 99.0],
  [2, 1.5, 98.5],
  [4, 2, 98.0],
]);
const seed2 = writeRun(
  'cluster-2',
  { seed: 2, generations: 2, encoding: 'cluster' },
  [
    [1, 1, 98.0],
    [2.2, 1.3, 98.2],
    [5, 2.4, 97.5],
  ],
  '{"generation":3,"synap',
);
const magnitude = writeRun('magnitude-1', { seed: 1, generations: 2, encoding: 'magnitude' }, [
  [1, 1, 99.0],
  [2, 1, 98.9],
  [4, 1, 98.8],
]);

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  return lines[0];
}

test('md: per generation mean (min to max) across seeds, and the paper row at the last generation', () => {
  const r = runCli(['report', seed1, seed2]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /### MNIST lenet5, cluster encoding: 2 runs \(seeds 1, 2\)/);
  assert.match(
    r.stdout,
    new RegExp(
      String.raw`\| generation \| runs \| synapses \| synapse efficiency \| filter efficiency \| ` +
        String.raw`kernel efficiency \| ` +
        String.raw`test accuracy \(%\) \| accuracy change \(points\) \|`,
    ),
  );
  // Generation 2: efficiencies 4 and 5, accuracy changes -1.0 and -0.5.
  assert.match(
    r.stdout,
    new RegExp(
      String.raw`\| 2 \| 2 \| 96,863 \(86,100 to 107,625\) \| 4\.50x \(4\.00x to 5\.00x\) \| ` +
        String.raw`2\.20x \(2\.00x to 2\.40x\) \| 1\.00x \(1\.00x to 1\.00x\) \| 97\.75 \(97\.50 to 98\.00\) \| ` +
        String.raw`-0\.75 \(-1\.00 to -0\.50\) \|`,
    ),
  );
  // The paper's 9.71x is 1,020 / 105 2-D kernels: it stands under kernel efficiency, not filters.
  assert.match(
    r.stdout,
    /\| paper \(cluster encoding\), generation 13 \|  \|  \| 125\.09x \|  \| 9\.71x \|  \| -1\.70 \|/,
  );
  // The torn line is not a generation.
  assert.doesNotMatch(r.stdout, /\| 3 \|/);
});

test('runs that differ in encoding are grouped side by side', () => {
  const r = runCli(['report', seed1, magnitude, seed2]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /### Last generation, side by side/);
  assert.match(r.stdout, /\| MNIST \| lenet5 \| cluster \| 2 \| 2 \| .* \| 4\.50x \(4\.00x to 5\.00x\) \|/);
  assert.match(
    r.stdout,
    /\| MNIST \| lenet5 \| magnitude \| 1 \| 2 \| 107,625 \| 4\.00x \| 1\.00x \| 1\.00x \| 98\.80 \| -0\.20 \|/,
  );
  assert.match(
    r.stdout,
    /\| MNIST \| lenet5 \| paper \(cluster\) \|  \| 13 \|  \| 125\.09x \|  \| 9\.71x \|  \| -1\.70 \|/,
  );
  assert.ok(
    r.stdout.indexOf('cluster encoding:') < r.stdout.indexOf('magnitude encoding:'),
    'groups in the order given',
  );
});

test('csv: one row per group and generation, the paper on the last row', () => {
  const r = runCli(['report', seed1, seed2, magnitude, '--format', 'csv']);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...rows] = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  assert.equal(rows.length, 6);
  const col = (name: string) => header.indexOf(name);
  const last = rows[2];
  assert.deepEqual([last[col('encoding')], last[col('generation')], last[col('runs')]], ['cluster', '2', '2']);
  assert.equal(Number(last[col('synapseEfficiency_mean')]), 4.5);
  assert.equal(Number(last[col('synapseEfficiency_min')]), 4);
  assert.equal(Number(last[col('accuracyChange_max')]), -0.5);
  assert.equal(Number(last[col('paper_synapseEfficiency')]), 125.09);
  assert.equal(Number(last[col('filterEfficiency_max')]), 2.4);
  assert.equal(Number(last[col('kernelEfficiency_mean')]), 1);
  assert.equal(last[col('paper_filterEfficiency')], '', "the paper's figure counts kernels, not filters");
  assert.equal(Number(last[col('paper_kernelEfficiency')]), 9.71);
  assert.equal(rows[1][col('paper_synapseEfficiency')], '', 'only the last generation has the paper');
  assert.equal(rows[5][col('encoding')], 'magnitude');
});

test('json: groups with their runs, generations and the paper', () => {
  const r = runCli(['report', seed1, seed2, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.spread, 'min-max');
  assert.equal(report.groups.length, 1);
  const [group] = report.groups;
  assert.deepEqual(
    group.runs.map((x: { seed: number }) => x.seed),
    [1, 2],
  );
  assert.deepEqual(group.generations[1].synapseEfficiency, { mean: 2.1, min: 2, max: 2.2 });
  assert.equal(group.paper.synapseEfficiency, 125.09);
  assert.equal(group.paper.generations, 13);
});

test('a run on an ancestor the paper did not use gets no paper row', () => {
  const other = writeRun('lenet300', { seed: 1, generations: 1, arch: 'lenet300' }, [
    [1, 1, 97],
    [3, 1, 96],
  ]);
  const r = runCli(['report', other]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\| paper/);
});

test("--plot x.png: a PNG about 1600 px wide; --plot x.svg: the SVG with every panel and the paper's point", () => {
  const png = path.join(root, 'figure.png');
  const svg = path.join(root, 'figure.svg');
  const r = runCli(['report', seed1, seed2, magnitude, '--plot', png]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /125\.09x/, 'the table still goes to stdout');
  const bytes = fs.readFileSync(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(bytes.subarray(12, 16).toString('ascii'), 'IHDR');
  const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  assert.ok(width > 1200 && width < 2400 && height > 900 && height < 2000, `${width}x${height}`);
  assert.ok(bytes.length > 30_000, `${bytes.length} bytes`);

  assert.equal(runCli(['report', seed1, '--plot', svg]).code, 0);
  const text = fs.readFileSync(svg, 'utf8');
  assert.match(text, /^<svg /);
  for (const title of [
    '(a) Synapse efficiency',
    '(b) Cluster efficiency: filters',
    '(c) Cluster efficiency: kernels',
    '(d) Test accuracy',
    '(e) Test accuracy change',
    '125.09×',
    '9.71×',
    'budget: (1/F)^generation',
  ]) {
    assert.ok(text.includes(title), title);
  }
  assert.deepEqual(
    fs.readdirSync(root).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
});

test('text renders in the PNG with the shipped font and no system font', async () => {
  const image = await rasterise(
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30">' +
      '<text x="5" y="22" font-family="DejaVu Sans" font-size="18">125.09x</text></svg>',
    1,
  );
  let dark = 0;
  for (let i = 0; i < image.pixels.length; i += 4) if (image.pixels[i] < 128) dark++;
  assert.ok(dark > 100, `${dark} dark pixels`);
});

test('bad input: one line and an exit code, nothing on stdout, no figure written', () => {
  const cases: [string[], number, RegExp][] = [
    [['report', path.join(root, 'nope')], 2, /nope: no such run folder/],
    [['report', path.join(root, 'cluster-1', 'config.json')], 2, /config\.json: not a run folder/],
    [
      ['report', seed1, '--plot', path.join(root, 'figure.pdf')],
      2,
      /--plot .*figure\.pdf: expected a file name ending in \.png or \.svg/,
    ],
    [['report', seed1, '--format', 'xml'], 2, /--format/],
    [['report', seed1, '--plot', path.join(root, 'no-dir', 'f.png')], 1, /no such folder/],
  ];
  const empty = path.join(root, 'empty');
  fs.mkdirSync(path.join(empty, 'gen-00'), { recursive: true });
  fs.writeFileSync(path.join(empty, 'config.json'), JSON.stringify({ options: { dataset: 'mnist', arch: 'lenet5' } }));
  cases.push([['report', empty], 1, /empty: no generation records yet/]);
  const notRun = path.join(root, 'not-a-run');
  fs.mkdirSync(notRun);
  cases.push([['report', notRun], 1, /not-a-run: not an evolve run folder \(no config\.json\)/]);
  for (const [args, code, message] of cases) {
    const r = runCli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), message);
    assert.match(r.stderr, /^evolve: /);
    assert.equal(r.stdout, '');
  }
  assert.equal(fs.existsSync(path.join(root, 'figure.pdf')), false);
});

/** What a generation with no synapse left records: its efficiencies as null (JSON has no Infinity). */
const nothingLeft = (r: GenerationRecord): object =>
  r.generation === 0
    ? r
    : { ...r, synapses: 0, synapseEfficiency: null, clusterEfficiency: null, filterEfficiency: null, filters: 0 };

test(
  'a reproduce folder: grouped by every option but --seed and --out, a run with no record yet listed, a folder ' +
    'given twice counted once, an efficiency with nothing left shown as - and left out of the mean, lenet300 ' +
    'counting its hidden neurons',
  () => {
    const repro = path.join(root, 'reproduce');
    const seed1 = writeRun('reproduce/mnist/seed-1', { seed: 1, generations: 2, out: 'a', json: true }, [
      [1, 1, 99.0],
      [2, 1.5, 98.5],
      [4, 2, 98.0],
    ]);
    const seed2Rows: [number, number, number][] = [
      [1, 1, 98.0],
      [2.2, 1.3, 98.2],
      [5, 2.4, 10.0],
    ];
    writeRun('reproduce/mnist/seed-2', { seed: 2, generations: 2, out: 'b' }, seed2Rows, '', (r) =>
      r.generation === 2 ? nothingLeft(r) : r,
    );
    writeRun('reproduce/mnist/seed-3', { seed: 3, generations: 2, out: 'c' }, null);
    writeRun(
      'reproduce/mnist-quick/seed-1',
      { seed: 1, generations: 2, testLimit: 500 },
      [
        [1, 1, 99.0],
        [2, 1.5, 98.5],
      ],
      '',
      nothingLeft,
    );
    // lenet300 as evolve wrote it before its records counted neurons: no filters or kernels, cluster efficiency 1.
    const neurons = [400, 300, 232];
    const dense = writeRun(
      'lenet300-neurons',
      { seed: 1, generations: 2, arch: 'lenet300' },
      [
        [1, 1, 98],
        [2, 1, 97.9],
        [4, 1, 97.5],
      ],
      '',
      (r) => ({ ...r, clusters: 0, filters: 0, kernels: 0, kernelEfficiency: 1, denseNeurons: neurons[r.generation] }),
    );
    const r = runCli(['report', repro, seed1, dense]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(oneLine(r.stderr), /seed-3: no generation record yet; listed, not counted$/);
    assert.match(r.stdout, /### MNIST lenet5, cluster encoding, no --test-limit: 3 runs \(seeds 1, 2, 3\)/);
    assert.match(r.stdout, /`[^`]*seed-3` \(no generation record yet\)/);
    assert.match(r.stdout, /### MNIST lenet5, cluster encoding, --test-limit 500: 1 run \(seed 1\)/);
    assert.match(r.stdout, /`[^`]*mnist-quick\/seed-1` \(generations 0\.\.1 of 2 so far\)/);
    // Seed 2 has no synapse left at generation 2: its efficiencies are left out, its accuracy is not.
    assert.match(
      r.stdout,
      new RegExp(
        String.raw`\| 2 \| 2 \| 53,813 \(0 to 107,625\) \| 4\.00x \(4\.00x to 4\.00x\) \| ` +
          String.raw`2\.00x \(2\.00x to 2\.00x\) \| 1\.00x .*\| 54\.00 `,
      ),
    );
    assert.match(r.stdout, /\| 1 \| 1 \| 0 \| - \| - \| 1\.00x \| 98\.50 \| -0\.50 \|/);
    assert.match(r.stdout, /\| MNIST \| lenet5 \| cluster \| --test-limit 500 \| 1 \| 1 \| 0 \| - \| - \|/);
    // lenet300: 400 -> 232 hidden neurons is its filter efficiency; it has no kernels to count.
    assert.match(
      r.stdout,
      /\| MNIST \| lenet300 \| cluster \| no --test-limit \| 1 \| 2 \| 107,625 \| 4\.00x \| 1\.72x \| - \|/,
    );
  },
);

test('records of a network without convs count its hidden neurons as clusters, at either granularity', () => {
  const layers = weightedLayers(lenet300);
  const full = layers.map((l) => new Uint8Array(kernelSize(l)).fill(1));
  // fc1 keeps neurons 0..231 of 300; fc2 all of its 100: 400 -> 332 hidden neurons.
  const thinned = full.map((m, l) => (l === 0 ? m.map((_, k) => (outUnitOf(layers[0], k) < 232 ? 1 : 0)) : m));
  const ancestor = measure(layers, full);
  for (const granularity of ['filter', 'kernel'] as const) {
    const fields = measureFields(measure(layers, thinned), ancestor, granularity);
    assert.equal(fields.clusters, 332);
    assert.equal(fields.clusterEfficiency, 400 / 332);
  }
});

test('a named pipe (FIFO) for config.json or generations.ndjson: one line at once, exit 1', (t) => {
  if (process.platform === 'win32') return t.skip('no mkfifo');
  const pipeConfig = path.join(root, 'fifo-config');
  fs.mkdirSync(pipeConfig);
  execFileSync('mkfifo', [path.join(pipeConfig, 'config.json')]);
  const pipeRecords = writeRun('fifo-records', { seed: 1 }, null);
  execFileSync('mkfifo', [path.join(pipeRecords, 'generations.ndjson')]);
  for (const [run, file] of [
    [pipeConfig, 'config.json'],
    [pipeRecords, 'generations.ndjson'],
  ]) {
    // A reader that opened the pipe would wait for a writer for ever: the timeout ends the test then.
    const r = spawnSync(process.execPath, [bin, 'report', run], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(oneLine(r.stderr), new RegExp(`${file}: a named pipe \\(FIFO\\), not a plain file`));
  }
});
