/**
 * Workers read only what they are allowed to: local paths under SEGFLOW_INPUT_ROOTS, URLs on SEGFLOW_INPUT_HOSTS,
 * and never a link-local / cloud-metadata address.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { checkInputAllowed } from '../../src/io/input-policy';
import { createActivities } from '../../src/worker';
import { FailureType } from '../../src/contracts/failures';

const base = mkdtempSync(join(tmpdir(), 'segflow-policy-'));
const data = join(base, 'data');
mkdirSync(data);
writeFileSync(join(data, 'ok.ndjson'), '');
writeFileSync(join(base, 'outside.ndjson'), 'secret\n');
symlinkSync(join(base, 'outside.ndjson'), join(data, 'link.ndjson'));

describe('checkInputAllowed', () => {
  const env = { SEGFLOW_INPUT_ROOTS: data, SEGFLOW_REPORT_DIR: join(base, 'reports') };

  it('allows files under SEGFLOW_INPUT_ROOTS and refuses others, symlinks resolved', async () => {
    await expect(checkInputAllowed(join(data, 'ok.ndjson'), env)).resolves.toBeUndefined();
    await expect(checkInputAllowed(join(base, 'outside.ndjson'), env)).rejects.toThrow(/SEGFLOW_INPUT_ROOTS/);
    await expect(checkInputAllowed(join(data, '..', 'outside.ndjson'), env)).rejects.toThrow(/SEGFLOW_INPUT_ROOTS/);
    await expect(checkInputAllowed(join(data, 'link.ndjson'), env)).rejects.toThrow(/SEGFLOW_INPUT_ROOTS/);
    await expect(checkInputAllowed('/etc/passwd', env)).rejects.toThrow(/SEGFLOW_INPUT_ROOTS/);
  });

  it('refuses link-local and metadata addresses always, and hosts not on SEGFLOW_INPUT_HOSTS when it is set', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/x.csv',
      'http://metadata.google.internal/x.csv',
      'http://[::ffff:169.254.169.254]/x',
    ]) {
      await expect(checkInputAllowed(url, {})).rejects.toThrow(/link-local|metadata/);
    }
    await expect(checkInputAllowed('http://127.0.0.1:9/x.csv', {})).resolves.toBeUndefined();
    await expect(checkInputAllowed('http://127.0.0.1:9/x.csv', { SEGFLOW_INPUT_HOSTS: 'bucket.example.com' })).rejects.toThrow(/SEGFLOW_INPUT_HOSTS/);
    await expect(
      checkInputAllowed('https://bucket.example.com/x.csv?sig=1', { SEGFLOW_INPUT_HOSTS: 'bucket.example.com, other' }),
    ).resolves.toBeUndefined();
  });
});

describe('the activities apply the policy', () => {
  it('inspectInput refuses a file outside the roots without echoing its content', async () => {
    const activities = createActivities({ SEGFLOW_INPUT_ROOTS: data, SEGFLOW_REPORT_DIR: join(base, 'reports') });
    const error = await activities.inspectInput({ file: join(base, 'outside.ndjson'), format: 'csv' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe(FailureType.InputNotAllowed);
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as Error).message).not.toContain('secret');
  });

  it('inspectInput refuses a cloud metadata URL', async () => {
    const activities = createActivities({});
    const error = await activities.inspectInput({ file: 'http://169.254.169.254/latest/meta-data/iam.csv', format: 'csv' }).catch((e: unknown) => e);
    expect((error as ApplicationFailure).type).toBe(FailureType.InputNotAllowed);
  });
});
