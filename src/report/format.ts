/**
 * The report as text: Markdown tables for people, CSV (one row per group and generation) and
 * JSON for scripts. The spread is min-max across a group's runs, in every format.
 */
import * as path from 'node:path';
import type { Group, GenerationSummary, Spread } from './summary';
import type { RunSummary } from './runs';
import { type PaperResult, datasetTitle } from '../paper/presets';

export const formats = ['md', 'csv', 'json'] as const;
export type Format = (typeof formats)[number];

/** The table's columns: both counts of clusters side by side, never one in place of the other. */
const columns = [
  'synapses',
  'synapseEfficiency',
  'filterEfficiency',
  'kernelEfficiency',
  'testAccuracy',
  'accuracyChange',
] as const;
type Column = (typeof columns)[number];

const headings: Record<Column, string> = {
  synapses: 'synapses',
  synapseEfficiency: 'synapse efficiency',
  filterEfficiency: 'filter efficiency',
  kernelEfficiency: 'kernel efficiency',
  testAccuracy: 'test accuracy (%)',
  accuracyChange: 'accuracy change (points)',
};

const times = (v: number) => `${v.toFixed(2)}x`;
const show: Record<Column, (v: number) => string> = {
  synapses: (v) => Math.round(v).toLocaleString('en-US'),
  synapseEfficiency: times,
  filterEfficiency: times,
  kernelEfficiency: times,
  testAccuracy: (v) => v.toFixed(2),
  accuracyChange: (v) => `${v > 0 ? '+' : ''}${v.toFixed(2)}`,
};

