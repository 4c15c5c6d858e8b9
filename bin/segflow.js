#!/usr/bin/env node
// The compiled CLI (`npm run build`). From a source checkout without a build, use `npx tsx src/cli.ts`.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const compiled = join(__dirname, '..', 'dist', 'cli.js');
if (!existsSync(compiled)) {
  process.stderr.write('segflow: not built yet; run `npm run build` (or use `npx tsx src/cli.ts`)\n');
  process.exit(2);
}
require(compiled).main(process.argv);
