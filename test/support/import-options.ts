/**
 * Import options as `segflow import` starts them with its defaults (src/client/import-start.ts IMPORT_DEFAULTS), for
 * tests that hand options to a workflow, a schema or a check directly; each test overrides what it is about.
 */
import { IMPORT_DEFAULTS } from '../../src/client/import-start';
import type { ImportOptions } from '../../src/contracts/import-job';

export function importOptions(overrides: Partial<ImportOptions> & Pick<ImportOptions, 'file'>): ImportOptions {
  return {
    format: 'ndjson',
    source: 'default',
    idNamespace: 'default',
    dryRun: false,
    requireApproval: false,
    allowMissingTimestamp: false,
    ...IMPORT_DEFAULTS,
    searchAttributes: false,
    ...overrides,
  };
}
