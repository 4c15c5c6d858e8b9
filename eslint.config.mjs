// @ts-check
// The one eslint configuration (`npm run lint`; formatting is prettier's job, .prettierrc.json). Rules were chosen to
// flag real problems, not style: the recommended sets of eslint and typescript-eslint, the promise rules that catch
// an un-awaited call (a lost error, or an activity or write still running when the caller thinks it is done), and
// the import rules of the layout (README, "Layout": the sandbox folders, imports pointing downwards, no test code in
// src/). test/unit/lint-boundary.test.ts keeps these rules honest.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Imports a sandbox folder may not use. Workflow code runs in Temporal's deterministic sandbox, and contracts and
 * shared helpers are loaded there too: no Node built-ins, no package but the Temporal workflow/common APIs and zod,
 * and no other src folder than the ones listed (which keeps I/O out and imports pointing downwards).
 */
function sandboxImports(folder, allowedFolders) {
  const folders = allowedFolders.length > 0 ? `(?!(${allowedFolders.join('|')})/)` : '';
  const why = `src/${folder} may run in the workflow sandbox: it imports only @temporalio/workflow, @temporalio/common, zod, ${
    allowedFolders.length > 0 ? allowedFolders.map((name) => `src/${name}`).join(', ') + ' and ' : ''
  }its own folder`;
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: why })),
          patterns: [
            { regex: '^node:', message: why },
            // Packages other than the sandbox-safe ones.
            { regex: '^(?![./])(?!(@temporalio/(workflow|common)|zod)(/|$))', message: why },
            // Up out of this folder: only into the allowed sibling folders, never above src/.
            { regex: `^\\.\\./${folders}`, message: why },
          ],
        },
      ],
    },
  };
}

const NO_TEST_CODE = {
  regex: '^(\\.\\./)+test/',
  message: 'product code never imports test code: a production install has no test/ (README, "Layout")',
};

/**
 * Node-side folders import downwards only (cli -> client -> workflows -> activities -> io / segment -> core): a lower
 * floor never imports a higher one, which keeps the floors free of circles.
 */
function downwardImports(folders, higher) {
  const message = `src/${folders.length === 1 ? folders[0] : `{${folders.join(',')}}`} sits below ${higher.join(', ')}: imports point downwards only (README, "Layout")`;
  return {
    files: folders.map((folder) => `src/${folder}/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_TEST_CODE, { regex: `^(\\.\\./)+(${higher.join('|')})(/|$)`, message }] }],
    },
  };
}

export default tseslint.config(
  {
    // Generated, installed or recorded files; test/fixtures holds recorded workflow histories.
    ignores: [
      'dist/',
      'node_modules/',
      '.cache/',
      'test-artifacts/',
      'test/fixtures/',
      'segflow-reports/',
      'data/',
      'reports/mutation/',
      '.stryker-tmp/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts', 'vitest.stryker.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Type-aware promise checks: an un-awaited promise hides its error and lets work outlive its caller.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // A leading underscore marks a deliberately unused name (a rest-destructuring that drops a field, an
      // interface parameter the implementation does not need).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Stripping and escaping control characters from hostile text is what src/shared/safe-text.ts is for.
      'no-control-regex': 'off',
    },
  },
  {
    // The few plain CommonJS scripts (bin/, deploy/, this file): no type information, Node's globals.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
  { files: ['src/**/*.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [NO_TEST_CODE] }] } },
  downwardImports(['core', 'io', 'segment', 'codec', 'ops'], ['workflows', 'activities', 'cli', 'dev', 'client', 'worker']),
  downwardImports(['activities'], ['workflows', 'cli', 'dev', 'client', 'worker']),
  sandboxImports('workflows', ['contracts', 'shared']),
  sandboxImports('contracts', ['shared']),
  sandboxImports('shared', []),
);
