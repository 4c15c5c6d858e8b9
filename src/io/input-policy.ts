/**
 * What a worker may read. Anyone who can start an import names its input, and a worker would otherwise read any
 * local file it can see (a header error quotes the "column", a reject report holds every line) or fetch any URL
 * (a cloud metadata endpoint hands out credentials, a sidecar on localhost answers without a password). So, on the
 * worker:
 *
 * - Local paths must resolve (symlinks followed) under one of SEGFLOW_INPUT_ROOTS (comma-separated directories).
 *   Unset, the roots are the worker's working directory and the system temp directory: `npm run demo` and the
 *   tests keep working, and a worker started in its own directory cannot read /etc or a home directory's keys.
 *   The container sets /data. The report directory is always readable (staged inputs live there).
 * - URLs must name a host on SEGFLOW_INPUT_HOSTS (comma-separated host names or addresses) when it is set; unset,
 *   any host. Either way a host must resolve to public addresses only: loopback, unspecified, private, shared,
 *   multicast, reserved and IPv4-in-IPv6 forms are read only from a host the list names.
 * - Link-local and cloud metadata names and addresses are refused whatever is configured.
 *
 * A name is judged on every address it resolves to, and a name that does not resolve is refused. The check runs
 * once before an activity reads (checkInputAllowed) and again inside every connection (vettedConnector), whose
 * lookup hands the socket only the addresses it judged: a DNS answer that changes between the two cannot move it.
 */
import { lookup } from 'node:dns/promises';
import { realpath } from 'node:fs/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { buildConnector } from 'undici';
import { displayLocation } from '../shared/location';

export class InputNotAllowedError extends Error {
  override readonly name = 'InputNotAllowedError';
}

export interface ResolvedAddress {
  address: string;
  family: number;
}
/** Every address a name resolves to (dns.lookup with `all`); injectable so tests can answer like a rebinding server. */
export type Resolve = (host: string) => Promise<ResolvedAddress[]>;

const systemResolve: Resolve = (host) => lookup(host, { all: true, verbatim: true });

const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

export async function checkInputAllowed(location: string, env: NodeJS.ProcessEnv, resolveHost: Resolve = systemResolve): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return checkUrl(location, env, resolveHost);
  return checkLocalPath(location, env);
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

async function canonical(path: string): Promise<string> {
  // A file that does not exist yet is judged by its directory (the read fails later with its own message).
  try {
    return await realpath(path);
  } catch {
    try {
      return resolve(await realpath(dirname(path)), path.slice(dirname(path).length + 1));
    } catch {
      return resolve(path);
    }
  }
}

/** Whether `path` is `root` or below it; a name that merely starts with ".." (`..nightly`) is below it. */
export function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

async function checkLocalPath(path: string, env: NodeJS.ProcessEnv): Promise<void> {
  const configured = list(env.SEGFLOW_INPUT_ROOTS);
  const roots = configured.length > 0 ? configured : [process.cwd(), tmpdir()];
  roots.push(resolve(env.SEGFLOW_REPORT_DIR ?? 'segflow-reports'));
  const target = await canonical(resolve(path));
  for (const root of roots) {
    if (isWithin(await canonical(resolve(root)), target)) return;
  }
  throw new InputNotAllowedError(
    `${displayLocation(path)} is outside the directories this worker may read (SEGFLOW_INPUT_ROOTS${configured.length ? '' : ' unset: its working directory and the temp directory'})`,
  );
}

/** One spelling per host: `Files.Example.COM.`, `files.example.com` and `[::1]` as URLs and the list write them. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .replace(/^\[|\]$/g, '')
    .replace(/\.+$/, '')
    .toLowerCase();
}

function inputHosts(env: NodeJS.ProcessEnv): Set<string> {
  return new Set(list(env.SEGFLOW_INPUT_HOSTS).map(normalizeHost));
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

/** `public`: any worker may read it; `internal`: only from a host SEGFLOW_INPUT_HOSTS names; `metadata`: never. */
export type AddressKind = 'public' | 'internal' | 'metadata';
export interface AddressJudgement {
  kind: AddressKind;
  /** What the address is, for the refusal ("a loopback address"). */
  what: string;
}

type Range = readonly [network: string, prefix: number, what: string];

function rangeTable(family: 'ipv4' | 'ipv6', ranges: readonly Range[]): Array<{ list: BlockList; what: string }> {
  return ranges.map(([network, prefix, what]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return { list, what };
  });
}

