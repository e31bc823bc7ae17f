// The line-length habit of CONTRIBUTING.md (issue 10): no line of src/ or test/ over 120 characters,
// comments and strings included. Biome formats code to that width but wraps neither comments nor
// strings, so this test checks what Biome cannot.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const MAX = 120;

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
