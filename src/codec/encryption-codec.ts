/**
 * Optional payload encryption: workflow inputs, results, activity arguments, heartbeats, memo and UI summaries
 * are stored by Temporal as payloads, readable by anyone with UI or CLI access (docs/temporal-notes.md, "Data
 * security and the codec server"). With this codec on the client and on every worker, Temporal only ever stores
 * ciphertext; the key stays with segflow processes and the codec server.
 *
 * Runs outside the workflow sandbox (codecs are applied by the client and the worker, never inside workflow
 * code), so node:crypto is allowed here.
 *
 * Format, the same as Temporal's encryption samples so any compatible codec server can read it: the whole
 * serialized Payload (its metadata and data) is encrypted with AES-256-GCM, and the new payload's data is
 * `iv (12 bytes) | ciphertext | auth tag (16 bytes)` with metadata `encoding=binary/encrypted` and
 * `encryption-key-id=<id>`. The key id lets several keys coexist while one is rotated out.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const ENCRYPTION_KEY_ID_METADATA = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
/** 96-bit IVs are GCM's native size; random IVs are safe for far more messages than one key will ever see here. */
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Key ids travel in plain metadata and in `SEGFLOW_CODEC_PREVIOUS_KEYS` (`id:key,id:key`), so no `:` or `,`. */
const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export interface EncryptionKey {
  id: string;
  /** 32 raw bytes (AES-256). */
  key: Uint8Array;
}

export interface EncryptionCodecOptions {
  /** The key new payloads are encrypted with. */
  current: EncryptionKey;
  /** Older keys that are still accepted for decoding, so data written before a rotation stays readable. */
  previous?: EncryptionKey[];
  /**
   * Refuse to decode payloads that are not encrypted (SEGFLOW_CODEC_REQUIRE_ENCRYPTION=1). Without it, plaintext
   * payloads pass through (history from before encryption stays readable), which also lets anyone with Temporal
   * access but no key inject a plaintext signal or input. `binary/null` (an absent value) is always allowed.
   */
  requireEncryption?: boolean;
}

/** A plaintext payload reached a codec that only accepts encrypted ones. */
export class UnencryptedPayloadError extends Error {
  constructor(encoding: string) {
    super(`Refused an unencrypted payload (encoding "${encoding}"): this codec requires encryption (SEGFLOW_CODEC_REQUIRE_ENCRYPTION).`);
    this.name = 'UnencryptedPayloadError';
  }
}

/** A payload names a key this process was not given; decoding cannot succeed until that key is configured. */
export class UnknownEncryptionKeyError extends Error {
  constructor(
    readonly keyId: string,
    readonly knownKeyIds: string[],
  ) {
    super(
      `Payload was encrypted with key "${keyId}", which this process does not have (it knows: ${knownKeyIds.join(', ')}); ` +
        'add that key to SEGFLOW_CODEC_PREVIOUS_KEYS as "<id>:<base64 key>".',
    );
    this.name = 'UnknownEncryptionKeyError';
  }
}

/** The ciphertext did not authenticate: it was altered, truncated, or encrypted with a different key under this id. */
export class PayloadDecryptionError extends Error {
  constructor(
    readonly keyId: string,
    cause: unknown,
  ) {
    super(`Payload encrypted with key "${keyId}" failed authentication: it was modified, or the key configured under that id is wrong.`);
    this.name = 'PayloadDecryptionError';
    this.cause = cause;
  }
}

/** Malformed codec configuration (a key of the wrong size, a bad id); the message says how to fix it. */
export class CodecConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecConfigError';
  }
}

export class EncryptionCodec implements PayloadCodec {
  readonly currentKeyId: string;
  readonly requireEncryption: boolean;
  private readonly current: EncryptionKey;
  private readonly keysById: Map<string, Uint8Array>;

  constructor(options: EncryptionCodecOptions) {
    this.current = checkedKey(options.current);
    this.currentKeyId = this.current.id;
    this.requireEncryption = options.requireEncryption ?? false;
    this.keysById = new Map([[this.current.id, this.current.key]]);
    for (const old of options.previous ?? []) {
      const key = checkedKey(old);
      const existing = this.keysById.get(key.id);
      if (existing && !Buffer.from(existing).equals(Buffer.from(key.key))) {
        throw new CodecConfigError(`Two different encryption keys share the id "${key.id}"; give each key its own id.`);
      }
      this.keysById.set(key.id, key.key);
    }
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encryptPayload(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decryptPayload(payload));
  }

