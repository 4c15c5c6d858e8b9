import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // One real Temporal dev server for the whole run (docs/temporal-notes.md, "The dev server"), started here
          // rather than by each file: the SDK gives a starting server only 5 s, which a busy 2-core machine can miss.
          globalSetup: ['test/support/global-setup.ts'],
          // Integration files start workers and child processes; one file at a time keeps a 2-core machine
          // from turning timing margins into flakes.
          fileParallelism: false,
          pool: 'forks',
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          // scripts/cluster.sh's PostgreSQL-backed Temporal server and several network-namespace hosts: no dev
          // server (no globalSetup), and a group of its own (after the unit tests; vitest runs the one-file-at-a-time
          // integration project as a separate group afterwards), so it never shares the machine with them.
          include: ['test/cluster/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          pool: 'forks',
          testTimeout: 2_400_000,
          hookTimeout: 3_000_000,
        },
      },
    ],
  },
});
