/**
 * The report's figure, against generation: (a) synapse efficiency, cluster efficiency counted in
 * (b) conv filters and (c) 2-D conv kernels (log scales), (d) test accuracy and (e) its change. Each
 * group has its own colour and dash pattern: its mean as a line with points, and a band from the
 * min to the max across its runs. Panel (a) draws each group's budget (1/F)^generation grey and
 * dashed, above the runs; the zero line of (e) is solid and labelled. The paper's final numbers are
 * black diamonds just right of its last generation, labelled with their values. A vega-lite spec,
 * compiled to vega, rendered to SVG by vega's headless view, and to PNG by resvg with a font
 * shipped in an npm package, so the text renders the same on a machine without system fonts.
 */
import type { Group } from './summary';
import type { RunPoint } from './runs';
import { type PaperResult, datasetTitle } from '../paper/presets';
import { vegaTextWidth } from './fontMetrics';

export type Spec = Record<string, unknown>;

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

export const font = 'DejaVu Sans';

type PlotMetric = keyof Pick<
  RunPoint,
  'synapseEfficiency' | 'filterEfficiency' | 'kernelEfficiency' | 'testAccuracy' | 'accuracyChange'
>;

interface Panel {
  metric: PlotMetric;
  title: string;
  axis: string;
  log: boolean;
  /** The paper's number drawn in this panel, if any. */
  paper?: Exclude<keyof PaperResult, 'arch' | 'generations' | 'clusterCount'>;
}

/**
 * Two rows: the efficiencies, then the accuracies. The paper's cluster efficiency is drawn against
 * kernels: for LeNet-5 its 9.71x is exactly 1,020 / 105 kernels, and no whole number of the 70
 * filters gives it.
 */
const rows: { width: number; panels: Panel[] }[] = [
  {
    width: 235,
    panels: [
      {
        metric: 'synapseEfficiency',
        title: '(a) Synapse efficiency',
        axis: 'fewer synapses (×, log)',
        log: true,
        paper: 'synapseEfficiency',
      },
      {
        metric: 'filterEfficiency',
        title: '(b) Cluster efficiency: filters',
        axis: 'fewer conv filters (×, log)',
        log: true,
      },
      {
        metric: 'kernelEfficiency',
        title: '(c) Cluster efficiency: kernels',
        axis: 'fewer 2-D conv kernels (×, log)',
        log: true,
        paper: 'clusterEfficiency',
      },
    ],
  },
  {
    width: 395,
    panels: [
      { metric: 'testAccuracy', title: '(d) Test accuracy', axis: 'top-1 test accuracy (%)', log: false },
      {
        metric: 'accuracyChange',
        title: '(e) Test accuracy change',
        axis: 'change vs ancestor (points)',
        log: false,
        paper: 'accuracyChange',
      },
    ],
  },
];

const paperLegend = 'paper (arXiv:1609.01360), last generation; its cluster efficiency in (c)';
const budgetLegend = 'budget: (1/F)^generation';

/** Tableau's ten colours without its grey, which is the budget's; and one dash pattern per group. */
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#bcbd22', '#17becf'];
const dashes = [
  [1, 0],
  [8, 3],
  [2, 2],
  [8, 2, 2, 2],
  [1, 4],
  [12, 4],
];
const budgetStyle = { color: '#444', dash: [4, 3] };

/**
 * The legend's name of a group. When the title already names the data set and ancestor: what sets
 * it apart from the other groups, its encoding (where the encodings differ or nothing else does)
 * and its options, and its number of runs; groups that differ only in options never share a name.
 */
export function legendLabel(group: Group, groups: Group[]): string {
  const oneExperiment = new Set(groups.map((g) => `${g.dataset} ${g.arch}`)).size === 1;
  if (!oneExperiment) return group.label;
  const encodings = new Set(groups.map((g) => g.encoding)).size > 1 || group.differences.length === 0;
  const options = group.differences.length > 0 ? [group.differences.join(' ')] : [];
  const parts = [...(encodings ? [`${group.encoding} encoding`] : []), ...options];
  return `${parts.join(', ')} (${group.runs.length} run${group.runs.length === 1 ? '' : 's'})`;
}

/**
 * The series (each group, and the budget if any group has one) with their colours and dash
 * patterns: one scale for both, so the legend shows each entry as it is drawn.
 */
