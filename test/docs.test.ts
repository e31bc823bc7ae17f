// The README's and docs' generated tables match the registries and the option table.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderBlocks } from '../src/docs/tables';
import { datasetNames } from '../src/data/sets';
import { ancestorNames } from '../src/models/ancestors';

const root = path.resolve(__dirname, '..', '..');

test('generated tables are up to date (npm run docs rewrites them)', () => {
  for (const file of ['README.md', 'docs/datasets.md', 'docs/options.md']) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    assert.ok(text.includes(':start -->'), `${file} has generated blocks`);
    assert.equal(text, renderBlocks(text), `${file} is out of date: run npm run docs`);
  }
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const name of [...datasetNames, ...ancestorNames]) assert.ok(readme.includes(`| \`${name}\` |`), name);
});
