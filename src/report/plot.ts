/**
 * The report's figure: synapse and cluster efficiency (log scale), test accuracy and its change
 * against generation, one colour per group with its mean line and its min-max band across runs,
 * and the paper's final numbers as black diamonds. A vega-lite spec, compiled to vega, rendered
 * to SVG by vega's headless view, and to PNG by resvg with a font shipped in an npm package, so
 * the text renders the same on a machine without system fonts.
 */
import type { Group, Metric } from './summary';
import { datasetTitle } from '../paper/presets';
import { vegaTextWidth } from './fontMetrics';

type Spec = Record<string, unknown>;

interface VegaLite {
  compile(spec: Spec): { spec: Spec };
}
interface Vega {
  parse(spec: Spec): unknown;
  textMetrics: { width: (item: object, text?: unknown) => number };
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}

// vega and vega-lite ship ES modules only; TypeScript compiles a plain import() to require() here.
const importModule = new Function('specifier', 'return import(specifier)') as <T>(specifier: string) => Promise<T>;

const font = 'DejaVu Sans';

interface Panel {
  metric: Exclude<Metric, 'synapses'>;
  title: string;
  axis: string;
  log: boolean;
}

const panels: Panel[] = [
  { metric: 'synapseEfficiency', title: '(a) Synapse efficiency', axis: 'fewer synapses (×, log)', log: true },
  { metric: 'clusterEfficiency', title: '(b) Cluster efficiency', axis: 'fewer conv clusters (×, log)', log: true },
  { metric: 'testAccuracy', title: '(c) Test accuracy', axis: 'top-1 test accuracy (%)', log: false },
  { metric: 'accuracyChange', title: '(d) Test accuracy change', axis: 'change vs ancestor (points)', log: false },
];

const paperLegend = 'paper (arXiv:1609.01360), last generation';

/** The legend's name of a group: its encoding alone when the title already names the data set and ancestor. */
function legendLabel(group: Group, groups: Group[]): string {
  const oneExperiment = new Set(groups.map((g) => `${g.dataset} ${g.arch}`)).size === 1;
  return oneExperiment
    ? `${group.encoding} encoding (${group.runs.length} run${group.runs.length === 1 ? '' : 's'})`
    : group.label;
}

/** Per group and generation: mean, min and max of the panel's metric. */
function bandRows(groups: Group[], metric: Panel['metric']): Spec[] {
  return groups.flatMap((group) =>
    group.generations.map((g) => ({
      group: legendLabel(group, groups),
      generation: g.generation,
      mean: g[metric].mean,
      min: g[metric].min,
      max: g[metric].max,
    })),
  );
}

function paperRows(groups: Group[], metric: Panel['metric']): Spec[] {
  const seen = new Map<string, Spec>();
  const several = new Set(groups.filter((g) => g.paper).map((g) => g.dataset)).size > 1;
  for (const { paper, dataset } of groups) {
    if (!paper || metric === 'testAccuracy') continue;
    const value = paper[metric];
    const text = metric === 'accuracyChange' ? value.toFixed(1).replace('-', '−') : `${value.toFixed(2)}×`;
    seen.set(dataset, {
      mark: paperLegend,
      generation: paper.generations,
      value,
      text: several ? `${datasetTitle(dataset)} ${text}` : text,
    });
  }
  return [...seen.values()];
}

const budgetLegend = 'budget: (1/F)^generation';

/** Per group, the synapse efficiency its budget F asks for at each generation (efficiency panel only). */
function budgetRows(groups: Group[], metric: Panel['metric']): Spec[] {
  if (metric !== 'synapseEfficiency') return [];
  return groups
    .filter((g) => g.synapseFactor !== undefined)
    .flatMap((group) =>
      group.generations.map((g) => ({
        group: legendLabel(group, groups),
        kind: budgetLegend,
        generation: g.generation,
        value: (1 / group.synapseFactor!) ** g.generation,
      })),
    );
}

/** 1, 2, 5, 10, 20, 50, ...: a log axis's ticks, up to the first at or above `max`. */
function logTicks(max: number): number[] {
  const ticks = [1];
  for (let decade = 1; ticks[ticks.length - 1] < max && decade < 1e9; decade *= 10)
    ticks.push(2 * decade, 5 * decade, 10 * decade);
  return ticks.filter((_t, i) => i === 0 || ticks[i - 1] < max);
}

/** The y encoding; log panels get 1-2-5 ticks from 1 to just above the largest value. */
function yEncoding(panel: Panel, values: number[]): Spec {
  if (!panel.log) return { type: 'quantitative', title: panel.axis, scale: { zero: false }, axis: { tickCount: 6 } };
  // A network with no synapse left has an infinite efficiency (null in the records): it sets no scale.
  const ticks = logTicks(Math.max(2, ...values.filter(Number.isFinite)));
  return {
    type: 'quantitative',
    title: panel.axis,
    scale: { type: 'log', domain: [1, ticks[ticks.length - 1]], nice: false },
    axis: { values: ticks, format: ',' },
  };
}

/** A black diamond per data set, labelled with its value to its right, outside the plot. */
function paperLayers(rows: Spec[], x: Spec, y: Spec): Spec[] {
  if (rows.length === 0) return [];
  const data = { values: rows };
  const shape = { field: 'mark', type: 'nominal', title: null, scale: { range: ['diamond'] } };
  return [
    {
      data,
      mark: { type: 'point', filled: true, color: 'black', opacity: 1, size: 90 },
      encoding: { x, y: { ...y, field: 'value' }, shape },
    },
    {
      data,
      mark: { type: 'text', align: 'left', baseline: 'middle', dx: 9, fontSize: 10.5, font },
      encoding: { x, y: { ...y, field: 'value' }, text: { field: 'text' } },
    },
  ];
}