// Instance metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254 and the rest of link-local), Alibaba
// (100.100.100.200), Azure's wire server (168.63.129.16), AWS over IPv6 (fd00:ec2::254).
const METADATA_V4 = rangeTable('ipv4', [
  ['169.254.0.0', 16, 'a link-local (cloud metadata)'],
  ['100.100.100.200', 32, 'a cloud metadata'],
  ['168.63.129.16', 32, 'a cloud metadata'],
]);
const METADATA_V6 = rangeTable('ipv6', [
  ['fe80::', 10, 'a link-local'],
  ['fd00:ec2::254', 128, 'a cloud metadata'],
]);
// RFC 6890's special-purpose registries, less what is globally reachable.
const INTERNAL_V4 = rangeTable('ipv4', [
  ['0.0.0.0', 8, 'an unspecified ("this network")'],
  ['10.0.0.0', 8, 'a private (RFC 1918)'],
  ['100.64.0.0', 10, 'a shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'a loopback'],
  ['172.16.0.0', 12, 'a private (RFC 1918)'],
  ['192.0.0.0', 24, 'a reserved (IETF protocol)'],
  ['192.0.2.0', 24, 'a reserved (documentation)'],
  ['192.88.99.0', 24, 'a reserved (6to4 relay)'],
  ['192.168.0.0', 16, 'a private (RFC 1918)'],
  ['198.18.0.0', 15, 'a reserved (benchmarking)'],
  ['198.51.100.0', 24, 'a reserved (documentation)'],
  ['203.0.113.0', 24, 'a reserved (documentation)'],
  ['224.0.0.0', 4, 'a multicast'],
  ['240.0.0.0', 4, 'a reserved'],
]);
const INTERNAL_V6 = rangeTable('ipv6', [
  ['::', 128, 'an unspecified'],
  ['::1', 128, 'a loopback'],
  ['100::', 64, 'a reserved (discard)'],
  ['2001::', 32, 'a Teredo tunnel'],
  ['2001:db8::', 32, 'a reserved (documentation)'],
  ['fc00::', 7, 'a private (unique local)'],
  ['fec0::', 10, 'a site-local'],
  ['ff00::', 8, 'a multicast'],
]);

function firstMatch(table: Array<{ list: BlockList; what: string }>, address: string, family: 'ipv4' | 'ipv6'): string | undefined {
  return table.find((range) => range.list.check(address, family))?.what;
}

function judgeV4(address: string): AddressJudgement {
  const metadata = firstMatch(METADATA_V4, address, 'ipv4');
  if (metadata !== undefined) return { kind: 'metadata', what: metadata };
  const internal = firstMatch(INTERNAL_V4, address, 'ipv4');
  return internal !== undefined ? { kind: 'internal', what: internal } : { kind: 'public', what: 'a public' };
}

/** The 16 bytes of an IPv6 address (net.isIP has said it is one), zone id dropped, a dotted IPv4 tail read. */
function ipv6Bytes(address: string): Uint8Array {
  const text = address.replace(/%.*$/, '');
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

function v4At(bytes: Uint8Array, offset: number): string {
  return Array.from(bytes.subarray(offset, offset + 4)).join('.');
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((value, i) => bytes[i] === value);
}

const ZERO_10 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/**
 * IPv6 forms that carry an IPv4 address: the IPv4 address is what a packet reaches (through the host's own stack,
 * a NAT64 gateway or a 6to4 relay), so it is judged too. `internalForm`: the form is internal whatever it carries.
 */
function embeddedV4(bytes: Uint8Array): { v4: string; form: string; internalForm: boolean } | undefined {
  if (startsWith(bytes, [...ZERO_10, 0xff, 0xff])) return { v4: v4At(bytes, 12), form: 'an IPv4-mapped IPv6', internalForm: true };
  if (startsWith(bytes, [...ZERO_10, 0, 0]) && !(bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15]! <= 1)) {
    return { v4: v4At(bytes, 12), form: 'an IPv4-compatible IPv6', internalForm: true };
  }
  // 64:ff9b::/96 (RFC 6052) reaches the IPv4 address it embeds; 64:ff9b:1::/48 (RFC 8215) is a site's own NAT64.
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return { v4: v4At(bytes, 12), form: 'a NAT64', internalForm: false };
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 1])) return { v4: v4At(bytes, 12), form: 'a local-use NAT64', internalForm: true };
  // 2002::/16 (6to4) carries the IPv4 address in its next 32 bits.
  if (startsWith(bytes, [0x20, 0x02])) return { v4: v4At(bytes, 2), form: 'a 6to4', internalForm: false };
  return undefined;
}

/** What an address is, for the policy: the one judgement both the pre-check and the connection's lookup use. */
export function judgeAddress(address: string): AddressJudgement {
  const family = isIP(address);
  if (family === 4) return judgeV4(address);
  if (family !== 6) return { kind: 'internal', what: 'not an IP' };
  const metadata = firstMatch(METADATA_V6, address, 'ipv6');
  if (metadata !== undefined) return { kind: 'metadata', what: metadata };
  const bytes = ipv6Bytes(address);
  const embedded = embeddedV4(bytes);
  if (embedded !== undefined) {
    const inner = judgeV4(embedded.v4);
    const what = `${embedded.form} (${embedded.v4}: ${inner.what})`;
    if (inner.kind === 'metadata') return { kind: 'metadata', what };
    if (embedded.internalForm || inner.kind === 'internal') return { kind: 'internal', what };
    return { kind: 'public', what };
  }
  const internal = firstMatch(INTERNAL_V6, address, 'ipv6');
  return internal !== undefined ? { kind: 'internal', what: internal } : { kind: 'public', what: 'a public' };
}

