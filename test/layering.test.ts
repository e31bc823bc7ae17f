// The layer rule of CONTRIBUTING.md, checked on every import in src/.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const src = path.resolve(__dirname, '..', '..', 'src');

/** Every `from '...'` of every .ts file under src/, as [file's folder, imported module] pairs. */
function imports(): { file: string; layer: string; target: string }[] {
  const out: { file: string; layer: string; target: string }[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const rel = path.relative(src, p);
        const layer = rel.includes(path.sep) ? rel.split(path.sep)[0] : '.';
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/from '([^']+)'/g)) {
          const target = m[1].startsWith('.')
            ? path.relative(src, path.resolve(path.dirname(p), m[1])).split(path.sep)[0]
            : m[1];
          out.push({ file: rel, layer, target });
        }
      }
    }
  };
  walk(src);
  return out;
}

test(
  'tfjs only under src/engine (and src/bench, which measures the backends themselves); the method core imports no ' +
    'engine, run, evolution or cli; evolution and engine no run folder',
  () => {
    const all = imports();
    assert.ok(all.length > 100);
    const core = new Set(['encoding', 'models', 'metrics', 'data']);
    const bad = all.filter(
      ({ layer, target }) =>
        (target.startsWith('@tensorflow/') && layer !== 'engine' && layer !== 'bench') ||
        (core.has(layer) && ['engine', 'run', 'evolution', 'cli', 'reproduce', 'report', 'bench'].includes(target)) ||
        (['engine', 'run', 'evolution'].includes(layer) && ['cli', 'reproduce', 'report', 'bench'].includes(target)) ||
        // The loop knows no files (src/run implements its GenerationStore); the engine knows no run folder.
        (['engine', 'evolution'].includes(layer) && target === 'run') ||
        (layer === 'engine' && target === 'evolution'),
    );
    assert.deepEqual(
      bad.map((b) => `${b.file} imports ${b.target}`),
      [],
    );
  },
);
