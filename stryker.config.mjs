// @ts-check
// Mutation testing of the unit suite (`npm run mutation`, docs/mutation-testing.md): not part of `npm test`, which
// has CI's time budget. Run one folder at a time on a shared machine, e.g. `npm run mutation -- --mutate 'src/shared/**/*.ts'`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
const config = {
  testRunner: 'vitest',
  // test/unit only, without the integration project's dev server (vitest.stryker.config.ts).
  vitest: { configFile: 'vitest.stryker.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/core/**/*.ts',
    'src/shared/**/*.ts',
    'src/segment/**/*.ts',
    'src/workflows/approval.ts',
    'src/activities/approval-activities.ts',
    'src/contracts/approval.ts',
  ],
  // Two cores shared with other work: one test process.
  concurrency: 1,
  timeoutMS: 10_000,
  // Re-runs test only the mutants whose code or tests changed; the file is a local cache (gitignored).
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
export default config;
