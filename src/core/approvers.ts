/**
 * Signed approvals: who may approve, and the proof that they did.
 *
 * An approver holds an Ed25519 private key (`segflow approver keygen --name alice`); the workers list the public
 * keys by name in SEGFLOW_APPROVERS. `segflow approve --key alice.pem` signs a statement naming the job, the run,
 * the plan hash, the decision, the confirmed destructive ids, the comment or reason and the time. A worker with
 * approvers configured accepts a decision only when the signature verifies against the listed key of the name the
 * statement carries, so `by` is the key's name, never free text, and the history holds a proof anyone with the
 * public keys can check offline (`segflow audit`).
 *
 * Node's crypto (Ed25519) only: no new dependency. Node-side: workflow code never imports this file (node:crypto
 * is not available in the workflow sandbox); the workflow asks an activity (workspace-activities.ts
 * `verifyApproval`) and records its answer in history.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { canonicalJson, sha256Hex } from './plan-hash';
import type { ApprovalStatement } from '../contracts/approval';
import { FailureType } from '../contracts/failures';

/** An approver name: what `by` shows. Letters, digits, `.`, `_`, `-`, `@` (an e-mail works). */
export const APPROVER_NAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

export class ApproversConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = FailureType.ApproversConfigError;
  }
}

export interface Approver {
  name: string;
  /** SPKI DER, base64: one line, what keygen prints and SEGFLOW_APPROVERS lists. */
  publicKey: string;
  /** 12 hex characters of sha256(SPKI DER): how audits and refusals name a key. */
  fingerprint: string;
  key: KeyObject;
}

/** The quorum: how many different approvers a decision to approve needs, by the plan's impact. */
export interface ApprovalQuorum {
  /** Plans with destructive items (deletes, key removals). */
  high: number;
  /** Every other plan that writes. */
  normal: number;
}

export function publicKeyFingerprint(publicKeyBase64: string): string {
  return sha256Hex(Buffer.from(publicKeyBase64, 'base64')).slice(0, 12);
}

function importPublicKey(name: string, text: string): Approver {
  let key: KeyObject;
  const trimmed = text.trim();
  try {
    key = trimmed.startsWith('-----BEGIN')
      ? createPublicKey(trimmed)
      : createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new ApproversConfigError(
      `SEGFLOW_APPROVERS: the public key of "${name}" is not a valid key (expected the base64 line \`segflow approver keygen\` prints)`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new ApproversConfigError(`SEGFLOW_APPROVERS: the key of "${name}" is ${key.asymmetricKeyType}, not Ed25519`);
  const publicKey = key.export({ format: 'der', type: 'spki' }).toString('base64');
  return { name, publicKey, fingerprint: publicKeyFingerprint(publicKey), key };
}

/**
 * Reads approvers from text: one `name: <public key>` per line (blank lines and `#` comments ignored), or a JSON
 * object `{"name": "<public key>"}`. Refuses duplicates, bad names, keys that are not Ed25519, and one key listed
 * under two names: a quorum counts keys, so two names for one key would let one person meet a quorum of two.
 */
export function parseApprovers(text: string): Approver[] {
  const trimmed = text.trim();
  /** [name, key, where]: where names the line (or JSON member) in messages. */
  let entries: Array<[string, string, string]>;
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ApproversConfigError('SEGFLOW_APPROVERS is not valid JSON');
    }
    entries = Object.entries(parsed as Record<string, unknown>).map(([name, key]) => {
      if (typeof key !== 'string') throw new ApproversConfigError(`SEGFLOW_APPROVERS: the key of "${name}" must be a string`);
      return [name, key, `member "${name.slice(0, 64)}"`];
    });
  } else {
    entries = trimmed
      .split(/\r?\n|;/)
      .map((line, index) => [line.trim(), index] as const)
      .filter(([line]) => line !== '' && !line.startsWith('#'))
      .map(([line, index]) => {
        const at = line.indexOf(':');
        if (at < 1) throw new ApproversConfigError(`SEGFLOW_APPROVERS line ${index + 1}: write "name: <public key>"`);
        return [line.slice(0, at).trim(), line.slice(at + 1).trim(), `line ${index + 1}`];
      });
  }
  const approvers: Approver[] = [];
  for (const [name, key, where] of entries) {
    if (!APPROVER_NAME_PATTERN.test(name))
      throw new ApproversConfigError(`SEGFLOW_APPROVERS: "${name.slice(0, 64)}" is not a valid approver name (letters, digits, . _ - @)`);
    if (approvers.some((approver) => approver.name === name)) throw new ApproversConfigError(`SEGFLOW_APPROVERS lists "${name}" twice`);
    const approver = importPublicKey(name, key);
    const holder = approvers.find((other) => other.publicKey === approver.publicKey);
    if (holder)
      throw new ApproversConfigError(
        `SEGFLOW_APPROVERS ${where}: "${name}" has the same public key as "${holder.name}" (${approver.fingerprint}); give each approver their own key (segflow approver keygen --name ${name})`,
      );
    approvers.push(approver);
  }
  return approvers;
}

