/** The sample files the README points at stay valid. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCsvHeader, isCsvHeaderError } from '../../src/core/csv-mapping';
import { parseJobSpecText } from '../../src/core/job-spec';

const samples = join(__dirname, '../../samples');

describe('samples', () => {
  it('retire-sources.yaml is a valid job file', () => {
    const spec = parseJobSpecText(readFileSync(join(samples, 'retire-sources.yaml'), 'utf8'));
    expect(spec.steps.map((s) => s.op)).toEqual(['add-labels', 'update-source']);
  });

  it('events.csv has a header segflow accepts', () => {
    const header = readFileSync(join(samples, 'events.csv'), 'utf8').split('\n')[0]!.split(',');
    expect(isCsvHeaderError(compileCsvHeader(header))).toBe(false);
  });
});
