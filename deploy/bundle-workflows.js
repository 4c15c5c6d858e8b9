#!/usr/bin/env node
// Bundles segflow's workflow code once, at build time (`npm run build`, also in the image), with the exact
// @temporalio/worker version that runs it (a bundle from any other version is refused by the worker). The worker
// loads dist/workflow-bundle.js (or SEGFLOW_WORKFLOW_BUNDLE) instead of running webpack on every start.
//
// Usage: node deploy/bundle-workflows.js <compiled workflows entry> <output file>
'use strict';
const { writeFileSync } = require('node:fs');
const { resolve } = require('node:path');
const { bundleWorkflowCode } = require('@temporalio/worker');

async function main() {
  const [entry, output] = process.argv.slice(2);
  if (!entry || !output) {
    process.stderr.write('usage: node deploy/bundle-workflows.js <workflows entry .js> <output .js>\n');
    process.exit(2);
  }
  const { code } = await bundleWorkflowCode({ workflowsPath: resolve(entry) });
  writeFileSync(resolve(output), code);
  process.stderr.write(`workflow bundle written to ${output} (${code.length} bytes)\n`);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