export function seriesEncodings(groups: Group[], budget = true): { color: Spec; strokeDash: Spec } {
  const domain = groups.map((g) => legendLabel(g, groups));
  const colors = domain.map((_l, i) => palette[i % palette.length]);
  const dashRange = domain.map((_l, i) => dashes[i % dashes.length]);
  if (budget && groups.some((g) => g.synapseFactor !== undefined)) {
    domain.push(budgetLegend);
    colors.push(budgetStyle.color);
    dashRange.push(budgetStyle.dash);
  }
  // A stroke 30 px long: long enough to show a dash pattern, and no taller than a label.
  const legend = { symbolType: 'M-1,0L3,0', symbolSize: 225, symbolStrokeWidth: 2, symbolOpacity: 1, labelOffset: 20 };
  return {
    color: { field: 'series', type: 'nominal', title: null, scale: { domain, range: colors }, legend },
    strokeDash: { field: 'series', type: 'nominal', title: null, scale: { domain, range: dashRange }, legend },
  };
}

/** Mean, min and max of a metric over the runs that reached the generation (the report's spread). */
function spreadRow(group: Group, generation: number, metric: PlotMetric): Spec {
  const values = group.runs
    .map((r) => r.points[generation]?.[metric])
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return {
    generation,
    mean: values.reduce((a, v) => a + v, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** Per group and generation: mean, min and max of the panel's metric. */
function bandRows(groups: Group[], metric: PlotMetric): Spec[] {
  return groups.flatMap((group) =>
    group.generations.map((g) => ({
      series: legendLabel(group, groups),
      ...spreadRow(group, g.generation, metric),
    })),
  );
}

function paperRows(groups: Group[], panel: Panel): Spec[] {
  const seen = new Map<string, Spec>();
  const several = new Set(groups.filter((g) => g.paper).map((g) => g.dataset)).size > 1;
  for (const { paper, dataset } of groups) {
    if (!paper || panel.paper === undefined) continue;
    const value = paper[panel.paper];
    const text = panel.paper === 'accuracyChange' ? value.toFixed(1).replace('-', '−') : `${value.toFixed(2)}×`;
    seen.set(dataset, {
      mark: paperLegend,
      generation: paper.generations,
      value,
      text: several ? `${datasetTitle(dataset)} ${text}` : text,
    });
  }
  return [...seen.values()];
}

/** Per group, the synapse efficiency its budget F asks for at each generation (synapse panel only). */
function budgetRows(groups: Group[], metric: PlotMetric): Spec[] {
  if (metric !== 'synapseEfficiency') return [];
  return groups
    .filter((g) => g.synapseFactor !== undefined)
    .flatMap((group) =>
      group.generations.map((g) => ({
        group: legendLabel(group, groups),
        series: budgetLegend,
        generation: g.generation,
        value: (1 / group.synapseFactor!) ** g.generation,
      })),
    );
}

/** 1, 2, 5, 10, 20, 50, ...: a log axis's ticks, up to the first at or above `max`. */
export function logTicks(max: number): number[] {
  const ticks = [1];
  for (let decade = 1; ticks[ticks.length - 1] < max && decade < 1e9; decade *= 10)
    ticks.push(2 * decade, 5 * decade, 10 * decade);
  return ticks.filter((_t, i) => i === 0 || ticks[i - 1] < max);
}

/** Every `step` generations from 0, and the last one always (a regular tick too close to it gives way). */
export function generationTicks(last: number): number[] {
  const step = Math.max(1, Math.ceil(last / 7));
  const ticks: number[] = [];
  for (let g = 0; g <= last - step; g += step) ticks.push(g);
  return [...ticks, last];
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

/** Pixels between the last generation and the paper's diamond: beside the runs' last points, never over them. */
const paperOffset = 13;

/**
 * The paper's numbers: a black diamond per row, `offset` pixels right of where x and y put it, labelled
 * with its `text` to its right; the legend names it by the rows' `mark`.
 */
export function paperLayers(rows: Spec[], x: Spec, y: Spec, offset: number): Spec[] {
  if (rows.length === 0) return [];
  const data = { values: rows };
  const shape = { field: 'mark', type: 'nominal', title: null, scale: { range: ['diamond'] } };
  return [
    {
      data,
      mark: { type: 'point', filled: true, color: 'black', opacity: 1, size: 80, xOffset: offset },
      encoding: { x, y, shape },
    },
    {
      data,
      mark: { type: 'text', align: 'left', baseline: 'middle', dx: offset + 8, fontSize: 10.5, font },
      encoding: { x, y, text: { field: 'text' } },
    },
  ];
}

/** The accuracy-change zero line, thin, solid and labelled "ancestor" outside the plot, under the runs. */
export function zeroLayers(): Spec[] {
  const data = { values: [{ zero: 0, text: 'ancestor' }] };
  const y = { field: 'zero', type: 'quantitative' };
  return [
    { data, mark: { type: 'rule', color: '#999', strokeWidth: 1 }, encoding: { y } },
    {
      data,
      mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 10, color: '#666', font },
      encoding: { x: { value: 'width' }, y, text: { field: 'text' } },
    },
  ];
}

/** Bands, then mean lines with their points, then the budget above them, then the paper's diamonds. */
function panelSpec(groups: Group[], panel: Panel, width: number, lastGeneration: number): Spec {
  const x = {
    field: 'generation',
    type: 'quantitative',
    title: 'generation',
    scale: { domain: [0, lastGeneration], nice: false },
    axis: { values: generationTicks(lastGeneration), format: 'd' },
  };
  const bandValues = bandRows(groups, panel.metric);
  const paper = paperRows(groups, panel);
  const budget = budgetRows(groups, panel.metric);
  const values = [
    ...bandValues.flatMap((r) => [r.min, r.max]),
    ...paper.map((r) => r.value),
    ...budget.map((r) => r.value),
  ] as number[];
  const y = yEncoding(panel, values);
  const { color, strokeDash } = seriesEncodings(groups);
  const bands = { values: bandValues };
  const layers: Spec[] = [
    ...(panel.metric === 'accuracyChange' ? zeroLayers() : []),
    {
      data: bands,
      mark: { type: 'area', opacity: 0.18 },
      encoding: { x, y: { ...y, field: 'min' }, y2: { field: 'max' }, color },
    },
    {
      data: bands,
      mark: { type: 'line', strokeWidth: 2, point: { size: 18, filled: true } },
      encoding: { x, y: { ...y, field: 'mean' }, color, strokeDash },
    },
  ];
  if (budget.length > 0)
    layers.push({
      data: { values: budget },
      mark: { type: 'line', strokeWidth: 1.2 },
      encoding: { x, y: { ...y, field: 'value' }, color, strokeDash, detail: { field: 'group' } },
    });
  layers.push(...paperLayers(paper, x, { ...y, field: 'value' }, paperOffset));
  return {
    title: { text: panel.title, fontSize: 12, fontWeight: 'bold', anchor: 'start' },
    width,
    height: 200,
    layer: layers,
  };
}

/** Fonts, sizes and colours every figure of the report shares. */
export const figureConfig: Spec = {
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
  legend: { orient: 'bottom', direction: 'vertical', labelFontSize: 11, labelLimit: 1000 },
  title: {
    fontSize: 14,
    subtitleFontSize: 11,
    subtitleColor: '#444',
    anchor: 'start',
    fontWeight: 'bold',
    offset: 8,
  },
  concat: { spacing: 24 },
};

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
    vconcat: rows.map((row) => ({
      hconcat: row.panels.map((p) => panelSpec(groups, p, row.width, lastGeneration)),
    })),
    resolve: { scale: { color: 'shared', shape: 'shared', strokeDash: 'shared' } },
    config: figureConfig,
  };
}

/** Any of the report's vega-lite specs as SVG, text measured as resvg will draw it. */
export async function renderSpec(spec: Spec): Promise<string> {
  const vegaLite = await importModule<VegaLite>('vega-lite');
  const vega = await importModule<Vega>('vega');
  vega.textMetrics.width = vegaTextWidth;
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function renderSvg(groups: Group[]): Promise<string> {
  return renderSpec(figureSpec(groups));
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

/** The SVG at twice its size (about 2000 px wide), as PNG bytes. */
export async function renderPng(svg: string): Promise<Uint8Array> {
  return (await rasterise(svg)).asPng();
}
