/**
 * Workers read only what they are allowed to: local paths under SEGFLOW_INPUT_ROOTS, URLs of public hosts (or hosts
 * SEGFLOW_INPUT_HOSTS names), and never a link-local / cloud-metadata address; a connection goes only to an address
 * the policy judged, whatever a later DNS answer says.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asInputFailure } from '../../src/activities/input-checks';
import { HttpRangeSource } from '../../src/io/http-source';
import { checkInputAllowed, InputNotAllowedError, vettedConnector, type Resolve } from '../../src/io/input-policy';
import { openByteSource } from '../../src/io/open-byte-source';
import { startRangeServer, type RangeServer } from '../support/range-server';
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
    await expect(checkInputAllowed('http://127.0.0.1:9/x.csv', { SEGFLOW_INPUT_HOSTS: 'bucket.example.com' })).rejects.toThrow(/SEGFLOW_INPUT_HOSTS/);
    await expect(
      checkInputAllowed('https://bucket.example.com/x.csv?sig=1', { SEGFLOW_INPUT_HOSTS: 'bucket.example.com, other' }, publicAnswer),
    ).resolves.toBeUndefined();
  });
});

/** A DNS answer for names in these tests: one public address (example.com's), the same every time. */
const publicAnswer: Resolve = async () => [{ address: '93.184.215.14', family: 4 }];

describe('URLs: closed by default', () => {
  // Issue 20, item 5: each was accepted with SEGFLOW_INPUT_HOSTS unset.
  const internal = ['http://127.0.0.1:7233/', 'http://0.0.0.0:8888/', 'http://localhost:9464/metrics'];
  const metadata = [
    'http://100.100.100.200/latest/meta-data/',
    'http://[::a9fe:a9fe]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://metadata.google.internal./',
  ];
  const answerLocalhost: Resolve = async (host) => {
    if (host !== 'localhost') throw Object.assign(new Error(`no ${host}`), { code: 'ENOTFOUND' });
    return [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ];
  };
  const listing = (url: string) => ({ SEGFLOW_INPUT_HOSTS: new URL(url).hostname });

  it.each(internal)('refuses %s by default, naming SEGFLOW_INPUT_HOSTS, and reads it once the list names its host', async (url) => {
    await expect(checkInputAllowed(url, {}, answerLocalhost)).rejects.toThrow(/not a public one; name .* in the worker's SEGFLOW_INPUT_HOSTS/);
    await expect(checkInputAllowed(url, listing(url), answerLocalhost)).resolves.toBeUndefined();
  });

  it.each(metadata)('refuses %s as cloud metadata, also when SEGFLOW_INPUT_HOSTS names its host', async (url) => {
    await expect(checkInputAllowed(url, {}, publicAnswer)).rejects.toThrow(/cloud metadata addresses are never read/);
    await expect(checkInputAllowed(url, listing(url), publicAnswer)).rejects.toThrow(/cloud metadata addresses are never read/);
  });

  it.each([
    ['http://10.1.2.3/x.csv', /private \(RFC 1918\)/],
    ['http://192.168.0.9/x.csv', /private \(RFC 1918\)/],
    ['http://100.64.1.1/x.csv', /shared/],
    ['http://[fc00::5]/x.csv', /unique local/],
    ['http://[::ffff:127.0.0.1]/x.csv', /IPv4-mapped IPv6 \(127\.0\.0\.1: a loopback\)/],
    ['http://[::10.0.0.1]/x.csv', /IPv4-compatible IPv6/],
    ['http://[64:ff9b::7f00:1]/x.csv', /NAT64 \(127\.0\.0\.1: a loopback\)/],
    ['http://[64:ff9b:1::a00:1]/x.csv', /local-use NAT64/],
    ['http://224.0.0.1/x.csv', /multicast/],
    ['http://240.0.0.1/x.csv', /reserved/],
  ])('refuses the internal address %s by default', async (url, what) => {
    await expect(checkInputAllowed(url, {})).rejects.toThrow(what);
  });

  it('judges the IPv4 address a NAT64 address embeds: a public one is read', async () => {
    await expect(checkInputAllowed('http://[64:ff9b::808:808]/x.csv', {})).resolves.toBeUndefined();
  });

  it('judges a name by every address it resolves to, trailing dot and case ignored', async () => {
    const mixed: Resolve = async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ];
    await expect(checkInputAllowed('http://Files.Example.COM./x.csv', {}, mixed)).rejects.toThrow(/files\.example\.com resolves to 10\.0\.0\.7/);
    await expect(checkInputAllowed('http://Files.Example.COM./x.csv', { SEGFLOW_INPUT_HOSTS: 'files.example.com' }, mixed)).resolves.toBeUndefined();
    await expect(checkInputAllowed('http://files.example.com/x.csv', { SEGFLOW_INPUT_HOSTS: 'FILES.example.com.' }, mixed)).resolves.toBeUndefined();
    const metadataAnswer: Resolve = async () => [{ address: '169.254.169.254', family: 4 }];
    await expect(checkInputAllowed('http://files.example.com/x', { SEGFLOW_INPUT_HOSTS: 'files.example.com' }, metadataAnswer)).rejects.toThrow(
      /cloud metadata/,
    );
  });

  it('refuses a name that does not resolve', async () => {
    const failing: Resolve = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    await expect(checkInputAllowed('http://files.example.com/x.csv', {}, failing)).rejects.toThrow(/does not resolve \(ENOTFOUND\)/);
    await expect(checkInputAllowed('http://files.example.com/x.csv', { SEGFLOW_INPUT_HOSTS: 'files.example.com' }, failing)).rejects.toThrow(
      InputNotAllowedError,
    );
  });
});

