/**
 * Payload encryption against the real dev server: what Temporal stores (and so what the UI and CLI show to
 * someone without the key) is ciphertext, while a client with the codec, the codec server and the Temporal
 * CLI pointed at the codec server all read it back.
 */
import { Client, type WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { payloadToJson, startCodecServer, type JsonPayload, type RunningCodecServer } from '../../src/codec/codec-server';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { listJobs } from '../../src/client';
import type { TemporalSettings } from '../../src/config';
import { dataConverterFromEnv } from '../../src/temporal-connection';
import { getTestEnv, uniqueTaskQueue } from '../support/temporal';
import { waitFor } from '../support/wait';

const SECRET_FILE = '/data/acme-customer-emails.csv';
const SECRET_SUMMARY = 'import acme-customer-emails.csv → source default';
const UI_ORIGIN = 'http://localhost:8233';
const TOKEN = randomBytes(24).toString('hex');
const codecKey = randomBytes(32);
const codecEnv = { SEGFLOW_CODEC_KEY: codecKey.toString('base64'), SEGFLOW_CODEC_KEY_ID: 'test-key' };
const codec = new EncryptionCodec({ current: { id: 'test-key', key: codecKey } });

let plainClient: Client;
let encryptedClient: Client;
let handle: WorkflowHandle;
let codecServer: RunningCodecServer;

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

beforeAll(async () => {
  const env = await getTestEnv();
  plainClient = new Client({ connection: env.connection, namespace: 'default' });
  encryptedClient = new Client({ connection: env.connection, namespace: 'default', dataConverter: dataConverterFromEnv(codecEnv) });
  // No worker polls this queue: the workflow only needs to exist so its first events are stored.
  handle = await encryptedClient.workflow.start('importJob', {
    taskQueue: uniqueTaskQueue('codec'),
    workflowId: `codec-${randomUUID()}`,
    args: [{ jobId: 'codec-test', options: { file: SECRET_FILE, source: 'default' } }],
    staticSummary: SECRET_SUMMARY,
    memo: { file: SECRET_FILE },
  });
  codecServer = await startCodecServer({ port: 0, codec, allowedOrigin: UI_ORIGIN, token: TOKEN });
});

afterAll(async () => {
  await handle?.terminate('codec test done').catch(() => undefined);
  await codecServer?.close();
});

async function startedEvent() {
  const history = await plainClient.workflow.getHandle(handle.workflowId).fetchHistory();
  const event = history.events?.[0];
  expect(event?.workflowExecutionStartedEventAttributes).toBeTruthy();
  return event!;
}

async function storedInput(): Promise<Payload> {
  const payload = (await startedEvent()).workflowExecutionStartedEventAttributes!.input!.payloads![0];
  expect(payload).toBeDefined();
  return payload!;
}

describe('what Temporal stores', () => {
  it('keeps the workflow input encrypted, with no trace of the file path', async () => {
    const payload = await storedInput();
    expect(text(payload.metadata!.encoding)).toBe('binary/encrypted');
    expect(text(payload.metadata!['encryption-key-id'])).toBe('test-key');
    expect(text(payload.data)).not.toContain('acme-customer-emails');
    expect(JSON.stringify(await startedEvent())).not.toContain('acme-customer-emails');
  });

  it('encrypts the UI summary and the memo too', async () => {
    const event = await startedEvent();
    expect(text(event.userMetadata!.summary!.metadata!.encoding)).toBe('binary/encrypted');
    expect(text(event.workflowExecutionStartedEventAttributes!.memo!.fields!.file!.metadata!.encoding)).toBe('binary/encrypted');
  });

  it('cannot be read by a client without the codec', async () => {
    // describe() decodes the memo eagerly, so without the key even the description is refused.
    await expect(plainClient.workflow.getHandle(handle.workflowId).describe()).rejects.toThrow(/Unknown encoding: binary\/encrypted/);
  });
});

describe('listing jobs without the key', () => {
  it('lists an encrypted job (ids, state, kind) instead of failing the whole listing on its memo', async () => {
    // The SDK's list() decodes every memo; before, one encrypted job made `segflow list` fail for everyone else.
    const sc = { client: plainClient, settings: { namespace: 'default' } as TemporalSettings, close: async () => {} };
    let listed: Awaited<ReturnType<typeof listJobs>> = [];
    await waitFor(
      async () => {
        listed = await listJobs(sc, { kind: 'import', limit: 1000 });
        return listed.some((job) => job.jobId === handle.workflowId);
      },
      30_000,
      'the encrypted job in the listing',
    );
    expect(listed.find((job) => job.jobId === handle.workflowId)).toMatchObject({ kind: 'import', status: 'RUNNING' });
    expect(JSON.stringify(listed)).not.toContain('acme-customer-emails');
  });
});

describe('reading it back with the key', () => {
  it('decodes the summary and memo through a client with the codec', async () => {
    const description = await encryptedClient.workflow.getHandle(handle.workflowId).describe();
    expect(await description.staticSummary()).toBe(SECRET_SUMMARY);
    expect(description.memo).toEqual({ file: SECRET_FILE });
  });

  it('decodes the stored input with the codec', async () => {
    const [decoded] = await codec.decode([await storedInput()]);
    expect(text(decoded!.metadata!.encoding)).toBe('json/plain');
    expect(JSON.parse(text(decoded!.data))).toMatchObject({ options: { file: SECRET_FILE } });
  });
});

describe('codec server over HTTP', () => {
  async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    return fetch(`${codecServer.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: UI_ORIGIN, 'x-namespace': 'default', authorization: `Bearer ${TOKEN}`, ...headers },
      body: JSON.stringify(body),
    });
  }

  it('decodes a payload taken from history, answering CORS for the UI', async () => {
    const response = await post('/decode', { payloads: [payloadToJson(await storedInput())] });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const body = (await response.json()) as { payloads: JsonPayload[] };
    expect(Buffer.from(body.payloads[0]!.metadata!.encoding!, 'base64').toString()).toBe('json/plain');
    expect(Buffer.from(body.payloads[0]!.data!, 'base64').toString()).toContain(SECRET_FILE);
  });

  it('round-trips /encode then /decode under any path prefix', async () => {
    const original: JsonPayload = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('"hello"').toString('base64'),
    };
    const encoded = (await (await post('/codec/default/encode', { payloads: [original] })).json()) as { payloads: JsonPayload[] };
    expect(Buffer.from(encoded.payloads[0]!.metadata!.encoding!, 'base64').toString()).toBe('binary/encrypted');
    const decoded = (await (await post('/codec/default/decode', encoded)).json()) as { payloads: JsonPayload[] };
    expect(decoded.payloads).toEqual([original]);
  });

  it('answers the browser preflight with the headers the UI sends', async () => {
    const response = await fetch(`${codecServer.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: UI_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-namespace, content-type' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(response.headers.get('access-control-allow-headers')).toMatch(/x-namespace.*content-type|content-type.*x-namespace/);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('gives other origins no CORS permission', async () => {
    const response = await post('/decode', { payloads: [] }, { origin: 'https://evil.example' });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each([
    [
      'a tampered payload',
      async () => {
        const json = payloadToJson(await storedInput());
        const data = Buffer.from(json.data!, 'base64');
        data[data.length - 1] = data[data.length - 1]! ^ 1;
        return { payloads: [{ ...json, data: data.toString('base64') }] };
      },
      400,
      /failed authentication/,
    ],
    ['a body without payloads', async () => ({ nothing: true }), 400, /payloads/],
  ])('refuses %s with a clear error', async (_name, body, status, message) => {
    const response = await post('/decode', await body());
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
  });

  it('lets the Temporal CLI show the decoded history through --codec-endpoint', async () => {
    const run = promisify(execFile);
    const args = ['workflow', 'show', '--workflow-id', handle.workflowId, '--address', inject('temporalAddress'), '--output', 'json'];
    // The CLI's JSON output shows payload data as base64; the memo value is the JSON string of the path.
    const memoData = Buffer.from(JSON.stringify(SECRET_FILE)).toString('base64');
    const withoutCodec = await run(inject('temporalCli'), args);
    expect(withoutCodec.stdout).not.toContain(memoData);
    expect(withoutCodec.stdout).toContain(Buffer.from('binary/encrypted').toString('base64'));
    const withCodec = await run(inject('temporalCli'), [...args, '--codec-endpoint', codecServer.url, '--codec-auth', `Bearer ${TOKEN}`]);
    expect(withCodec.stdout).toContain(memoData);
    // The Web UI can only carry a secret in the endpoint URL: the token as a path segment works too.
    const viaPath = await run(inject('temporalCli'), [...args, '--codec-endpoint', `${codecServer.url}/${TOKEN}`]);
    expect(viaPath.stdout).toContain(memoData);
  });
});

describe('codec server next to a browser', () => {
  /** A raw request, so the Host header can be what a DNS-rebinding page would send (fetch fixes it). */
  function rawPost(
    path: string,
    headers: Record<string, string>,
    body = JSON.stringify({ payloads: [] }),
  ): Promise<{ status: number; body: string; cors: string | undefined }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port: codecServer.port, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: text, cors: response.headers['access-control-allow-origin'] as string | undefined }),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  it('refuses a request with a foreign Host header (DNS rebinding), even with the token', async () => {
    const rebinding = await rawPost('/decode', {
      host: `evil.example:${codecServer.port}`,
      origin: 'http://evil.example',
      authorization: `Bearer ${TOKEN}`,
    });
    expect(rebinding.status).toBe(421);
    expect(rebinding.cors).toBeUndefined();
    const local = await rawPost('/decode', { host: `localhost:${codecServer.port}`, authorization: `Bearer ${TOKEN}` });
    expect(local.status).toBe(200);
  });

  it('requires the token by default: missing or wrong is 401', async () => {
    expect((await rawPost('/decode', { host: `127.0.0.1:${codecServer.port}` })).status).toBe(401);
    expect((await rawPost('/decode', { host: `127.0.0.1:${codecServer.port}`, authorization: `Bearer ${TOKEN.slice(0, -1)}x` })).status).toBe(401);
    expect((await rawPost(`/${TOKEN}/decode`, { host: `127.0.0.1:${codecServer.port}` })).status).toBe(200);
    await expect(startCodecServer({ port: 0, codec, allowedOrigin: UI_ORIGIN })).rejects.toThrow(/requires authentication/);
    await expect(startCodecServer({ port: 0, codec, allowedOrigin: UI_ORIGIN, token: 'short' })).rejects.toThrow(/at least 16/);
  });

  it('in require-encryption mode, refuses to decode plaintext payloads (no injected plaintext signal or input)', async () => {
    const strict = new EncryptionCodec({ current: { id: 'test-key', key: codecKey }, requireEncryption: true });
    const server = await startCodecServer({ port: 0, codec: strict, allowedOrigin: UI_ORIGIN, token: TOKEN });
    try {
      const plaintext: JsonPayload = {
        metadata: { encoding: Buffer.from('json/plain').toString('base64') },
        data: Buffer.from('{"by":"mallory"}').toString('base64'),
      };
      const response = await fetch(`${server.url}/decode`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ payloads: [plaintext] }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/unencrypted payload/);
      await expect(strict.decode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{}') }])).rejects.toThrow(
        /requires encryption/,
      );
      // Encrypted payloads still decode.
      const [decoded] = await strict.decode(await strict.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"ok"') }]));
      expect(text(decoded!.data)).toBe('"ok"');
    } finally {
      await server.close();
    }
  });
});
