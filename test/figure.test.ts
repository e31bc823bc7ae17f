// The figure against its own legend: run folders written as evolve writes them (RunFolder's config,
// appendLine's records, measureFields' efficiencies), the report's SVG drawn from them, and each
// legend entry looked for in the plots, where it must be drawn in its own style and not be covered.
// The runs are chosen to overlap as badly as real ones can: two encodings with identical records,
// every synapse line exactly on its budget, and the last points exactly on the paper's numbers.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers';
import { type GenerationRecord, measureFields, pointsChange } from '../src/evolution/record';
import type { NetworkMeasure } from '../src/metrics/measure';
import { appendLine } from '../src/files';
import { RunFolder } from '../src/run/runFolder';
import { buildReport } from '../src/report/report';
import { type Element, center, dash, markKind, panelOf, parseSvg, radius, shapeOf, within } from './svg';

const root = tempDir('evolve-figure-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const generations = 13;
const ancestor = { synapses: 2 ** 20, filters: 70, kernels: 1020, accuracy: 99 };

function measure(synapses: number, filters: number, kernels: number): NetworkMeasure {
  return { synapses, filters, kernels, denseNeurons: 500, macs: synapses * 10, params: synapses, layers: [] };
}

type Row = { filters: number; kernels: number; accuracy: number };

/** A run folder with config.json and one record per generation; synapses halve each generation (F = 0.5). */
function writeRun(encoding: string, rows: (g: number) => Row): string {
  const folder = new RunFolder(path.join(root, encoding));
  const options = { dataset: 'mnist', arch: 'lenet5', encoding, seed: 1, generations };
  folder.create({ command: ['evolve'], options, resolved: { synapseFactor: 0.5 } });
  const first = measure(ancestor.synapses, ancestor.filters, ancestor.kernels);
  for (let g = 0; g <= generations; g++) {
    const { filters, kernels, accuracy } = g === 0 ? ancestor : rows(g);
    const record: GenerationRecord = {
      generation: g,
      ...measureFields(measure(ancestor.synapses / 2 ** g, filters, kernels), first, 'filter'),
      testAccuracy: accuracy,
      accuracyChange: pointsChange(accuracy, ancestor.accuracy),
      validationAccuracy: accuracy,
      synapseFactor: g === 0 ? null : 0.5,
      clusterFactor: null,
      layerClusterFactors: null,
      expectedSynapses: null,
      capped: false,
      selected: g === 0 ? null : 0,
      candidates: [],
      loss: null,
      seconds: 1,
      trainSeconds: 1,
    };
    appendLine(path.join(folder.dir, 'generations.ndjson'), JSON.stringify(record));
  }
  return folder.dir;
}

interface LegendEntry {
  label: string;
  /** A line's colour and dash pattern, or a symbol's fill and outline. */
  style: string;
  line: boolean;
}

const lineStyle = (e: Element) => `${e.attrs.stroke} ${dash(e)}`;
const symbolStyle = (e: Element) => `${e.attrs.fill} ${shapeOf(e)}`;

function legendEntries(elements: Element[]): LegendEntry[] {
  const symbols = elements.filter((e) => within(e, 'role-legend-symbol'));
  const labels = elements.filter((e) => within(e, 'role-legend-label'));
  assert.equal(symbols.length, labels.length, 'one label per legend symbol');
  return symbols.map((s, i) => {
    const line = /^M-?[\d.]+,0L[\d.]+,0$/.test(s.attrs.d);
    return { label: labels[i].text, style: line ? lineStyle(s) : symbolStyle(s), line };
  });
}

let elements: Element[] = [];
let legend: LegendEntry[] = [];
let marks: Element[] = [];
const lines = () => marks.filter((e) => ['mark-line', 'mark-rule'].includes(markKind(e)));
const symbols = () => marks.filter((e) => markKind(e) === 'mark-symbol');

before(async () => {
  const cluster = writeRun('cluster', (g) => ({
    filters: Math.round(70 / (1 + (9 * g) / generations)),
    kernels: Math.round(1020 / (1 + ((1020 / 105 - 1) * g) / generations)),
    accuracy: ancestor.accuracy - (1.7 * g) / generations,
  }));
  const same = (g: number): Row => ({ filters: 70 - Math.floor(g / 4), kernels: 1020 - g, accuracy: 99 + g / 100 });
  const synapse = writeRun('synapse', same);
  const magnitude = writeRun('magnitude', same);
  const file = path.join(root, 'figure.svg');
  await buildReport([cluster, synapse, magnitude], { format: 'md', plot: file });
  elements = parseSvg(fs.readFileSync(file, 'utf8'));
  legend = legendEntries(elements);
  marks = elements.filter((e) => within(e, 'role-mark') && !within(e, 'role-legend'));
});

test('the legend names each encoding, the budget and the paper', () => {
  const labels = legend.map((e) => e.label).join('\n');
  for (const name of ['cluster encoding', 'synapse encoding', 'magnitude encoding', 'budget', 'paper'])
    assert.match(labels, new RegExp(name.replace(/[()]/g, '\\$&')), name);
  assert.equal(new Set(legend.map((e) => e.style)).size, legend.length, 'each legend entry has its own style');
});

test("each legend entry is drawn in the plots in the legend's colour and dash pattern (or shape)", () => {
  for (const entry of legend) {
    const drawn = entry.line ? lines().filter((e) => lineStyle(e) === entry.style) : symbols();
    assert.ok(
      drawn.some((e) => (entry.line ? lineStyle(e) : symbolStyle(e)) === entry.style),
      `${entry.label}: legend style ${entry.style} is drawn nowhere in the plots`,
    );
  }
});

test('no legend line is everywhere covered by a later solid line drawn on the same path', () => {
  for (const entry of legend.filter((e) => e.line)) {
    const drawn = lines().filter((e) => lineStyle(e) === entry.style);
    const covered = (e: Element) =>
      lines().some(
        (later) =>
          later.order > e.order &&
          panelOf(later) === panelOf(e) &&
          later.attrs.d === e.attrs.d &&
          dash(later) === 'solid' &&
          Number(later.attrs['stroke-width'] ?? 1) >= Number(e.attrs['stroke-width'] ?? 1) &&
          Number(later.attrs.opacity ?? 1) === 1,
      );
    assert.ok(
      drawn.some((e) => !covered(e)),
      `${entry.label}: ${drawn.length} lines, all under a later line`,
    );
  }
});

test('every dashed line in the plots is one the legend explains (no reference line looks like the budget)', () => {
  const explained = new Set(legend.filter((e) => e.line).map((e) => e.style));
  const unexplained = lines().filter((e) => dash(e) !== 'solid' && !explained.has(lineStyle(e)));
  assert.deepEqual(
    unexplained.map((e) => `${panelOf(e)}: ${lineStyle(e)}`),
    [],
    'dashed lines with no legend entry',
  );
});

test("the budget is drawn above the runs' lines in its panel", () => {
  const budget = legend.find((e) => e.label.includes('budget'));
  assert.ok(budget);
  const budgetLines = lines().filter((e) => lineStyle(e) === budget.style);
  assert.ok(budgetLines.length > 0);
  for (const panel of new Set(budgetLines.map(panelOf))) {
    const runStyles = new Set(legend.filter((e) => e.line && e !== budget).map((e) => e.style));
    const runs = lines().filter((e) => panelOf(e) === panel && runStyles.has(lineStyle(e)));
    assert.ok(runs.length > 0, `${panel}: no run line`);
    const firstBudget = Math.min(...budgetLines.filter((e) => panelOf(e) === panel).map((e) => e.order));
    assert.ok(
      runs.every((e) => e.order < firstBudget),
      `${panel}: a run line is drawn after the budget`,
    );
  }
});

test('each reference line (a rule) is labelled at its height', () => {
  const rules = marks.filter((e) => markKind(e) === 'mark-rule');
  assert.ok(rules.length > 0, 'the accuracy-change panel has its zero line');
  const texts = marks.filter((e) => e.tag === 'text' && e.text.trim() !== '');
  for (const rule of rules) {
    const y = center(rule)[1];
    assert.ok(
      texts.some((t) => panelOf(t) === panelOf(rule) && Math.abs(center(t)[1] - y) < 8),
      `${panelOf(rule)}: the rule at y = ${y} has no label beside it`,
    );
  }
});

test('every panel ticks the last generation on its x axis', () => {
  const panels = new Set(marks.map(panelOf));
  assert.ok(panels.size >= 4, `${panels.size} panels`);
  for (const panel of panels) {
    const labels = elements.filter((e) => within(e, 'role-axis-label') && panelOf(e) === panel).map((e) => e.text);
    assert.ok(labels.includes(String(generations)), `${panel}: axis labels ${labels.join(' ')}`);
  }
});

test("the paper's diamond is beside the runs' last points, not over them", () => {
  const paper = legend.find((e) => !e.line);
  assert.ok(paper, 'the paper has a symbol in the legend');
  const diamonds = symbols().filter((e) => symbolStyle(e) === paper.style);
  assert.ok(diamonds.length >= 3, `${diamonds.length} diamonds (synapses, clusters, accuracy change)`);
  for (const diamond of diamonds) {
    const [x, y] = center(diamond);
    const over = symbols().filter((p) => {
      if (p === diamond || panelOf(p) !== panelOf(diamond)) return false;
      const [px, py] = center(p);
      return Math.hypot(px - x, py - y) < radius(p) + radius(diamond);
    });
    assert.equal(over.length, 0, `${panelOf(diamond)}: the diamond at ${x},${y} touches ${over.length} points`);
  }
});
