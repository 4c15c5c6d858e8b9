/**
 * The lint half of the sandbox boundary: eslint.config.mjs's no-restricted-imports rule must flag a Node built-in, a
 * package other than the sandbox-safe ones, or another src folder when imported from src/workflows, src/contracts or
 * src/shared; an upward import from a lower Node-side floor; and test code imported by product code. It must leave
 * the allowed imports alone (README, "Layout"). Runs the project's own eslint configuration on probe files that are
 * never written to disk.
 */
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
// The probes do not exist on disk, so type-aware rules (which need the TypeScript program) are off for them.
const eslint = new ESLint({ cwd: root, overrideConfig: [tseslint.configs.disableTypeChecked] });

async function restricted(folder: string, specifier: string): Promise<boolean> {
  const code = `import * as probe from '${specifier}';\nexport const used = probe;\n`;
  const [result] = await eslint.lintText(code, { filePath: join(root, 'src', folder, 'lint-probe.ts') });
  return (result?.messages ?? []).some((message) => message.ruleId === 'no-restricted-imports');
}

const cases: Array<{ folder: string; forbidden: string[]; allowed: string[] }> = [
  {
    folder: 'workflows',
    forbidden: [
      'node:fs',
      'fs',
      'crypto',
      'undici',
      '../activities/import-activities',
      '../core/job-spec',
      '../io/chunk-planner',
      '../config',
      '../../test/support/wait',
    ],
    allowed: ['@temporalio/workflow', '@temporalio/common', 'zod', '../contracts/import-job', '../shared/limits', './approval'],
  },
  {
    folder: 'contracts',
    forbidden: [
      'node:crypto',
      'path',
      '@temporalio/client',
      '../workflows/import-workflow',
      '../core/workspace-plan',
      '../activities/import-activities',
    ],
    allowed: ['@temporalio/workflow', '@temporalio/common', 'zod', '../shared/limits', './job-state'],
  },
  {
    folder: 'shared',
    forbidden: ['node:url', 'os', 'yaml', '../contracts/import-job', '../workflows/import-workflow', '../core/glob'],
    allowed: ['./limits'],
  },
  // Node-side floors import downwards only, and nothing in src/ imports test code.
  {
    folder: 'core',
    forbidden: [
      '../workflows/import-workflow',
      '../activities/import-activities',
      '../cli/common',
      '../dev/dev-server',
      '../client',
      '../worker',
      '../../test/support/wait',
    ],
    allowed: ['node:crypto', 'zod', '../contracts/import-job', '../shared/limits', './glob'],
  },
  {
    folder: 'core/workspace-plan',
    forbidden: ['../../workflows/workspace-job', '../../activities/workspace-activities', '../../../test/support/wait'],
    allowed: ['../glob', '../../contracts/workspace-job'],
  },
  {
    folder: 'io',
    forbidden: ['../activities/import-activities', '../workflows/import-workflow', '../client'],
    allowed: ['node:fs', 'undici', '../core/csv-mapping', '../shared/location'],
  },
  {
    folder: 'activities',
    forbidden: ['../workflows/import-workflow', '../cli/common', '../client', '../worker', '../../test/support/segment-double'],
    allowed: ['@temporalio/activity', '../contracts/import-job', '../core/job-spec', '../io/record-reader', '../segment/tracking-client'],
  },
  {
    folder: 'cli',
    forbidden: ['../../test/support/segment-double'],
    allowed: ['../client', '../worker', '../dev/dev-server', '../workflows/import-workflow', 'commander'],
  },
];

describe('eslint: imports respect the layout', () => {
  for (const { folder, forbidden, allowed } of cases) {
    it(`src/${folder}: flags ${forbidden.length} forbidden imports`, async () => {
      const missed: string[] = [];
      for (const specifier of forbidden) if (!(await restricted(folder, specifier))) missed.push(specifier);
      expect(missed).toEqual([]);
    });
    it(`src/${folder}: leaves the allowed imports alone`, async () => {
      const flagged: string[] = [];
      for (const specifier of allowed) if (await restricted(folder, specifier)) flagged.push(specifier);
      expect(flagged).toEqual([]);
    });
  }
});