describe('connections go only to vetted addresses', () => {
  let store: RangeServer;
  let port: number;
  beforeAll(async () => {
    store = await startRangeServer();
    store.put('/x.ndjson', '{}\n');
    port = Number(new URL(store.url('/')).port);
  });
  afterAll(() => store.stop());

  it('a rebinding name (public for the check, loopback for the connection) never reaches the loopback server', async () => {
    const answers = ['93.184.215.14', '127.0.0.1'];
    const rebinding: Resolve = async () => [{ address: answers.shift() ?? '127.0.0.1', family: 4 }];
    const url = `http://files.example.com:${port}/x.ndjson`;
    await expect(checkInputAllowed(url, {}, rebinding)).resolves.toBeUndefined();
    const before = store.requests.length;
    const source = new HttpRangeSource(url, { dispatcher: new Agent({ connect: vettedConnector({}, rebinding) }) });
    await expect(source.size()).rejects.toThrow(/files\.example\.com resolves to 127\.0\.0\.1, a loopback address/);
    expect(store.requests.length).toBe(before);
  });

  it('a listed name connects to the address its own lookup judged', async () => {
    const toServer: Resolve = async () => [{ address: '127.0.0.1', family: 4 }];
    const source = new HttpRangeSource(`http://files.example.com:${port}/x.ndjson`, {
      dispatcher: new Agent({ connect: vettedConnector({ SEGFLOW_INPUT_HOSTS: 'files.example.com' }, toServer) }),
    });
    // files.example.com is not this server in any real DNS: reaching it means the vetted answer was used.
    expect(await source.size()).toBe(3);
  });

  it("a worker's source refuses an IP literal at connect time unless SEGFLOW_INPUT_HOSTS names it", async () => {
    const before = store.requests.length;
    await expect(openByteSource(store.url('/x.ndjson'), { inputPolicy: {} }).size()).rejects.toThrow(/127\.0\.0\.1 is a loopback address/);
    expect(store.requests.length).toBe(before);
    expect(await openByteSource(store.url('/x.ndjson'), { inputPolicy: { SEGFLOW_INPUT_HOSTS: '127.0.0.1' } }).size()).toBe(3);
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

  it('a connection refused at connect time fails the chunk as InputNotAllowed, not to be retried', () => {
    const failure = asInputFailure(new InputNotAllowedError('http://files.example.com/x: files.example.com resolves to 10.0.0.7'), 'x');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(FailureType.InputNotAllowed);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('inspectInput refuses a cloud metadata URL', async () => {
    const activities = createActivities({});
    const error = await activities.inspectInput({ file: 'http://169.254.169.254/latest/meta-data/iam.csv', format: 'csv' }).catch((e: unknown) => e);
    expect((error as ApplicationFailure).type).toBe(FailureType.InputNotAllowed);
  });
});