/** "125.09x" for one run, "125.09x (118.20x to 131.02x)" for several; "-" where nothing is left to count. */
function cell(column: Column, s: Spread, runs: number): string {
  const f = show[column];
  if (s.mean === null || s.min === null || s.max === null) return '-';
  return runs > 1 ? `${f(s.mean)} (${f(s.min)} to ${f(s.max)})` : f(s.mean);
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function tableHead(first: string[]): string[] {
  const names = [...first, ...columns.map((m) => headings[m])];
  return [row(names), row(names.map(() => '---'))];
}

/** The paper's cluster efficiency in the column of the count it most likely used (presets.ts), the other empty. */
export function paperCount(paper: PaperResult, count: 'filterEfficiency' | 'kernelEfficiency'): number | null {
  return (count === 'kernelEfficiency') === (paper.clusterCount === 'kernel') ? paper.clusterEfficiency : null;
}

function paperCells(paper: PaperResult): string[] {
  const count = (c: 'filterEfficiency' | 'kernelEfficiency') => {
    const v = paperCount(paper, c);
    return v === null ? '' : show[c](v);
  };
  return [
    '',
    show.synapseEfficiency(paper.synapseEfficiency),
    count('filterEfficiency'),
    count('kernelEfficiency'),
    '',
    show.accuracyChange(paper.accuracyChange),
  ];
}

function generationRow(g: GenerationSummary): string {
  return row([g.generation, g.runs, ...columns.map((m) => cell(m, g[m], g.runs))]);
}

/** A run folder as the reader can place it: relative to the working folder, as such paths are usually typed. */
function shownFolder(folder: string): string {
  return path.isAbsolute(folder) ? path.relative(process.cwd(), folder) || '.' : folder;
}

/** A run as listed under its group: its folder, and how far it has got if it has not reached its last generation. */
function runEntry(run: RunSummary): string {
  const last = run.points.length - 1;
  const where = `\`${shownFolder(run.folder)}\``;
  if (last < 0) return `${where} (no generation record yet)`;
  return last < run.generations ? `${where} (generations 0..${last} of ${run.generations} so far)` : where;
}

function groupSection(group: Group): string {
  const seeds = group.runs.map((r) => r.seed).join(', ');
  const s = group.runs.length === 1 ? '' : 's';
  const lines = [
    `### ${group.label}: ${group.runs.length} run${s} (seed${s} ${seeds})`,
    '',
    `Runs: ${group.runs.map(runEntry).join(', ')}.`,
    ...(group.runs.length > 1 ? ['Each cell: mean (min to max) over the runs that reached the generation.'] : []),
  ];
  if (group.generations.length === 0) return lines.join('\n');
  lines.push('', ...tableHead(['generation', 'runs']), ...group.generations.map(generationRow));
  if (group.paper)
    lines.push(
      row([`paper (cluster encoding), generation ${group.paper.generations}`, '', ...paperCells(group.paper)]),
    );
  return lines.join('\n');
}

/** The last generation of every group side by side, with the paper's row per data set. */
function finalTable(groups: Group[]): string {
  const withOptions = groups.some((g) => g.differences.length > 0);
  const first = ['data set', 'ancestor', 'encoding', ...(withOptions ? ['options'] : []), 'runs', 'generation'];
  const lines = ['### Last generation, side by side', '', ...tableHead(first)];
  const papers = new Map<string, PaperResult>();
  for (const group of groups) {
    const g = group.generations[group.generations.length - 1];
    if (!g) continue;
    const options = withOptions ? [group.differences.join(' ')] : [];
    lines.push(
      row([
        datasetTitle(group.dataset),
        group.arch,
        group.encoding,
        ...options,
        g.runs,
        g.generation,
        ...columns.map((m) => cell(m, g[m], g.runs)),
      ]),
    );
    if (group.paper) papers.set(group.dataset, group.paper);
  }
  for (const [dataset, paper] of papers) {
    const options = withOptions ? [''] : [];
    lines.push(
      row([
        datasetTitle(dataset),
        paper.arch,
        'paper (cluster)',
        ...options,
        '',
        paper.generations,
        ...paperCells(paper),
      ]),
    );
  }
  return lines.join('\n');
}

const intro =
  'Synapse efficiency: ancestor / this generation, in live synapses. Filter efficiency: the same in conv filters ' +
  '(hidden neurons in a network without convs); kernel efficiency: in 2-D conv kernels, one per input channel and ' +
  'filter. "-": nothing left to count. Accuracy change: this generation minus the ancestor, in points. ' +
  'Paper: Shafiee & Wong, arXiv:1609.01360, Table 1; its cluster efficiency stands under the count it most likely ' +
  'used, 2-D kernels (LeNet-5: 1,020 / 105 = 9.71).';

export function formatMarkdown(groups: Group[]): string {
  const sections = groups.map(groupSection);
  const parts = [intro, ...(groups.length > 1 ? [finalTable(groups)] : []), ...sections];
  return `${parts.join('\n\n')}\n`;
}

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const csvHeader = [
  'dataset',
  'arch',
  'encoding',
  'options',
  'generation',
  'runs',
  ...columns.flatMap((m) => ['mean', 'min', 'max'].map((s) => `${m}_${s}`)),
  'paper_generation',
  'paper_synapseEfficiency',
  'paper_filterEfficiency',
  'paper_kernelEfficiency',
  'paper_accuracyChange',
];

/**
 * One row per group and generation (an empty field: nothing to count); the paper's columns are
 * filled on each group's last row, its cluster efficiency under the count it most likely used.
 */
export function formatCsv(groups: Group[]): string {
  const rows = groups.flatMap((group) =>
    group.generations.map((g, i) => {
      const paper = i === group.generations.length - 1 ? group.paper : undefined;
      return [
        group.dataset,
        group.arch,
        group.encoding,
        group.differences.join(' '),
        g.generation,
        g.runs,
        ...columns.flatMap((m) => [g[m].mean, g[m].min, g[m].max]),
        paper?.generations ?? null,
        paper?.synapseEfficiency ?? null,
        paper ? paperCount(paper, 'filterEfficiency') : null,
        paper ? paperCount(paper, 'kernelEfficiency') : null,
        paper?.accuracyChange ?? null,
      ];
    }),
  );
  const lines = [csvHeader, ...rows].map((r) => r.map(csvField).join(','));
  return `${lines.join('\n')}\n`;
}

function jsonPaper(paper: PaperResult | undefined) {
  if (!paper) return null;
  const counts = {
    filterEfficiency: paperCount(paper, 'filterEfficiency'),
    kernelEfficiency: paperCount(paper, 'kernelEfficiency'),
  };
  return { ...paper, ...counts };
}

export function formatJson(groups: Group[]): string {
  const json = JSON.stringify({
    spread: 'min-max',
    groups: groups.map((g) => ({
      dataset: g.dataset,
      arch: g.arch,
      encoding: g.encoding,
      label: g.label,
      differences: g.differences,
      options: g.runs[0].experiment,
      runs: g.runs.map((r) => ({
        folder: r.folder,
        seed: r.seed,
        generations: r.generations,
        lastGeneration: r.points.length - 1,
      })),
      generations: g.generations,
      paper: jsonPaper(g.paper),
    })),
  });
  return `${json}\n`;
}

export function formatReport(groups: Group[], format: Format): string {
  return format === 'csv' ? formatCsv(groups) : format === 'json' ? formatJson(groups) : formatMarkdown(groups);
}