// ---------------------------------------------------------------------------------------------------------------
// Hosts

/** Refuses a host by name alone: a metadata name, or one off a configured SEGFLOW_INPUT_HOSTS. Returns whether it is listed. */
function judgeHostName(host: string, env: NodeJS.ProcessEnv, display: string): boolean {
  if (METADATA_HOSTS.has(host)) throw new InputNotAllowedError(`${display}: link-local and cloud metadata addresses are never read`);
  const listed = inputHosts(env);
  if (listed.size > 0 && !listed.has(host)) {
    throw new InputNotAllowedError(`${display}: host ${host} is not in this worker's SEGFLOW_INPUT_HOSTS; add it there to import from it`);
  }
  return listed.has(host);
}

function refuseAddress(display: string, host: string, address: string, listed: boolean): void {
  const judgement = judgeAddress(address);
  if (judgement.kind === 'public') return;
  const subject = host === normalizeHost(address) ? `${address} is` : `${host} resolves to ${address},`;
  if (judgement.kind === 'metadata') {
    throw new InputNotAllowedError(`${display}: ${subject} ${judgement.what} address; link-local and cloud metadata addresses are never read`);
  }
  if (!listed) {
    throw new InputNotAllowedError(
      `${display}: ${subject} ${judgement.what} address, not a public one; name ${host} in the worker's SEGFLOW_INPUT_HOSTS to import from it`,
    );
  }
}

/**
 * The addresses of `host` this worker may connect to, all of them judged; refuses (InputNotAllowedError) a host the
 * policy does not allow, one that resolves to any refused address, and one that does not resolve.
 */
export async function vettedAddresses(
  rawHost: string,
  env: NodeJS.ProcessEnv,
  resolveHost: Resolve = systemResolve,
  display: string = rawHost,
): Promise<ResolvedAddress[]> {
  const host = normalizeHost(rawHost);
  const listed = judgeHostName(host, env, display);
  const family = isIP(host);
  if (family !== 0) {
    refuseAddress(display, host, host, listed);
    return [{ address: host, family }];
  }
  let addresses: ResolvedAddress[];
  try {
    addresses = await resolveHost(host);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new InputNotAllowedError(`${display}: ${host} does not resolve (${code}); a name is read only once its addresses can be checked`);
  }
  if (addresses.length === 0) throw new InputNotAllowedError(`${display}: ${host} resolves to no address`);
  for (const { address } of addresses) refuseAddress(display, host, address, listed);
  return addresses;
}

async function checkUrl(location: string, env: NodeJS.ProcessEnv, resolveHost: Resolve): Promise<void> {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new InputNotAllowedError(`${displayLocation(location)} is not a valid URL`);
  }
  await vettedAddresses(url.hostname, env, resolveHost, displayLocation(location));
}

/**
 * A socket `lookup` that runs the policy: it resolves the name itself and hands the socket only addresses it judged,
 * so the connection goes to what was checked whatever a later DNS answer says.
 */
export function vettedLookup(env: NodeJS.ProcessEnv, resolveHost: Resolve = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    vettedAddresses(hostname, env, resolveHost).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
        const usable = wanted === 0 ? addresses : addresses.filter((a) => a.family === wanted);
        if (usable.length === 0) return callback(Object.assign(new Error(`${hostname} has no IPv${wanted} address`), { code: 'ENOTFOUND' }), '');
        if (options.all) return callback(null, usable);
        return callback(null, usable[0]!.address, usable[0]!.family);
      },
      (error: Error) => callback(error, ''),
    );
  };
}

/**
 * undici's connector with the policy in front: an IP literal (which a socket connects to without a lookup) is judged
 * here, a name by vettedLookup. Give it to an Agent (`new Agent({ connect: vettedConnector(env) })`).
 */
export function vettedConnector(env: NodeJS.ProcessEnv, resolveHost: Resolve = systemResolve): buildConnector.connector {
  const connect = buildConnector({ lookup: vettedLookup(env, resolveHost) });
  return (options, callback) => {
    if (isIP(normalizeHost(options.hostname)) !== 0) {
      try {
        refuseLiteral(options.hostname, env);
      } catch (error) {
        callback(error as Error, null);
        return;
      }
    }
    connect(options, callback);
  };
}

function refuseLiteral(rawHost: string, env: NodeJS.ProcessEnv): void {
  const host = normalizeHost(rawHost);
  refuseAddress(host, host, host, judgeHostName(host, env, host));
}
