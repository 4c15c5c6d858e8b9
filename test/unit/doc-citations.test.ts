/**
 * Comments and docs cite files in this repository: the Segment and Temporal facts the code relies on live in docs/,
 * cited as `docs/<file>.md, "<section>"` (speed figures: `bench/README.md, "<section>"`). This pins that every cited docs file exists, every quoted section is a
 * heading of it, and nothing cites the team's notes outside the repository (a reader of a clone cannot open them).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const scanned = [
  'src',
  'test',
  'bench',
  'scripts',
  'deploy',
  'docs',
  '.ci',
  'README.md',
  'Dockerfile',
  'docker-compose.yml',
  'vitest.config.ts',
  'eslint.config.mjs',
];
const skipped = new Set(['node_modules', 'fixtures', 'dist']);
const self = relative(root, __filename);

function files(path: string): string[] {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (statSync(full).isFile()) return [path];
  return readdirSync(full)
    .filter((name) => !skipped.has(name))
    .flatMap((name) => files(join(path, name)));
}

const texts = scanned
  .flatMap(files)
  .filter((path) => path !== self && /\.(ts|js|mjs|md|sh|yml|yaml|json)$|(^|\/)(run|Dockerfile)$/.test(path))
  .map((path) => {
    const raw = readFileSync(join(root, path), 'utf8');
    // In code, only comments cite (a test may name a path that does not exist on purpose).
    const comments = /\.(ts|js|mjs)$/.test(path) ? (raw.match(/\/\/.*$|\/\*[\s\S]*?\*\//gm) ?? []).join('\n') : raw;
    return { path, text: joinLines(raw), comments: joinLines(comments) };
  });

/** A citation may wrap across comment lines: join them, dropping the `*` / `//` / `#` that starts the next line. */
function joinLines(text: string): string {
  return text.replace(/\s*\n\s*(?:\*(?!\/)|\/\/|#(?!#))?\s*/g, ' ');
}

/** GitHub-style heading texts of a docs file, lower-cased. */
function headings(doc: string): string[] {
  return [...readFileSync(join(root, doc), 'utf8').matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) => match[1]!.trim().toLowerCase());
}

describe('citations', () => {
  it('scans the tree (the walk found the code and the docs)', () => {
    expect(texts.length).toBeGreaterThan(100);
    expect(texts.some((t) => t.path === join('src', 'segment', 'tracking-client.ts'))).toBe(true);
  });

  it('nothing cites notes outside the repository', () => {
    // `../shared/` alone is src/shared (sandbox-safe helpers); the team's notes sat in segment/, temporal/ and STYLE.md.
    const outside = new RegExp(
      ['\\bAPI' + '\\.md\\b', '\\bNOTES' + '\\.md\\b', '\\.\\./shared/(segment|temporal|STYLE)', '/work/' + 'shared'].join('|'),
    );
    expect(texts.filter((t) => outside.test(t.text)).map((t) => t.path)).toEqual([]);
  });

  it('every cited docs file exists', () => {
    const missing = texts.flatMap((t) =>
      [...t.text.matchAll(/\bdocs\/([\w.-]+\.md)\b/g)].filter((m) => !existsSync(join(root, 'docs', m[1]!))).map((m) => `${t.path}: docs/${m[1]}`),
    );
    expect(missing).toEqual([]);
  });

  it('every file of this repository that a comment or doc names exists (moves update their citations)', () => {
    // Paths from the repository root; a path inside another project (segment-docs, compose/scripts/...) has a
    // prefix and is not matched.
    const cited = /(?<![\w./@-])((?:src|test|bench|scripts|deploy|docs|samples)\/[\w./-]*[\w-]\.(?:ts|md|sh|js|mjs|json|ya?ml|env|csv|ndjson))\b/g;
    const missing = texts.flatMap((t) =>
      [...t.comments.matchAll(cited)].filter((m) => !existsSync(join(root, m[1]!))).map((m) => `${t.path}: ${m[1]}`),
    );
    expect(missing).toEqual([]);
  });

  it('every quoted section is a heading of the cited file', () => {
    const cited = texts.flatMap((t) =>
      [...t.text.matchAll(/\b(docs\/[\w.-]+\.md|bench\/README\.md),? "([^"<][^"]*)"/g)].map((m) => ({ from: t.path, doc: m[1]!, section: m[2]! })),
    );
    expect(cited.length).toBeGreaterThan(40);
    const unknown = cited
      .filter((c) => existsSync(join(root, c.doc)))
      .filter((c) => !headings(c.doc).some((heading) => heading.startsWith(c.section.toLowerCase())))
      .map((c) => `${c.from}: ${c.doc}, "${c.section}"`);
    expect(unknown).toEqual([]);
  });
});
