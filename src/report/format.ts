/**
 * The report as text: Markdown tables for people, CSV (one row per group and generation) and
 * JSON for scripts. The spread is min-max across a group's runs, in every format.
 */
import * as path from 'node:path';
import { type Group, type GenerationSummary, type Metric, type Spread, metrics } from './summary';
import { type PaperResult, datasetTitle } from '../paper/presets';

export const formats = ['md', 'csv', 'json'] as const;
export type Format = (typeof formats)[number];

const headings: Record<Metric, string> = {
  synapses: 'synapses',
  synapseEfficiency: 'synapse efficiency',
  clusterEfficiency: 'cluster efficiency',
  testAccuracy: 'test accuracy (%)',
  accuracyChange: 'accuracy change (points)',
};

const show: Record<Metric, (v: number) => string> = {
  synapses: (v) => Math.round(v).toLocaleString('en-US'),
  synapseEfficiency: (v) => `${v.toFixed(2)}x`,
  clusterEfficiency: (v) => `${v.toFixed(2)}x`,
  testAccuracy: (v) => v.toFixed(2),
  accuracyChange: (v) => `${v > 0 ? '+' : ''}${v.toFixed(2)}`,
};

/** "125.09x" for one run, "125.09x (118.20x to 131.02x)" for several. */
function cell(metric: Metric, s: Spread, runs: number): string {
  const f = show[metric];
  return runs > 1 ? `${f(s.mean)} (${f(s.min)} to ${f(s.max)})` : f(s.mean);
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function tableHead(first: string[]): string[] {
  const names = [...first, ...metrics.map((m) => headings[m])];
  return [row(names), row(names.map(() => '---'))];
}

function paperCells(paper: PaperResult): string[] {
  return [
    '',
    show.synapseEfficiency(paper.synapseEfficiency),
    show.clusterEfficiency(paper.clusterEfficiency),
    '',
    show.accuracyChange(paper.accuracyChange),
  ];
}

function generationRow(g: GenerationSummary): string {
  return row([g.generation, g.runs, ...metrics.map((m) => cell(m, g[m], g.runs))]);
}

/** A run folder as the reader can place it: relative to the working folder, as such paths are usually typed. */
function shownFolder(folder: string): string {
  return path.isAbsolute(folder) ? path.relative(process.cwd(), folder) || '.' : folder;
}

function groupSection(group: Group): string {
  const seeds = group.runs.map((r) => r.seed).join(', ');
  const s = group.runs.length === 1 ? '' : 's';
  const lines = [
    `### ${group.label}: ${group.runs.length} run${s} (seed${s} ${seeds})`,
    '',
    `Runs: ${group.runs.map((r) => `\`${shownFolder(r.folder)}\``).join(', ')}.`,
    ...(group.runs.length > 1 ? ['Each cell: mean (min to max) over the runs that reached the generation.'] : []),
    '',
    ...tableHead(['generation', 'runs']),
    ...group.generations.map(generationRow),
  ];
  if (group.paper)
    lines.push(
      row([`paper (cluster encoding), generation ${group.paper.generations}`, '', ...paperCells(group.paper)]),
    );
  return lines.join('\n');
}

/** The last generation of every group side by side, with the paper's row per data set. */
function finalTable(groups: Group[]): string {
  const lines = [
    '### Last generation, side by side',
    '',
    ...tableHead(['data set', 'ancestor', 'encoding', 'runs', 'generation']),
  ];
  const papers = new Map<string, PaperResult>();
  for (const group of groups) {
    const g = group.generations[group.generations.length - 1];
    lines.push(
      row([
        datasetTitle(group.dataset),
        group.arch,
        group.encoding,
        g.runs,
        g.generation,
        ...metrics.map((m) => cell(m, g[m], g.runs)),
      ]),
    );
    if (group.paper) papers.set(group.dataset, group.paper);
  }
  for (const [dataset, paper] of papers) {
    lines.push(
      row([datasetTitle(dataset), paper.arch, 'paper (cluster)', '', paper.generations, ...paperCells(paper)]),
    );
  }
  return lines.join('\n');
}

export function formatMarkdown(groups: Group[]): string {
  const sections = groups.map(groupSection);
  const intro =
    'Synapse and cluster efficiency: ancestor / this generation (cluster: conv filters or kernels). ' +
    'Accuracy change: this generation minus the ancestor, in points. Paper: Shafiee & Wong, arXiv:1609.01360, Table 1.';
  const parts = [intro, ...(groups.length > 1 ? [finalTable(groups)] : []), ...sections];
  return `${parts.join('\n\n')}\n`;
}

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per group and generation; the paper's columns are filled on each group's last row. */
export function formatCsv(groups: Group[]): string {
  const header = [
    'dataset',
    'arch',
    'encoding',
    'generation',
    'runs',
    ...metrics.flatMap((m) => ['mean', 'min', 'max'].map((s) => `${m}_${s}`)),
    'paper_generation',
    'paper_synapseEfficiency',
    'paper_clusterEfficiency',
    'paper_accuracyChange',
  ];
  const rows = groups.flatMap((group) =>
    group.generations.map((g, i) => {
      const paper = i === group.generations.length - 1 ? group.paper : undefined;
      return [
        group.dataset,
        group.arch,
        group.encoding,
        g.generation,
        g.runs,
        ...metrics.flatMap((m) => [g[m].mean, g[m].min, g[m].max]),
        paper?.generations ?? null,
        paper?.synapseEfficiency ?? null,
        paper?.clusterEfficiency ?? null,
        paper?.accuracyChange ?? null,
      ];
    }),
  );
  const lines = [header, ...rows].map((r) => r.map(csvField).join(','));
  return `${lines.join('\n')}\n`;
}

export function formatJson(groups: Group[]): string {
  const json = JSON.stringify({
    spread: 'min-max',
    groups: groups.map((g) => ({
      dataset: g.dataset,
      arch: g.arch,
      encoding: g.encoding,
      label: g.label,
      runs: g.runs.map((r) => ({
        folder: r.folder,
        seed: r.seed,
        generations: r.generations,
        lastGeneration: r.points.length - 1,
      })),
      generations: g.generations,
      paper: g.paper ?? null,
    })),
  });
  return `${json}\n`;
}

export function formatReport(groups: Group[], format: Format): string {
  return format === 'csv' ? formatCsv(groups) : format === 'json' ? formatJson(groups) : formatMarkdown(groups);
}