/**
 * SEGFLOW_APPROVERS: a path to a file, or the list itself. Empty or unset: no approvers, and approval works as
 * without signatures (anyone who can signal the workflow can approve; README "Approvals").
 */
export function approversFromEnv(env: NodeJS.ProcessEnv = process.env): Approver[] {
  const value = env.SEGFLOW_APPROVERS?.trim();
  if (!value) return [];
  if (!value.includes(':') || existsSync(value)) {
    let text: string;
    try {
      text = readFileSync(value, 'utf8');
    } catch {
      throw new ApproversConfigError(`SEGFLOW_APPROVERS names a file that cannot be read: ${value}`);
    }
    return parseApprovers(text);
  }
  return parseApprovers(value);
}

/** SEGFLOW_APPROVAL_QUORUM_HIGH (destructive plans) and SEGFLOW_APPROVAL_QUORUM (others); 1 by default. */
export function quorumFromEnv(env: NodeJS.ProcessEnv = process.env): ApprovalQuorum {
  const read = (variable: string): number => {
    const raw = env[variable]?.trim();
    if (!raw) return 1;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 10) throw new ApproversConfigError(`${variable} must be a whole number from 1 to 10, got "${raw}"`);
    return n;
  };
  return { high: read('SEGFLOW_APPROVAL_QUORUM_HIGH'), normal: read('SEGFLOW_APPROVAL_QUORUM') };
}

/** The bytes that are signed: canonical JSON (plan-hash.ts) of the statement, so field order never matters. */
export function statementBytes(statement: ApprovalStatement): Buffer {
  return Buffer.from(`segflow-approval\n${canonicalJson(statement)}`, 'utf8');
}

export function generateApproverKeys(): { privateKeyPem: string; publicKey: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyBase64 = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: publicKeyBase64,
    fingerprint: publicKeyFingerprint(publicKeyBase64),
  };
}

export function loadPrivateKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new ApproversConfigError(`${where} is not a private key (make one with \`segflow approver keygen\`)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ApproversConfigError(`${where} is a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

export function signStatement(statement: ApprovalStatement, privateKey: KeyObject): { signature: string; publicKey: string } {
  const signature = sign(null, statementBytes(statement), privateKey).toString('base64');
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64');
  return { signature, publicKey };
}

export type SignatureCheck = { ok: true; approver: string; fingerprint: string; publicKey: string } | { ok: false; reason: string };

/** Verifies a signed statement against the approver it names. */
export function verifyStatement(statement: ApprovalStatement, signature: string, approvers: Approver[]): SignatureCheck {
  const name = typeof statement?.approver === 'string' ? statement.approver : '';
  const approver = approvers.find((candidate) => candidate.name === name);
  if (!approver) return { ok: false, reason: `"${name.slice(0, 64)}" is not a configured approver` };
  let valid: boolean;
  try {
    valid = verify(null, statementBytes(statement), approver.key, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: `the signature does not verify against the key of ${approver.name} (${approver.fingerprint})` };
  return { ok: true, approver: approver.name, fingerprint: approver.fingerprint, publicKey: approver.publicKey };
}
