import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers';
import { dataConverterFromEnv } from '../../src/temporal-connection';
import { describe, expect, it } from 'vitest';
import {
  CodecConfigError,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  PayloadDecryptionError,
  UnknownEncryptionKeyError,
  encryptionCodecFromEnv,
  parseBase64Key,
  parsePreviousKeys,
} from '../../src/codec/encryption-codec';
import { FailureType } from '../../src/contracts/failures';

const keyA = { id: 'a', key: randomBytes(32) };
const keyB = { id: 'b', key: randomBytes(32) };
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const toPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const fromPayload = (payload: Payload): unknown => defaultPayloadConverter.fromPayload(payload);

const row = { file: '/data/customers.csv', email: 'ada@example.com', traits: { plan: 'pro' } };

describe('EncryptionCodec round trip', () => {
  const codec = new EncryptionCodec({ current: keyA });

  it.each([
    ['an object', row],
    ['a string', 'hello'],
    ['null', null],
    ['an empty array', []],
    ['a large value', 'x'.repeat(1_000_000)],
  ])('encrypts and decrypts %s', async (_name, value) => {
    const [encoded] = await codec.encode([toPayload(value)]);
    expect(text(encoded!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded!.metadata!['encryption-key-id'])).toBe('a');
    const [decoded] = await codec.decode([encoded!]);
    expect(fromPayload(decoded!)).toEqual(value);
  });

  it('keeps the original metadata inside the ciphertext, not beside it', async () => {
    const [encoded] = await codec.encode([toPayload(row)]);
    expect(Object.keys(encoded!.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(text(encoded!.data)).not.toContain('ada@example.com');
    expect(text(encoded!.data)).not.toContain('json/plain');
    const [decoded] = await codec.decode([encoded!]);
    expect(text(decoded!.metadata!.encoding)).toBe('json/plain');
  });

  it('uses a fresh IV for every payload', async () => {
    const [first, second] = await codec.encode([toPayload(row), toPayload(row)]);
    expect(Buffer.from(first!.data!).equals(Buffer.from(second!.data!))).toBe(false);
  });

  it('handles several payloads in one call, in order', async () => {
    const encoded = await codec.encode([toPayload(1), toPayload(2), toPayload(3)]);
    expect((await codec.decode(encoded)).map(fromPayload)).toEqual([1, 2, 3]);
  });
});

describe('EncryptionCodec decode', () => {
  const codec = new EncryptionCodec({ current: keyA });

  it('passes unencrypted payloads through unchanged, so data from before encryption stays readable', async () => {
    const plain = toPayload(row);
    const [decoded] = await codec.decode([plain]);
    expect(decoded).toBe(plain);
  });

  it.each([
    ['a flipped ciphertext byte', (data: Buffer) => void (data[20] = data[20]! ^ 1)],
    ['a flipped IV byte', (data: Buffer) => void (data[0] = data[0]! ^ 1)],
    ['a flipped auth-tag byte', (data: Buffer) => void (data[data.length - 1] = data[data.length - 1]! ^ 1)],
  ])('detects tampering: %s', async (_name, tamper) => {
    const [encoded] = await codec.encode([toPayload(row)]);
    const data = Buffer.from(encoded!.data!);
    tamper(data);
    await expect(codec.decode([{ ...encoded!, data }])).rejects.toBeInstanceOf(PayloadDecryptionError);
  });

  it('detects truncation', async () => {
    const [encoded] = await codec.encode([toPayload(row)]);
    await expect(codec.decode([{ ...encoded!, data: encoded!.data!.subarray(0, 20) }])).rejects.toBeInstanceOf(PayloadDecryptionError);
  });

  it('rejects a payload encrypted with a different key under the same id', async () => {
    const impostor = new EncryptionCodec({ current: { id: 'a', key: randomBytes(32) } });
    const [encoded] = await impostor.encode([toPayload(row)]);
    await expect(codec.decode([encoded!])).rejects.toThrow(/failed authentication/);
  });

  it('names the missing key when a payload uses a key id it does not know', async () => {
    const [encoded] = await new EncryptionCodec({ current: keyB }).encode([toPayload(row)]);
    const error = await codec.decode([encoded!]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownEncryptionKeyError);
    expect((error as Error).message).toContain('"b"');
    expect((error as Error).message).toContain('SEGFLOW_CODEC_PREVIOUS_KEYS');
  });

  it('rejects an encrypted payload without a key id', async () => {
    const [encoded] = await codec.encode([toPayload(row)]);
    const { 'encryption-key-id': _dropped, ...metadata } = encoded!.metadata!;
    await expect(codec.decode([{ ...encoded!, metadata }])).rejects.toBeInstanceOf(PayloadDecryptionError);
  });
});

describe('key rotation', () => {
  it('encodes with the current key and still decodes data written with a previous one', async () => {
    const before = new EncryptionCodec({ current: keyA });
    const [old] = await before.encode([toPayload('old data')]);

    const after = new EncryptionCodec({ current: keyB, previous: [keyA] });
    const [fresh] = await after.encode([toPayload('new data')]);
    expect(text(fresh!.metadata!['encryption-key-id'])).toBe('b');
    expect((await after.decode([old!, fresh!])).map(fromPayload)).toEqual(['old data', 'new data']);

    // A process that only has the old key cannot read the new data.
    await expect(before.decode([fresh!])).rejects.toBeInstanceOf(UnknownEncryptionKeyError);
  });

  it('refuses two different keys under one id', () => {
    expect(() => new EncryptionCodec({ current: keyA, previous: [{ id: 'a', key: randomBytes(32) }] })).toThrow(CodecConfigError);
  });

  it.each([
    ['a 16-byte key', { id: 'k', key: randomBytes(16) }],
    ['an id with a colon', { id: 'k:1', key: randomBytes(32) }],
    ['an empty id', { id: '', key: randomBytes(32) }],
  ])('refuses %s', (_name, key) => {
    expect(() => new EncryptionCodec({ current: key })).toThrow(CodecConfigError);
  });
});

describe('configuration from the environment', () => {
  const base64A = keyA.key.toString('base64');
  const base64B = keyB.key.toString('base64');

  it('is off without SEGFLOW_CODEC_KEY', () => {
    expect(encryptionCodecFromEnv({})).toBeUndefined();
    expect(encryptionCodecFromEnv({ SEGFLOW_CODEC_KEY: '  ' })).toBeUndefined();
  });

  it('uses SEGFLOW_CODEC_KEY_ID, or an id derived from the key', () => {
    expect(encryptionCodecFromEnv({ SEGFLOW_CODEC_KEY: base64A, SEGFLOW_CODEC_KEY_ID: 'prod-2025' })!.currentKeyId).toBe('prod-2025');
    const derived = encryptionCodecFromEnv({ SEGFLOW_CODEC_KEY: base64A })!.currentKeyId;
    expect(derived).toMatch(/^key-[0-9a-f]{8}$/);
    expect(encryptionCodecFromEnv({ SEGFLOW_CODEC_KEY: base64B })!.currentKeyId).not.toBe(derived);
  });

  it('reads previous keys for decoding', async () => {
    const [old] = await new EncryptionCodec({ current: keyA }).encode([toPayload('old')]);
    const codec = encryptionCodecFromEnv({ SEGFLOW_CODEC_KEY: base64B, SEGFLOW_CODEC_KEY_ID: 'b', SEGFLOW_CODEC_PREVIOUS_KEYS: `a:${base64A}` })!;
    expect(fromPayload((await codec.decode([old!]))[0]!)).toBe('old');
  });

  it.each([
    ['not base64 at all', 'not a key!'],
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(33).toString('base64')],
  ])('explains how to make a key when SEGFLOW_CODEC_KEY is %s', (_name, value) => {
    expect(() => encryptionCodecFromEnv({ SEGFLOW_CODEC_KEY: value })).toThrow(/openssl rand -base64 32/);
  });

  it('accepts base64url keys', () => {
    expect(parseBase64Key(keyA.key.toString('base64url'), 'K')).toEqual(new Uint8Array(keyA.key));
  });

  it.each([
    ['a missing id', `:${base64A}`],
    ['no separator', base64A],
    ['a bad key', 'a:short'],
  ])('rejects a previous-keys entry with %s', (_name, value) => {
    expect(() => parsePreviousKeys(value)).toThrow(CodecConfigError);
  });

  it('parses several previous keys and ignores blank entries', () => {
    expect(parsePreviousKeys(` a:${base64A} , ,b:${base64B}`).map((k) => k.id)).toEqual(['a', 'b']);
  });

  it('refuses previous keys without a current key', () => {
    expect(() => encryptionCodecFromEnv({ SEGFLOW_CODEC_PREVIOUS_KEYS: `a:${base64A}` })).toThrow(CodecConfigError);
  });
});

describe('failures with the codec on', () => {
  it('moves failure messages and stacks into an encoded payload, which the codec then encrypts', async () => {
    const converter = dataConverterFromEnv({ SEGFLOW_CODEC_KEY: randomBytes(32).toString('base64') });
    const loaded = loadDataConverter(converter);
    const failure = loaded.failureConverter.errorToFailure(
      ApplicationFailure.nonRetryable('https://bucket/x.csv?sig=SECRET is bad', FailureType.InvalidCsvHeader),
      loaded.payloadConverter,
    );
    expect(failure.message).not.toContain('SECRET');
    expect(failure.stackTrace ?? '').not.toContain('SECRET');
    expect(failure.encodedAttributes).toBeDefined();
    expect(dataConverterFromEnv({})).toBeUndefined();
  });
});
