// The layer rule of CONTRIBUTING.md, checked on every import of src/ as the TypeScript parser reads
// it: static and type-only imports, re-exports, `import x = require()`, `require()` and `import()`.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const src = path.resolve(__dirname, '..', '..', 'src');

/** One import: the importing file and the imported module (a file under src/, or a package), as written how. */
interface Edge {
  from: string;
  to: string;
  kind: string;
}

/** Every module specifier `text` imports, with the form it uses. */
function specifiers(file: string, text: string): { spec: string; kind: string }[] {
  const out: { spec: string; kind: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const kind = !node.importClause ? 'side-effect import' : node.importClause.isTypeOnly ? 'import type' : 'import';
      out.push({ spec: node.moduleSpecifier.text, kind });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, kind: 'export from' });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) out.push({ spec: e.text, kind: 'import = require' });
    } else if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0])) {
      const spec = node.arguments[0].text;
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) out.push({ spec, kind: 'import()' });
      else if (ts.isIdentifier(node.expression) && node.expression.text === 'require')
        out.push({ spec, kind: 'require' });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const lit = node.argument.literal;
      if (ts.isStringLiteral(lit)) out.push({ spec: lit.text, kind: 'import() type' });
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return out;
}

/** `spec` imported from `from` (relative to src/), as a path relative to src/ with its extension. */
function resolve(from: string, spec: string, exists: (rel: string) => boolean): string {
  if (!spec.startsWith('.')) return spec;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  return [`${base}.ts`, `${base}/index.ts`].find(exists) ?? `${base}.ts`;
}

/** Every .ts file under src/, relative to it, with its text. */
function sources(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(src, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) files.set(rel, fs.readFileSync(path.join(src, rel), 'utf8'));
    }
  };
  walk('');
  return files;
}

/** The imports of file `from` (relative to src/), resolved among the files of `tree`. */
function edgesOfFile(from: string, text: string, tree: Map<string, string>): Edge[] {
  return specifiers(from, text).map(({ spec, kind }) => ({ from, kind, to: resolve(from, spec, (r) => tree.has(r)) }));
}

function edgesOf(files: Map<string, string>): Edge[] {
  return [...files].flatMap(([from, text]) => edgesOfFile(from, text, files));
}

/** A file's group: its folder under src/, or '.' for the neutral modules at the top (errors, files, random). */
const groupOf = (rel: string): string => (rel.includes('/') ? rel.split('/')[0] : '.');

/**
 * The groups each group may import (besides itself), lowest first: the method core knows no
 * engine, loop or files; the engine no loop; the loop no run folder; nothing below the commands
 * knows them; the paper's presets are neutral, so `report` and `reproduce` share them without
 * importing each other in both directions.
 */
const mayImport: Record<string, string[]> = {
  '.': [],
  models: ['.'],
  data: ['.'],
  paper: ['.'],
  encoding: ['.', 'models'],
  metrics: ['.', 'models', 'encoding'],
  engine: ['.', 'models', 'data'],
  evolution: ['.', 'models', 'data', 'encoding', 'metrics', 'engine'],
  run: ['.', 'models', 'data', 'encoding', 'metrics', 'engine', 'evolution', 'paper'],
  report: ['.', 'models', 'data', 'metrics', 'evolution', 'run', 'paper'],
  bench: ['.', 'models', 'data', 'encoding', 'metrics', 'engine', 'evolution'],
  reproduce: ['.', 'data', 'run', 'paper', 'report'],
  cli: [
    '.',
    'models',
    'data',
    'encoding',
    'metrics',
    'engine',
    'evolution',
    'run',
    'paper',
    'report',
    'bench',
    'reproduce',
  ],
  docs: ['.', 'models', 'data', 'encoding', 'run', 'cli'],
};

/** What the rest of src/ may import of the engine: its entry points, never its training internals. */
const engineEntries = ['trainer', 'backend', 'modelio', 'optimizer', 'optimizerState'].map((m) => `engine/${m}.ts`);

