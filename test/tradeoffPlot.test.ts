// The trade-off figure (report --tradeoff) from real runs: two tiny LeNet-300 lineages by the real CLI,
// one with --target-cluster-efficiency 2, and a second seed of the first still running (its first two
// records). The SVG is read back: axis titles, one legend entry per group, the labelled zero line, and
// one point per group and generation, where the group's mean of the records puts it, joined in
// generation order.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { bin, readRecords, tempDir } from './helpers';
import { UsageError } from '../src/errors';
import { appendLine } from '../src/files';
import { pointsChange } from '../src/evolution/record';
import { buildReport } from '../src/report/report';
import { type Element, center, markKind, panelOf, parseSvg, radius, within } from './svg';

const root = tempDir('evolve-tradeoff-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const generations = 2;
const tiny = ['--arch', 'lenet300', '--generations', `${generations}`, '--train-limit', '500', '--test-limit', '200'];
const cheap = ['--epochs', '1', '--ancestor-epochs', '1', '--seed', '1'];
const evolve = (args: string[]) => promisify(execFile)(process.execPath, [bin, ...args], { encoding: 'utf8' });
const run = (out: string, more: string[]) => evolve([...tiny, ...cheap, ...more, '--out', out]);

const [plain, target, running] = ['plain', 'target', 'running'].map((n) => path.join(root, n));
let elements: Element[] = [];
let marks: Element[] = [];
/** What `evolve report --tradeoff` printed. */
let report = { stdout: '', stderr: '' };

/**
 * A second seed of the first run that has written its first two records so far, its generation 1 a point
 * less accurate (so a group's mean is neither seed's value).
 */
function secondSeed(): void {
  fs.mkdirSync(running);
  const config = JSON.parse(fs.readFileSync(path.join(plain, 'config.json'), 'utf8'));
  config.options.seed = 2;
  fs.writeFileSync(path.join(running, 'config.json'), JSON.stringify(config, null, 2));
  const [ancestor, first] = readRecords(path.join(plain, 'generations.ndjson'));
  const testAccuracy = (first.testAccuracy as number) - 1;
  const worse = { ...first, testAccuracy, accuracyChange: pointsChange(testAccuracy, ancestor.testAccuracy as number) };
  for (const record of [ancestor, worse]) appendLine(path.join(running, 'generations.ndjson'), JSON.stringify(record));
}

before(async () => {
  await Promise.all([run(plain, []), run(target, ['--target-cluster-efficiency', '2'])]);
  secondSeed();
  const file = path.join(root, 'tradeoff.svg');
  report = await evolve(['report', plain, running, target, '--tradeoff', file]);
  elements = parseSvg(fs.readFileSync(file, 'utf8'));
  marks = elements.filter((e) => within(e, 'role-mark') && !within(e, 'role-legend'));
});

const texts = (role: string) => elements.filter((e) => within(e, role)).map((e) => e.text);
const symbols = () => marks.filter((e) => markKind(e) === 'mark-symbol');

test('two panels: accuracy change against synapse and against filter efficiency, log scales', () => {
  const titles = texts('role-axis-title');
  assert.equal(titles.filter((t) => t === 'test accuracy change vs ancestor (points)').length, 2, titles.join(' | '));
  assert.ok(titles.includes('fewer synapses (×, log)'), titles.join(' | '));
  assert.ok(
    titles.some((t) => t.startsWith('fewer conv filters (×, log')),
    titles.join(' | '),
  );
  assert.match(texts('role-title-subtitle').join(' '), /mean over seeds; one point per generation/i);
});

test('one legend entry per group, named by the option that sets it apart; no paper on LeNet-300', () => {
  assert.deepEqual(texts('role-legend-label'), [
    'no --target-cluster-efficiency (2 runs)',
    '--target-cluster-efficiency 2 (1 run)',
  ]);
  assert.equal(texts('role-legend-symbol').length, 2);
});

test('each panel has its zero line, labelled "ancestor" at its height', () => {
  const rules = marks.filter((e) => markKind(e) === 'mark-rule');
  assert.equal(new Set(rules.map(panelOf)).size, 2);
  for (const rule of rules) {
    const label = marks.find((e) => e.tag === 'text' && e.text === 'ancestor' && panelOf(e) === panelOf(rule));
    assert.ok(label, `${panelOf(rule)}: no "ancestor" label`);
    assert.ok(Math.abs(center(label)[1] - center(rule)[1]) < 8, `${panelOf(rule)}: label away from its line`);
  }
});

/** The vertices of a line mark's path, in drawing order. */
function vertices(line: Element): [number, number][] {
  return [...line.attrs.d.matchAll(/[ML]([-\d.]+),([-\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** A symbol's colour: its fill, or its outline where it is open (filled white). */
const colourOf = (e: Element) => (e.attrs.fill === 'white' ? e.attrs.stroke : e.attrs.fill);
const near = (e: Element, [x, y]: [number, number]) => Math.hypot(center(e)[0] - x, center(e)[1] - y) < 0.5;

test('per panel, one point per group and generation on its line, the last larger, the partial ones open', () => {
  const plainColour = elements.find((e) => within(e, 'role-legend-symbol'))?.attrs.stroke;
  for (const panel of new Set(symbols().map(panelOf))) {
    const inPanel = symbols().filter((e) => panelOf(e) === panel);
    const small = inPanel.filter((e) => radius(e) < 4);
    const large = inPanel.filter((e) => radius(e) >= 4);
    assert.equal(small.length, 2 * (generations + 1), `${panel}: a point per group and generation`);
    assert.equal(large.length, 2, `${panel}: a larger point per group`);
    // Generation 2 of the first group: one of its two seeds has not reached it.
    for (const points of [small, large])
      assert.deepEqual(
        points.filter((e) => e.attrs.fill === 'white').map(colourOf),
        [plainColour],
        `${panel}: open points`,
      );
    const lines = marks.filter((e) => markKind(e) === 'mark-line' && panelOf(e) === panel);
    assert.equal(lines.length, 2, `${panel}: a line per group`);
    for (const line of lines) {
      const points = vertices(line);
      assert.equal(points.length, generations + 1, `${panel}: a vertex per generation`);
      const own = (e: Element) => colourOf(e) === line.attrs.stroke;
      for (const point of points)
        assert.ok(
          small.filter(own).some((e) => near(e, point)),
          `${panel}: no point at ${point}`,
        );
      const last = large.filter(own);
      assert.equal(last.length, 1, `${panel}: one large point per line`);
      assert.ok(near(last[0], points[points.length - 1]), `${panel}: the large point ends its line`);
    }
  }
});

/** Per group (by legend colour), the mean of a record field over the group's folders at each generation. */
function means(field: string): Map<string, number[]> {
  const strokes = elements.filter((e) => within(e, 'role-legend-symbol')).map((e) => e.attrs.stroke);
  const groups = [[plain, running], [target]].map((dirs) =>
    dirs.map((d) => readRecords(path.join(d, 'generations.ndjson'))),
  );
  return new Map(
    groups.map((runs, i) => [
      strokes[i],
      runs[0].map((_r, g) => {
        const values = runs.filter((r) => r[g] !== undefined).map((r) => r[g][field] as number);
        return values.reduce((a, v) => a + v, 0) / values.length;
      }),
    ]),
  );
}

/** Pixels as offsets from the value 0 (or 1 on a log scale) are one multiple of the values: the scale is right. */
function assertScaled(pairs: [number, number][], what: string): void {
  const [value, pixels] = pairs.reduce((a, b) => (Math.abs(b[0]) > Math.abs(a[0]) ? b : a));
  assert.ok(value !== 0, `${what}: every value is 0`);
  for (const [v, p] of pairs) assert.ok(Math.abs(p - (pixels / value) * v) < 0.6, `${what}: ${v} drawn at ${p}`);
}

test("the points are the groups' means of the records: accuracy change up, synapse efficiency across (log)", () => {
  const rule = marks.find((e) => markKind(e) === 'mark-rule' && panelOf(e).includes('concat_0')) as Element;
  const zero = center(rule)[1];
  const change = means('accuracyChange');
  const synapses = means('synapseEfficiency');
  const lines = marks.filter((e) => markKind(e) === 'mark-line' && panelOf(e) === panelOf(rule));
  const ys: [number, number][] = [];
  const xs: [number, number][] = [];
  for (const line of lines) {
    const stroke = line.attrs.stroke;
    vertices(line).forEach(([x, y], g) => {
      ys.push([change.get(stroke)?.[g] as number, zero - y]);
      xs.push([Math.log(synapses.get(stroke)?.[g] as number), x]);
    });
  }
  assertScaled(ys, 'accuracy change');
  assertScaled(xs, 'log synapse efficiency');
});

test('report prints the same tables with --tradeoff as without, and says where the figure went', async () => {
  assert.equal(report.stdout, (await buildReport([plain, running, target], { format: 'md' })).text);
  assert.match(report.stderr, /^evolve: wrote .*tradeoff\.svg$/m);
  await assert.rejects(
    buildReport([plain], { format: 'md', tradeoff: path.join(root, 'tradeoff.pdf') }),
    (e: Error) => e instanceof UsageError && /^--tradeoff .*tradeoff\.pdf: expected .*\.png or \.svg$/.test(e.message),
  );
});
