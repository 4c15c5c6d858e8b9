import { defineConfig } from 'vitest/config';

/**
 * The unit tests as Stryker runs them (stryker.config.mjs, docs/mutation-testing.md): no projects, no dev server
 * (no globalSetup), and none of the files that only check docs, lint rules or versions, or that need what Stryker's
 * test process lacks: the CLI started from the sandbox copy (containment), process.stdin (terminal-output), and
 * linear-time, whose cases run in child processes where no mutant is active.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: [
      'test/unit/cli-help.test.ts',
      'test/unit/cluster-versions.test.ts',
      'test/unit/containment.test.ts',
      'test/unit/doc-citations.test.ts',
      'test/unit/linear-time.test.ts',
      'test/unit/lint-boundary.test.ts',
      'test/unit/readme-layout.test.ts',
      'test/unit/samples.test.ts',
      'test/unit/terminal-output.test.ts',
      'test/unit/version.test.ts',
      'test/unit/versions.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