/** The dashed budget line of each group, with its own legend entry. */
function budgetLayer(rows: Spec[], x: Spec, y: Spec, color: Spec): Spec {
  const strokeDash = {
    field: 'kind',
    type: 'nominal',
    title: null,
    scale: { range: [[5, 4]] },
    legend: { symbolType: 'stroke', symbolStrokeColor: '#555', symbolSize: 300 },
  };
  return {
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 1.2, opacity: 0.8 },
    encoding: { x, y: { ...y, field: 'value' }, color, detail: { field: 'group' }, strokeDash },
  };
}

function panelSpec(groups: Group[], panel: Panel, lastGeneration: number): Spec {
  const x = {
    field: 'generation',
    type: 'quantitative',
    title: 'generation',
    scale: { domain: [0, lastGeneration], nice: false },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const bandValues = bandRows(groups, panel.metric);
  const paper = paperRows(groups, panel.metric);
  const budget = budgetRows(groups, panel.metric);
  const values = [
    ...bandValues.flatMap((r) => [r.min, r.max]),
    ...paper.map((r) => r.value),
    ...budget.map((r) => r.value),
  ] as number[];
  const y = yEncoding(panel, values);
  const color = {
    field: 'group',
    type: 'nominal',
    title: null,
    scale: { scheme: 'category10' },
    legend: { symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolSize: 300, symbolOpacity: 1 },
  };
  const bands = { values: bandValues };
  const layers: Spec[] = [
    {
      data: bands,
      mark: { type: 'area', opacity: 0.2 },
      encoding: { x, y: { ...y, field: 'min' }, y2: { field: 'max' }, color },
    },
    {
      data: bands,
      mark: { type: 'line', strokeWidth: 1.8, point: { size: 22, filled: true } },
      encoding: { x, y: { ...y, field: 'mean' }, color },
    },
  ];
  if (budget.length > 0) layers.unshift(budgetLayer(budget, x, y, color));
  if (panel.metric === 'accuracyChange') {
    layers.unshift({
      data: { values: [{ zero: 0 }] },
      mark: { type: 'rule', color: '#888', strokeDash: [4, 3] },
      encoding: { y: { field: 'zero', type: 'quantitative' } },
    });
  }
  layers.push(...paperLayers(paper, x, y));
  return {
    title: { text: panel.title, fontSize: 12, fontWeight: 'bold', anchor: 'start' },
    width: 290,
    height: 200,
    layer: layers,
  };
}

/** The whole figure as a vega-lite spec (exported for tests and for anyone who wants to restyle it). */
export function figureSpec(groups: Group[]): Spec {
  const lastGeneration = Math.max(...groups.flatMap((g) => [g.generations.length - 1, g.paper?.generations ?? 0]), 1);
  const runs = groups.reduce((n, g) => n + g.runs.length, 0);
  const experiments = [...new Set(groups.map((g) => `${datasetTitle(g.dataset)} (${g.arch})`))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Evolutionary synthesis on ${experiments.join(', ')}`,
      subtitle: runs === 1 ? '1 run' : `${runs} runs: line, mean; band, min to max across the runs of a group`,
    },
    // A 2x2 grid: the panels' plot areas line up in rows and columns.
    columns: 2,
    concat: panels.map((p) => panelSpec(groups, p, lastGeneration)),
    resolve: { scale: { color: 'shared', shape: 'shared', strokeDash: 'shared' } },
    config: {
      font,
      background: 'white',
      padding: 12,
      view: { stroke: null },
      axis: {
        labelFontSize: 11,
        titleFontSize: 11,
        titleFontWeight: 'normal',
        gridColor: '#e8e8e8',
        domainColor: '#333',
        tickColor: '#333',
        labelColor: '#222',
        titleColor: '#222',
      },
      legend: { orient: 'bottom', direction: 'vertical', labelFontSize: 11, symbolStrokeWidth: 2, labelLimit: 400 },
      title: {
        fontSize: 14,
        subtitleFontSize: 11,
        subtitleColor: '#444',
        anchor: 'start',
        fontWeight: 'bold',
        offset: 8,
      },
      concat: { spacing: 30 },
    },
  };
}

export async function renderSvg(groups: Group[]): Promise<string> {
  const vegaLite = await importModule<VegaLite>('vega-lite');
  const vega = await importModule<Vega>('vega');
  vega.textMetrics.width = vegaTextWidth;
  const view = new vega.View(vega.parse(vegaLite.compile(figureSpec(groups)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG rasterised at `zoom`, white background, text in the shipped DejaVu Sans and nothing else. */
export async function rasterise(
  svg: string,
  zoom = 2,
): Promise<{ width: number; height: number; pixels: Buffer; asPng(): Buffer }> {
  const { Resvg } = await import('@resvg/resvg-js');
  // System fonts differ between machines (and a fresh CI machine may have none): the figure uses only these.
  const fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`));
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: zoom },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles, defaultFontFamily: font, sansSerifFamily: font },
  });
  return resvg.render();
}

/** The SVG at twice its size (about 1600 px wide), as PNG bytes. */
export async function renderPng(svg: string): Promise<Uint8Array> {
  return (await rasterise(svg)).asPng();
}
