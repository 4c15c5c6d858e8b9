/**
 * The README's "Layout" section is a newcomer's map of src/: every folder it lists must exist, and every folder of
 * src/ must be listed, so a move or a new folder cannot leave the map behind.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');

/** The first fenced block after the README's "### Layout" heading. */
function layoutBlock(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.search(/^### Layout\s*$/m);
  expect(start, 'README.md has a "### Layout" section').toBeGreaterThanOrEqual(0);
  const block = /```[^\n]*\n([\s\S]*?)```/.exec(readme.slice(start));
  expect(block, 'the Layout section has a fenced tree').not.toBeNull();
  return block![1]!;
}

/** Paths a line of the tree starts with, and the src/ paths named anywhere in it (`src/cli.ts  the program; src/...`). */
function paths(block: string): { lineStarts: string[]; named: string[] } {
  const lines = block.split('\n');
  return {
    lineStarts: lines.map((line) => /^([\w.-]+\/[\w./-]*)/.exec(line)?.[1]).filter((path): path is string => path !== undefined),
    named: [...block.matchAll(/(?<![\w./-])(src\/[\w./-]*[\w/])/g)].map((match) => match[1]!),
  };
}

describe('README layout', () => {
  const block = layoutBlock();
  const { lineStarts, named } = paths(block);

  it('lists every folder of src/', () => {
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `src/${entry.name}/`);
    expect(folders.length).toBeGreaterThan(5);
    expect(folders.filter((folder) => !lineStarts.includes(folder))).toEqual([]);
  });

  it('names only paths that exist', () => {
    expect(named.length).toBeGreaterThan(10);
    expect([...lineStarts, ...named].filter((path) => !existsSync(join(root, path)))).toEqual([]);
  });
});
