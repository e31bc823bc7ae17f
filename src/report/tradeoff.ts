/**
 * The report's trade-off figure: test accuracy change against (a) synapse efficiency and (b) filter
 * efficiency, both on log scales. One curve per group, one point per generation from the ancestor
 * (1x, 0) to the last generation (a larger point): where a setting pays for its efficiency in
 * accuracy. Each point is the mean over the group's runs (its seeds) that reached its generation, as
 * in the report's tables; open where some of them have not reached it yet. Colours, dash patterns,
 * the zero line, the paper's diamond and the rendering are the generation figure's (plot.ts).
 */
import type { GenerationSummary, Group } from './summary';
import { datasetTitle } from '../paper/presets';
import {
  type Spec,
  figureConfig,
  legendLabel,
  logTicks,
  paperLayers,
  renderSpec,
  seriesEncodings,
  zeroLayers,
} from './plot';

type Efficiency = 'synapseEfficiency' | 'filterEfficiency';

interface TradeoffPanel {
  metric: Efficiency;
  title: string;
  axis: string;
  /** Whether the paper counted this: it gave synapses, not filters. */
  paper: boolean;
}

const panels: TradeoffPanel[] = [
  {
    metric: 'synapseEfficiency',
    title: '(a) against synapse efficiency',
    axis: 'fewer synapses (×, log)',
    paper: true,
  },
  {
    metric: 'filterEfficiency',
    title: '(b) against filter efficiency',
    axis: 'fewer conv filters (×, log; hidden neurons without convs)',
    paper: false,
  },
];

const accuracyAxis = 'test accuracy change vs ancestor (points)';
const paperLegend = 'paper (arXiv:1609.01360), last generation';

/** A point per generation, the last larger; filled where every seed has reached it, open where some have not. */
const pointStyles: { rows: (r: CurveRow) => boolean; style: Spec }[] = [
  { rows: (r) => r.complete, style: { size: 20, filled: true } },
  { rows: (r) => !r.complete, style: { size: 20, filled: false, fill: 'white', strokeWidth: 1.5 } },
  { rows: (r) => r.last && r.complete, style: { size: 110, filled: true, stroke: 'white', strokeWidth: 1 } },
  { rows: (r) => r.last && !r.complete, style: { size: 110, filled: false, fill: 'white', strokeWidth: 2.5 } },
];

/** Whether every run of the group with a record has reached the generation (its mean is over all of them). */
function complete(group: Group, g: GenerationSummary): boolean {
  return g.runs === group.runs.filter((r) => r.points.length > 0).length;
}

/** A point of a group's curve: the group's means at one generation. */
interface CurveRow {
  series: string;
  generation: number;
  x: number;
  y: number;
  /** Every run of the group with a record has reached this generation. */
  complete: boolean;
  last: boolean;
}

/** Per group and generation: the mean efficiency (x) and accuracy change (y); none where nothing is left. */
function curveRows(groups: Group[], metric: Efficiency): CurveRow[] {
  return groups.flatMap((group) => {
    const last = group.generations.length - 1;
    return group.generations
      .filter((g) => g[metric].mean !== null && g.accuracyChange.mean !== null)
      .map((g) => ({
        series: legendLabel(group, groups),
        generation: g.generation,
        x: g[metric].mean as number,
        y: g.accuracyChange.mean as number,
        complete: complete(group, g),
        last: g.generation === last,
      }));
  });
}

type PaperPoint = { mark: string; x: number; y: number; text: string };

/** The paper's final synapse efficiency and accuracy change, once per data set it ran on these ancestors. */
function paperRows(groups: Group[]): PaperPoint[] {
  const seen = new Map<string, PaperPoint>();
  const several = new Set(groups.filter((g) => g.paper).map((g) => g.dataset)).size > 1;
  for (const { paper, dataset } of groups) {
    if (!paper) continue;
    const text = `${paper.synapseEfficiency.toFixed(2)}×, ${paper.accuracyChange.toFixed(1).replace('-', '−')}`;
    seen.set(dataset, {
      mark: paperLegend,
      x: paper.synapseEfficiency,
      y: paper.accuracyChange,
      text: several ? `${datasetTitle(dataset)} ${text}` : text,
    });
  }
  return [...seen.values()];
}

/** Circles in their group's colour, one per row. */
function pointLayer(rows: CurveRow[], { x, y, color }: Record<'x' | 'y' | 'color', Spec>, style: Spec): Spec {
  return { data: { values: rows }, mark: { type: 'point', opacity: 1, ...style }, encoding: { x, y, color } };
}

/** Zero line, then each group's curve with a point per generation, its last point larger, then the paper. */
function panelSpec(groups: Group[], panel: TradeoffPanel): Spec {
  const curves = curveRows(groups, panel.metric);
  const paper = panel.paper ? paperRows(groups) : [];
  const ticks = logTicks(Math.max(2, ...[...curves, ...paper].map((r) => r.x)));
  const x = {
    field: 'x',
    type: 'quantitative',
    title: panel.axis,
    scale: { type: 'log', domain: [1, ticks[ticks.length - 1]], nice: false },
    axis: { values: ticks, format: ',' },
  };
  const y = { field: 'y', type: 'quantitative', title: accuracyAxis, scale: { zero: false }, axis: { tickCount: 6 } };
  const { color, strokeDash } = seriesEncodings(groups, false);
  return {
    title: { text: panel.title, fontSize: 12, fontWeight: 'bold', anchor: 'start' },
    width: 330,
    height: 260,
    layer: [
      ...zeroLayers(),
      {
        data: { values: curves },
        mark: { type: 'line', strokeWidth: 2 },
        // In generation order, not along x: a generation that lost efficiency turns the curve back.
        encoding: { x, y, color, strokeDash, order: { field: 'generation' } },
      },
      ...pointStyles.map(({ rows, style }) => pointLayer(curves.filter(rows), { x, y, color }, style)),
      ...paperLayers(paper, x, y, 0),
    ],
  };
}

/** The trade-off figure as a vega-lite spec: the two panels side by side, sharing the accuracy axis. */
export function tradeoffSpec(groups: Group[]): Spec {
  const experiments = [...new Set(groups.map((g) => `${datasetTitle(g.dataset)} (${g.arch})`))];
  const partial = groups.some((group) => group.generations.some((g) => !complete(group, g)));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Test accuracy change against efficiency: ${experiments.join(', ')}`,
      subtitle: [
        'Mean over seeds; one point per generation, from the ancestor at (1×, 0) to the last generation (large point).',
        ...(partial
          ? ['Open point: a generation not every seed of its group has reached yet (mean over those that have).']
          : []),
      ],
    },
    hconcat: panels.map((p) => panelSpec(groups, p)),
    resolve: { scale: { y: 'shared', color: 'shared', shape: 'shared', strokeDash: 'shared' } },
    config: figureConfig,
  };
}

export function renderTradeoffSvg(groups: Group[]): Promise<string> {
  return renderSpec(tradeoffSpec(groups));
}
