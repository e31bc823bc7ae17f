/** The report end to end: read the run folders, summarise, format, and draw the figures to files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError, UsageError } from '../errors';
import { writeFileAtomic } from '../files';
import { expandRunFolders, readRun } from './runs';
import { type Group, summarise } from './summary';
import { type Format, formatReport } from './format';
import { renderPng, renderSvg } from './plot';
import { renderTradeoffSvg } from './tradeoff';

export interface ReportSettings {
  format: Format;
  /** A .png or .svg file to draw the figure against generation to. */
  plot?: string;
  /** A .png or .svg file to draw accuracy change against synapse and filter efficiency to. */
  tradeoff?: string;
}

/** Each figure: its option (for messages) and how it is drawn. */
const figures = [
  { option: '--plot', file: (s: ReportSettings) => s.plot, draw: renderSvg },
  { option: '--tradeoff', file: (s: ReportSettings) => s.tradeoff, draw: renderTradeoffSvg },
] as const;

/** The figure's file type from its name; anything else is bad usage, found before any work. */
export function plotKind(file: string, option = '--plot'): 'png' | 'svg' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png' || ext === '.svg') return ext.slice(1) as 'png' | 'svg';
  throw new UsageError(`${option} ${file}: expected a file name ending in .png or .svg`);
}

/** An SVG, or its PNG (after the name), written atomically into a folder that must exist. */
async function writeFigure(svg: () => Promise<string>, file: string, option: string): Promise<void> {
  const kind = plotKind(file, option);
  const dir = path.dirname(file);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new RunError(`${option} ${file}: no such folder ${dir}`);
  const text = await svg();
  writeFileAtomic(file, kind === 'svg' ? text : await renderPng(text));
}

/**
 * The report's text, and a line for each run with no record yet (listed, not counted); the figures are
 * written first, so a failed plot leaves no half-printed table. No record in any run is a failed report.
 */
export async function buildReport(
  folders: string[],
  settings: ReportSettings,
): Promise<{ text: string; groups: Group[]; notes: string[] }> {
  for (const { option, file } of figures) {
    const name = file(settings);
    if (name !== undefined) plotKind(name, option);
  }
  const runs = expandRunFolders(folders).map(readRun);
  const waiting = runs.filter((r) => r.points.length === 0);
  if (waiting.length === runs.length)
    throw new RunError(`${waiting[0].folder}: no generation records yet (generations.ndjson is missing or empty)`);
  const groups = summarise(runs);
  const drawn = groups.filter((g) => g.generations.length > 0);
  for (const { option, file, draw } of figures) {
    const name = file(settings);
    if (name !== undefined) await writeFigure(() => draw(drawn), name, option);
  }
  const notes = waiting.map((r) => `evolve: ${r.folder}: no generation record yet; listed, not counted`);
  return { text: formatReport(groups, settings.format), groups, notes };
}
