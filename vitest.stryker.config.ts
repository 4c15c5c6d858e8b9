import { defineConfig } from 'vitest/config';

/**
 * The unit tests as Stryker runs them (stryker.config.json, docs/mutation-testing.md): no projects, no dev server
 * (no globalSetup), and none of the files that only check docs, lint rules or versions or start the CLI as a process
 * (containment: the CLI cannot start from Stryker's sandbox copy), which cover no mutated code and would slow every run.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: [
      'test/unit/cli-help.test.ts',
      'test/unit/cluster-versions.test.ts',
      'test/unit/containment.test.ts',
      'test/unit/doc-citations.test.ts',
      'test/unit/lint-boundary.test.ts',
      'test/unit/readme-layout.test.ts',
      'test/unit/samples.test.ts',
      'test/unit/version.test.ts',
      'test/unit/versions.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