/** Why `e` breaks the layer rule, or null. */
function violation(e: Edge): string | null {
  const [from, to] = [groupOf(e.from), e.to.endsWith('.ts') ? groupOf(e.to) : null];
  const what = `${e.from} imports ${e.to} (${e.kind})`;
  if (to === null) {
    const tfjsAllowed = from === 'engine' || from === 'bench';
    return e.to.startsWith('@tensorflow/') && !tfjsAllowed ? `${what}: tfjs lives behind src/engine` : null;
  }
  if (from !== to && !(mayImport[from] ?? []).includes(to)) return `${what}: ${from} may not import ${to}`;
  // The benches measure the kernels themselves, so they (and the command that runs them) may reach them.
  const kernelsAllowed = e.to === 'engine/kernels/native.ts' && (from === 'bench' || from === 'cli');
  if (to === 'engine' && from !== 'engine' && !engineEntries.includes(e.to) && !kernelsAllowed)
    return `${what}: outside the engine, train and evaluate through engine/trainer.ts`;
  return null;
}

/** The import cycles among files (strongly connected components of more than one file, or a self-import). */
function cycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) if (e.to.endsWith('.ts')) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = ''; w !== v; ) {
      w = stack.pop()!;
      component.push(w);
    }
    if (component.length > 1 || (next.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of next.keys()) if (!index.has(v)) connect(v);
  return found;
}

const tree = sources();
const edges = edgesOf(tree);

test('every import of src/ keeps the layer rule', () => {
  assert.ok(edges.length > 300, `found only ${edges.length} imports`);
  assert.deepEqual(
    edges.flatMap((e) => violation(e) ?? []),
    [],
  );
});

test('no import cycle among the files of src/, type-only imports included', () => {
  assert.deepEqual(cycles(edges), []);
});

test('the parser sees every import form, and a planted upward import of each form fails the rule', () => {
  const forms = [
    "import { runLineage } from '../evolution/lineage';",
    "import type { Lineage } from '../evolution/types';",
    "import '../evolution/lineage';",
    "export { runLineage } from '../evolution/lineage';",
    "import lineage = require('../evolution/lineage');",
    "const lineage = require('../evolution/lineage');",
    "const lineage = import('../evolution/lineage');",
    "let l: import('../evolution/types').Lineage;",
  ];
  for (const line of forms) {
    const planted = edgesOf(new Map([...tree, ['models/planted.ts', line]])).filter(
      (e) => e.from === 'models/planted.ts',
    );
    assert.equal(planted.length, 1, line);
    assert.match(violation(planted[0]) ?? '', /models may not import evolution/, line);
  }
  const upward: [string, string, RegExp][] = [
    ['encoding/planted.ts', "import { bind } from '../engine/network';", /encoding may not import engine/],
    ['engine/planted.ts', "import type { Lineage } from '../evolution/types';", /engine may not import evolution/],
    ['evolution/planted.ts', "import { RunStore } from '../run/store';", /evolution may not import run/],
    ['run/planted.ts', "import { main } from '../cli/main';", /run may not import cli/],
    ['report/planted.ts', "import { planRuns } from '../reproduce/plan';", /report may not import reproduce/],
    ['paper/planted.ts', "import { readRun } from '../report/runs';", /paper may not import report/],
    ['data/planted.ts', "import * as tf from '@tensorflow/tfjs-core';", /tfjs lives behind src\/engine/],
    ['evolution/planted.ts', "import { evaluate } from '../engine/evaluate';", /through engine\/trainer\.ts/],
  ];
  for (const [file, line, expected] of upward) {
    const planted = edgesOfFile(file, line, tree);
    assert.match(violation(planted[0]) ?? '', expected, `${file}: ${line}`);
  }
});

test('a planted cycle, even through a type-only import, is found', () => {
  const planted = new Map([...tree, ['models/planted.ts', "import type { Network } from './network';"]]);
  const more = [
    ...edgesOfFile('models/planted.ts', planted.get('models/planted.ts')!, planted),
    ...edgesOfFile('models/network.ts', "import type { N } from './planted';", planted),
  ];
  assert.deepEqual(cycles([...edges, ...more]), [['models/network.ts', 'models/planted.ts']]);
});
