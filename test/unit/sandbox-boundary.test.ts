/**
 * The workflow sandbox boundary is a folder boundary: code that may run in the sandbox lives in src/workflows,
 * src/contracts and src/shared (README "Development"), and reaches nothing else at run time. The worker bundles
 * src/workflows/index.ts and everything it imports; a Node built-in or a Node-side module in that graph either breaks
 * the bundle or, worse, slips non-deterministic code into workflows. This test walks the real import graph from the
 * bundle's entry and from every contracts/shared file, transitively, and names each import that leaves the boundary
 * (eslint.config.mjs checks each file's own imports as you type; this follows them through every file).
 *
 * Type-only imports (`import type`, `export type`, or every specifier marked `type`) are erased by the compiler and
 * never reach the bundle, so they are not followed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const SANDBOX_FOLDERS = ['src/workflows', 'src/contracts', 'src/shared'];
/** Packages that work inside the sandbox: the SDK's workflow API, its common types, and zod (pure). */
const SANDBOX_PACKAGES = new Set(['@temporalio/workflow', '@temporalio/common', 'zod']);

/** Module specifiers this file loads at run time: erased type-only imports and re-exports left out. */
export function runtimeImports(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const erased =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((element) => element.isTypeOnly)));
      if (!erased) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.exportClause;
      const erased =
        node.isTypeOnly ||
        (clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((element) => element.isTypeOnly));
      if (!erased) found.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      if (!node.isTypeOnly) found.push(node.moduleReference.expression.text);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteralLike(node.arguments[0]!)) {
      // import('x') and require('x') load code too.
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require'))
        found.push((node.arguments[0] as ts.StringLiteralLike).text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Why an import leaves the sandbox, or undefined when it stays inside. */
function importProblem(fromFile: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) {
    const target = resolveRelative(fromFile, specifier);
    if (target === undefined) return `imports ${specifier}, which does not resolve to a file`;
    const rel = relative(ROOT, target).split('\\').join('/');
    if (!SANDBOX_FOLDERS.some((folder) => rel.startsWith(`${folder}/`))) return `imports ${rel}, outside ${SANDBOX_FOLDERS.join(', ')}`;
    return undefined;
  }
  if (specifier.startsWith('node:')) return `imports the Node built-in ${specifier}`;
  const packageName = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  if (!SANDBOX_PACKAGES.has(packageName))
    return `imports ${specifier}, a package the sandbox does not allow (only ${[...SANDBOX_PACKAGES].join(', ')})`;
  return undefined;
}

/** Walks the runtime import graph from `entries`; returns every file reached and every import that leaves it. */
export function walkSandboxGraph(
  entries: string[],
  read: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): { visited: string[]; problems: string[] } {
  const visited = new Set<string>();
  const problems: string[] = [];
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (visited.has(file)) continue;
    visited.add(file);
    for (const specifier of runtimeImports(file, read(file))) {
      const problem = importProblem(file, specifier);
      if (problem) {
        problems.push(`${relative(ROOT, file)} ${problem}`);
        continue;
      }
      if (specifier.startsWith('.')) queue.push(resolveRelative(file, specifier)!);
    }
  }
  return { visited: [...visited].map((file) => relative(ROOT, file).split('\\').join('/')).sort(), problems };
}

function tsFilesUnder(folder: string): string[] {
  const dir = join(ROOT, folder);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name));
}

describe('the workflow sandbox boundary', () => {
  it('nothing the workflow bundle or contracts/shared load at run time leaves src/workflows, src/contracts and src/shared', () => {
    const entries = [join(ROOT, 'src/workflows/index.ts'), ...tsFilesUnder('src/contracts'), ...tsFilesUnder('src/shared')];
    const { visited, problems } = walkSandboxGraph(entries);
    expect(problems).toEqual([]);
    // Not vacuous: the walk reached both workflows and what they import.
    expect(visited).toEqual(
      expect.arrayContaining([
        'src/workflows/import-workflow.ts',
        'src/workflows/workspace-job.ts',
        'src/contracts/import-job.ts',
        'src/shared/pacer.ts',
      ]),
    );
  });

  it('every file in src/workflows is reached from the bundle entry (nothing sits there that the walk misses)', () => {
    const { visited } = walkSandboxGraph([join(ROOT, 'src/workflows/index.ts')]);
    const workflowFiles = tsFilesUnder('src/workflows').map((file) => relative(ROOT, file).split('\\').join('/'));
    // The failure converter is bundled by its own path (src/worker.ts, src/temporal-connection.ts), not through index.ts.
    const unreached = workflowFiles.filter((file) => !visited.includes(file) && file !== 'src/workflows/failure-converter.ts');
    expect(unreached).toEqual([]);
    expect(walkSandboxGraph([join(ROOT, 'src/workflows/failure-converter.ts')]).problems).toEqual([]);
  });

  describe('the walker', () => {
    const fake = (files: Record<string, string>) => {
      const entry = join(ROOT, 'src/workflows/fake-entry.ts');
      return walkSandboxGraph([entry], (file) => files[relative(ROOT, file)] ?? readFileSync(file, 'utf8'));
    };

    it('names Node built-ins, other packages and Node-side folders, directly or through another file', () => {
      const { problems } = fake({
        'src/workflows/fake-entry.ts':
          "import { createHash } from 'node:crypto';\nimport { Client } from '@temporalio/client';\nimport '../shared/pacer';\nexport { glob } from '../core/glob';\nconst lazy = () => import('../io/staging');",
      });
      expect(problems).toEqual([
        'src/workflows/fake-entry.ts imports the Node built-in node:crypto',
        'src/workflows/fake-entry.ts imports @temporalio/client, a package the sandbox does not allow (only @temporalio/workflow, @temporalio/common, zod)',
        'src/workflows/fake-entry.ts imports src/core/glob.ts, outside src/workflows, src/contracts, src/shared',
        'src/workflows/fake-entry.ts imports src/io/staging.ts, outside src/workflows, src/contracts, src/shared',
      ]);
    });

    it('does not follow type-only imports (the compiler erases them)', () => {
      const { problems } = fake({
        'src/workflows/fake-entry.ts':
          "import type { JobSpec } from '../core/job-spec';\nimport { type ByteSource } from '../io/byte-source';\nexport type { RejectedRow } from '../core/types';\nimport { defineQuery } from '@temporalio/workflow';",
      });
      expect(problems).toEqual([]);
    });

    it('counts an import that mixes a value with types', () => {
      const { problems } = fake({ 'src/workflows/fake-entry.ts': "import { glob, type GlobMatcher } from '../core/glob';" });
      expect(problems).toEqual(['src/workflows/fake-entry.ts imports src/core/glob.ts, outside src/workflows, src/contracts, src/shared']);
    });
  });
});
