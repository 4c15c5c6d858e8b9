#!/usr/bin/env node
// Runs the compiled CLI (npm run build); from a source checkout without a build, use `npx tsx src/cli.ts`.
require('../dist/cli.js');
