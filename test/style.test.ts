// The line-length habit of CONTRIBUTING.md: no line of src/ or test/ over 120 characters,
// comments and strings included (Biome formats code to that width but wraps neither comments nor
// strings, so this test checks what Biome cannot); and no function in src/ over 60 lines.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');
const MAX = 120;
/** CONTRIBUTING.md: functions stay under about 60 lines. */
const MAX_FUNCTION = 60;

/** Every .ts file under `dir`, as paths relative to the repository root. */
function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** `file:line (length)` for each line of `rel` over MAX characters (code points, as an editor counts them). */
function longLines(rel: string): string[] {
  const lines = fs.readFileSync(path.resolve(root, rel), 'utf8').split('\n');
  return lines.flatMap((line, i) => {
    const length = [...line].length;
    return length > MAX ? [`${rel}:${i + 1} (${length})`] : [];
  });
}

test(`no line in src/**/*.ts or test/**/*.ts is over ${MAX} characters`, () => {
  const files = [...tsFiles('src'), ...tsFiles('test')];
  assert.ok(files.length > 100, `found only ${files.length} files`);
  const long = files.flatMap(longLines);
  assert.equal(long.length, 0, `lines over ${MAX} characters:\n${long.join('\n')}`);
});

test('the check counts characters, not bytes, and sees a line just over the limit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolve-style-'));
  try {
    const file = path.join(dir, 'sample.ts');
    fs.writeFileSync(file, `${'é'.repeat(MAX)}\n${'x'.repeat(MAX + 1)}\n`);
    assert.deepEqual(longLines(file), [`${file}:2 (${MAX + 1})`]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** `file:line name (lines)` for each function, method or arrow function in `rel` longer than `max` lines. */
function longFunctions(rel: string, max: number): string[] {
  const file = path.resolve(root, rel);
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      const name = node.name && ts.isIdentifier(node.name) ? node.name.text : '(anonymous)';
      if (lines > max) found.push(`${rel}:${start + 1} ${name} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test(`no function in src/ is over ${MAX_FUNCTION} lines (CONTRIBUTING.md)`, () => {
  const long = tsFiles('src').flatMap((f) => longFunctions(f, MAX_FUNCTION));
  assert.equal(long.length, 0, `functions over ${MAX_FUNCTION} lines:\n${long.join('\n')}`);
});

test('the function check sees a function one line too long, and not one at the limit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolve-style-'));
  try {
    const file = path.join(dir, 'sample.ts');
    const body = (n: number) => Array.from({ length: n - 2 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    fs.writeFileSync(
      file,
      `function ok() {\n${body(MAX_FUNCTION)}\n}\nconst tooLong = () => {\n${body(MAX_FUNCTION + 1)}\n};\n`,
    );
    assert.deepEqual(longFunctions(file, MAX_FUNCTION), [
      `${file}:${MAX_FUNCTION + 1} (anonymous) (${MAX_FUNCTION + 1} lines)`,
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
