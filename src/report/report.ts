/** The report end to end: read the run folders, summarise, format, and draw the figure to a file. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError, UsageError } from '../errors';
import { writeFileAtomic } from '../files';
import { expandRunFolders, readRun } from './runs';
import { type Group, summarise } from './summary';
import { type Format, formatReport } from './format';
import { renderPng, renderSvg } from './plot';

export interface ReportSettings {
  format: Format;
  /** A .png or .svg file to draw the figure to. */
  plot?: string;
}

/** The figure's file type from its name; anything else is bad usage, found before any work. */
export function plotKind(file: string): 'png' | 'svg' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png' || ext === '.svg') return ext.slice(1) as 'png' | 'svg';
  throw new UsageError(`--plot ${file}: expected a file name ending in .png or .svg`);
}

export async function writePlot(groups: Group[], file: string): Promise<void> {
  const kind = plotKind(file);
  const dir = path.dirname(file);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new RunError(`--plot ${file}: no such folder ${dir}`);
  const svg = await renderSvg(groups);
  writeFileAtomic(file, kind === 'svg' ? svg : await renderPng(svg));
}

/**
 * The report's text, and a line for each run with no record yet (listed, not counted); the figure is
 * written first, so a failed plot leaves no half-printed table. No record in any run is a failed report.
 */
export async function buildReport(
  folders: string[],
  settings: ReportSettings,
): Promise<{ text: string; groups: Group[]; notes: string[] }> {
  if (settings.plot !== undefined) plotKind(settings.plot);
  const runs = expandRunFolders(folders).map(readRun);
  const waiting = runs.filter((r) => r.points.length === 0);
  if (waiting.length === runs.length)
    throw new RunError(`${waiting[0].folder}: no generation records yet (generations.ndjson is missing or empty)`);
  const groups = summarise(runs);
  if (settings.plot !== undefined)
    await writePlot(
      groups.filter((g) => g.generations.length > 0),
      settings.plot,
    );
  const notes = waiting.map((r) => `evolve: ${r.folder}: no generation record yet; listed, not counted`);
  return { text: formatReport(groups, settings.format), groups, notes };
}