  private encryptPayload(payload: Payload): Payload {
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: textEncoder.encode(ENCRYPTED_ENCODING),
        [ENCRYPTION_KEY_ID_METADATA]: textEncoder.encode(this.current.id),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  private decryptPayload(payload: Payload): Payload {
    // Payloads written before encryption was turned on stay readable, unless encryption is required.
    const encoding = metadataString(payload, METADATA_ENCODING_KEY);
    if (encoding !== ENCRYPTED_ENCODING) {
      if (this.requireEncryption && encoding !== 'binary/null') throw new UnencryptedPayloadError(encoding ?? '(none)');
      return payload;
    }

    const keyId = metadataString(payload, ENCRYPTION_KEY_ID_METADATA);
    if (keyId === undefined) throw new PayloadDecryptionError('(none)', new Error(`missing ${ENCRYPTION_KEY_ID_METADATA} metadata`));
    const key = this.keysById.get(keyId);
    if (!key) throw new UnknownEncryptionKeyError(keyId, [...this.keysById.keys()]);

    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(keyId, new Error('ciphertext too short'));
    const iv = data.subarray(0, IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const ciphertext = data.subarray(IV_BYTES, data.length - TAG_BYTES);
    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv(ALGORITHM, key, iv);
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch (error) {
      throw new PayloadDecryptionError(keyId, error);
    }
    return temporal.api.common.v1.Payload.decode(plaintext);
  }
}

function metadataString(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? textDecoder.decode(value) : undefined;
}

function checkedKey(key: EncryptionKey): EncryptionKey {
  if (!KEY_ID_PATTERN.test(key.id)) {
    throw new CodecConfigError(`Encryption key id "${key.id}" is invalid: use 1-64 letters, digits, ".", "_" or "-".`);
  }
  if (key.key.length !== KEY_BYTES) {
    throw new CodecConfigError(`Encryption key "${key.id}" is ${key.key.length} bytes; AES-256 needs exactly ${KEY_BYTES}.`);
  }
  return { id: key.id, key: Uint8Array.from(key.key) };
}

/** Parses a base64 (or base64url) AES-256 key, as printed by `openssl rand -base64 32`. */
export function parseBase64Key(text: string, variable: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  // Buffer.from ignores characters outside the alphabet; a round trip catches typos and pasted garbage.
  const canonical = trimmed.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (bytes.length !== KEY_BYTES || bytes.toString('base64').replace(/=+$/, '') !== canonical) {
    throw new CodecConfigError(`${variable} must be a base64-encoded ${KEY_BYTES}-byte key; generate one with \`openssl rand -base64 32\`.`);
  }
  return new Uint8Array(bytes);
}

/** A stable id for a key when none is configured: a short digest, so different keys never share an id. */
export function defaultKeyId(key: Uint8Array): string {
  return `key-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/**
 * The codec configured by the environment, or undefined when encryption is off:
 * - `SEGFLOW_CODEC_KEY`: base64 32-byte key that encrypts new payloads (turns encryption on);
 * - `SEGFLOW_CODEC_KEY_ID`: its id (default: derived from the key);
 * - `SEGFLOW_CODEC_PREVIOUS_KEYS`: `id:base64key[,id:base64key...]`, older keys still accepted for decoding.
 */
export function encryptionCodecFromEnv(env: NodeJS.ProcessEnv): EncryptionCodec | undefined {
  const keyText = env.SEGFLOW_CODEC_KEY?.trim();
  if (!keyText) {
    if (env.SEGFLOW_CODEC_PREVIOUS_KEYS?.trim()) {
      throw new CodecConfigError('SEGFLOW_CODEC_PREVIOUS_KEYS is set but SEGFLOW_CODEC_KEY is not; set the current key too.');
    }
    return undefined;
  }
  const key = parseBase64Key(keyText, 'SEGFLOW_CODEC_KEY');
  const id = env.SEGFLOW_CODEC_KEY_ID?.trim() || defaultKeyId(key);
  const requireEncryption = ['1', 'true', 'yes'].includes((env.SEGFLOW_CODEC_REQUIRE_ENCRYPTION ?? '').trim().toLowerCase());
  return new EncryptionCodec({ current: { id, key }, previous: parsePreviousKeys(env.SEGFLOW_CODEC_PREVIOUS_KEYS ?? ''), requireEncryption });
}

export function parsePreviousKeys(text: string): EncryptionKey[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const separator = entry.indexOf(':');
      if (separator <= 0) {
        throw new CodecConfigError('SEGFLOW_CODEC_PREVIOUS_KEYS entries must look like "<key id>:<base64 key>", separated by commas.');
      }
      const id = entry.slice(0, separator);
      return { id, key: parseBase64Key(entry.slice(separator + 1), `The previous key "${id}" in SEGFLOW_CODEC_PREVIOUS_KEYS`) };
    });
}
