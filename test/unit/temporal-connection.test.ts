import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import {
  TemporalConfigError,
  clientConnectionOptions,
  dataConverterFromEnv,
  describeTemporalProfile,
  loadTemporalProfile,
  nativeConnectionOptions,
  type TemporalProfile,
} from '../../src/temporal-connection';

// HOME points at an empty directory so a developer's own ~/.config/temporalio/temporal.toml never leaks in.
const emptyHome = mkdtempSync(join(tmpdir(), 'segflow-home-'));
const load = (vars: Record<string, string | undefined>) => loadTemporalProfile({ HOME: emptyHome, XDG_CONFIG_HOME: undefined, ...vars });

function configFile(toml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-temporal-config-'));
  const path = join(dir, 'temporal.toml');
  writeFileSync(path, toml);
  return path;
}

const profiles = configFile(`
[profile.default]
address = "temporal.internal:7233"
namespace = "imports"

[profile.cloud]
address = "segflow.a1b2c.tmprl.cloud:7233"
namespace = "segflow.a1b2c"
api_key = "key-from-file"

[profile.mtls]
address = "mtls.example:7233"
[profile.mtls.tls]
client_cert_data = "CERT"
client_key_data = "KEY"
server_name = "frontend.example"
`);

describe('loadTemporalProfile', () => {
  it.each<[string, Record<string, string | undefined>, Partial<TemporalProfile>]>([
    ['defaults to the local dev server', {}, { address: 'localhost:7233', namespace: 'default', tls: undefined, apiKey: undefined }],
    [
      'reads TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE',
      { TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'imports' },
      { address: 'temporal:7233', namespace: 'imports', tls: undefined },
    ],
    [
      'turns TLS on for an API key (Temporal Cloud)',
      { TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233', TEMPORAL_API_KEY: 'secret' },
      { apiKey: 'secret', tls: true },
    ],
    ['lets TEMPORAL_TLS=false win over an API key', { TEMPORAL_API_KEY: 'secret', TEMPORAL_TLS: 'false' }, { apiKey: 'secret', tls: false }],
    ['turns TLS on with TEMPORAL_TLS=true', { TEMPORAL_TLS: 'true' }, { tls: {} as never }],
    [
      'treats empty variables as unset (compose passes `VAR=`)',
      { TEMPORAL_ADDRESS: '', TEMPORAL_API_KEY: '', TEMPORAL_NAMESPACE: ' ' },
      { address: 'localhost:7233', namespace: 'default', apiKey: undefined, tls: undefined },
    ],
    [
      'uses the default profile of TEMPORAL_CONFIG_FILE',
      { TEMPORAL_CONFIG_FILE: profiles },
      { address: 'temporal.internal:7233', namespace: 'imports' },
    ],
    [
      'selects a profile with TEMPORAL_PROFILE',
      { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'cloud' },
      { address: 'segflow.a1b2c.tmprl.cloud:7233', namespace: 'segflow.a1b2c', apiKey: 'key-from-file', tls: true },
    ],
    [
      'lets variables override the profile',
      { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'cloud', TEMPORAL_API_KEY: 'rotated' },
      { address: 'segflow.a1b2c.tmprl.cloud:7233', apiKey: 'rotated' },
    ],
  ])('%s', (_name, vars, expected) => {
    const profile = load(vars);
    for (const [key, value] of Object.entries(expected)) {
      if (value !== null && typeof value === 'object') expect(profile[key as keyof TemporalProfile], key).toMatchObject(value);
      else expect(profile[key as keyof TemporalProfile], key).toBe(value);
    }
  });

  it('reads mTLS certificates and the server name from a profile', () => {
    const profile = load({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'mtls' });
    expect(profile.tls).toMatchObject({ serverNameOverride: 'frontend.example' });
    const tls = profile.tls as { clientCertPair: { crt: Uint8Array; key: Uint8Array } };
    expect(Buffer.from(tls.clientCertPair.crt).toString()).toBe('CERT');
    expect(Buffer.from(tls.clientCertPair.key).toString()).toBe('KEY');
  });

  it('passes TEMPORAL_GRPC_META_* headers as metadata', () => {
    expect(load({ TEMPORAL_GRPC_META_X_TENANT: 'acme' }).metadata).toEqual({ 'x-tenant': 'acme' });
  });

  it.each([
    ['an unknown profile', { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'staging' }, /profile "staging".*not found/],
    ['a config file that does not exist', { TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' }, /TEMPORAL_CONFIG_FILE points to \/nonexistent/],
    [
      'a client certificate path that does not exist',
      { TEMPORAL_TLS_CLIENT_CERT_PATH: '/nonexistent/cert.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/nonexistent/key.pem' },
      /TEMPORAL_TLS_/,
    ],
  ])('explains %s', (_name, vars, message) => {
    expect(() => load(vars)).toThrow(TemporalConfigError);
    expect(() => load(vars)).toThrow(message);
  });
});

describe('connection options', () => {
  const cloud: TemporalProfile = { address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', tls: true, apiKey: 'secret', metadata: { 'x-a': 'b' } };

  it.each([
    ['client', clientConnectionOptions],
    ['native (worker)', nativeConnectionOptions],
  ])('%s options carry address, TLS, API key and headers', (_name, build) => {
    expect(build(cloud)).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'secret', metadata: { 'x-a': 'b' } });
    expect(build({ address: 'localhost:7233', namespace: 'default' })).toEqual({ address: 'localhost:7233' });
  });

  it('describes a profile without revealing the API key', () => {
    const text = describeTemporalProfile(cloud);
    expect(text).toBe('ns.acct.tmprl.cloud:7233 (namespace ns.acct, TLS + API key)');
    expect(text).not.toContain('secret');
  });
});

describe('dataConverterFromEnv', () => {
  it('is undefined without SEGFLOW_CODEC_KEY', () => {
    expect(dataConverterFromEnv({})).toBeUndefined();
  });

  it('returns the encryption codec when a key is set', () => {
    const converter = dataConverterFromEnv({ SEGFLOW_CODEC_KEY: Buffer.alloc(32, 7).toString('base64'), SEGFLOW_CODEC_KEY_ID: 'k1' });
    expect(converter?.payloadCodecs).toHaveLength(1);
    expect(converter!.payloadCodecs![0]).toBeInstanceOf(EncryptionCodec);
    expect((converter!.payloadCodecs![0] as EncryptionCodec).currentKeyId).toBe('k1');
  });
});
