/**
 * Synthetic historical events for the benchmark: deterministic (seeded), shaped like a real export.
 *
 * Mix: ~70% track (a handful of properties, sometimes a nested product list), ~12% identify (traits),
 * ~12% page, ~6% group. Timestamps are spread over six years (2019-2024) as a backfill would be; most are in
 * canonical toISOString() form, a few carry an offset or no milliseconds, as exports from other tools do.
 * One row in ten brings its own messageId (an export of Segment data does), the rest get a derived one.
 * About half the rows carry a `context` (ip, library), and a fifth are anonymous (anonymousId only).
 *
 * The file is cached under .cache/bench/ by event count and format: generating 1,000,000 events takes
 * several seconds and the benchmark should measure the import, not the generator. Bump GENERATOR_VERSION
 * whenever the output changes, so stale caches are not reused.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { seededRandom } from '../test/support/seeded-random';

export const GENERATOR_VERSION = 1;

export type BenchFormat = 'ndjson' | 'csv';

export { seededRandom };

const TRACK_EVENTS = [
  'Product Viewed',
  'Product Added',
  'Checkout Started',
  'Order Completed',
  'Signed In',
  'Email Opened',
  'Subscription Renewed',
  'Search Performed',
  'Coupon Applied',
  'Video Played',
] as const;
const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
const CATEGORIES = ['Shoes', 'Books', 'Garden', 'Kitchen', 'Toys', 'Audio'] as const;
const PAGES = [
  { name: 'Home', category: 'Marketing', path: '/' },
  { name: 'Pricing', category: 'Marketing', path: '/pricing' },
  { name: 'Docs', category: 'Product', path: '/docs/getting-started' },
  { name: 'Checkout', category: 'Shop', path: '/checkout' },
  { name: 'Blog Post', category: 'Content', path: '/blog/how-we-moved-to-segment' },
] as const;
const INDUSTRIES = ['Retail', 'Media', 'Finance', 'Healthcare', 'Education'] as const;
const FIRST_NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Dennis', 'Frances'] as const;
const LAST_NAMES = ['Lovelace', 'Hopper', 'Torvalds', 'Hamilton', 'Turing', 'Liskov', 'Ritchie', 'Allen'] as const;
const LIBRARIES = [
  { name: 'legacy-billing', version: '2.1.0' },
  { name: 'analytics.js', version: '4.15.3' },
  { name: 'analytics-ios', version: '4.1.8' },
] as const;

const FROM_MS = Date.UTC(2019, 0, 1);
const TO_MS = Date.UTC(2024, 11, 31);
const USERS = 50_000;
const GROUPS = 2_000;

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function money(random: () => number, max: number): number {
  return Math.round(random() * max * 100) / 100;
}

/** Mostly canonical ISO text (the fast path), sometimes the other forms exports contain. */
function timestampText(random: () => number): string {
  const ms = FROM_MS + Math.floor(random() * (TO_MS - FROM_MS));
  const iso = new Date(ms).toISOString();
  const roll = random();
  if (roll < 0.03) return `${iso.slice(0, 19)}Z`;
  if (roll < 0.05) {
    const shifted = new Date(ms + 2 * 3600_000).toISOString();
    return `${shifted.slice(0, 19)}+02:00`;
  }
  return iso;
}

function trackProperties(random: () => number, event: string): Record<string, unknown> {
  switch (event) {
    case 'Product Viewed':
    case 'Product Added':
      return {
        product_id: `p-${Math.floor(random() * 20_000)}`,
        category: pick(random, CATEGORIES),
        price: money(random, 300),
        currency: 'USD',
      };
    case 'Order Completed': {
      const items = 1 + Math.floor(random() * 3);
      const products = Array.from({ length: items }, () => ({
        product_id: `p-${Math.floor(random() * 20_000)}`,
        price: money(random, 120),
        quantity: 1 + Math.floor(random() * 3),
      }));
      return { order_id: `o-${Math.floor(random() * 1e9)}`, revenue: money(random, 400), currency: 'USD', products };
    }
    case 'Subscription Renewed':
      return { plan: pick(random, PLANS), months: 1 + Math.floor(random() * 24) };
    case 'Search Performed':
      return {
        query: `${pick(random, CATEGORIES).toLowerCase()} ${pick(random, ['sale', 'new', 'gift', 'best'])}`,
        results: Math.floor(random() * 80),
      };
    default:
      return { source: pick(random, ['email', 'web', 'ios', 'android']), plan: pick(random, PLANS) };
  }
}

/** The i-th synthetic event as a plain Segment message (NDJSON line object). */
export function syntheticEvent(random: () => number, index: number): Record<string, unknown> {
  const userNumber = Math.floor(random() * USERS);
  const anonymous = random() < 0.2;
  const identity: Record<string, unknown> = anonymous
    ? { anonymousId: `anon-${userNumber.toString(36)}-${Math.floor(random() * 1e6).toString(36)}` }
    : { userId: `user-${userNumber}` };
  const roll = random();
  let event: Record<string, unknown>;
  if (roll < 0.7) {
    const name = pick(random, TRACK_EVENTS);
    event = { type: 'track', ...identity, event: name, properties: trackProperties(random, name) };
  } else if (roll < 0.82) {
    const first = pick(random, FIRST_NAMES);
    const last = pick(random, LAST_NAMES);
    event = {
      type: 'identify',
      userId: `user-${userNumber}`,
      traits: {
        email: `${first.toLowerCase()}.${last.toLowerCase()}${userNumber}@example.com`,
        name: `${first} ${last}`,
        plan: pick(random, PLANS),
        createdAt: new Date(FROM_MS - Math.floor(random() * 3e10)).toISOString(),
      },
    };
  } else if (roll < 0.94) {
    const page = pick(random, PAGES);
    event = {
      type: 'page',
      ...identity,
      name: page.name,
      category: page.category,
      properties: {
        path: page.path,
        url: `https://www.example.com${page.path}`,
        title: `${page.name} | Example`,
        referrer: random() < 0.5 ? 'https://www.google.com/' : '',
      },
    };
  } else {
    event = {
      type: 'group',
      userId: `user-${userNumber}`,
      groupId: `org-${Math.floor(random() * GROUPS)}`,
      traits: { name: `Org ${Math.floor(random() * GROUPS)}`, industry: pick(random, INDUSTRIES), employees: 5 + Math.floor(random() * 5000) },
    };
  }
  event.timestamp = timestampText(random);
  if (random() < 0.5) {
    event.context = {
      ip: `10.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`,
      library: pick(random, LIBRARIES),
    };
  }
  if (random() < 0.1) event.messageId = `hist-${index}-${Math.floor(random() * 0xffffff).toString(16)}`;
  return event;
}

/** CSV layout: top-level columns, JSON columns for properties/traits, dotted columns for context (see csv-mapping.ts). */
export const CSV_HEADER = [
  'type',
  'userId',
  'anonymousId',
  'event',
  'name',
  'category',
  'groupId',
  'timestamp',
  'messageId',
  'properties',
  'traits',
  'context.ip',
  'context.library.name',
  'context.library.version',
] as const;

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvRow(event: Record<string, unknown>): string {
  const context = event.context as { ip?: string; library?: { name: string; version: string } } | undefined;
  const text = (value: unknown): string => (value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value));
  const cells = [
    text(event.type),
    text(event.userId),
    text(event.anonymousId),
    text(event.event),
    text(event.name),
    text(event.category),
    text(event.groupId),
    text(event.timestamp),
    text(event.messageId),
    text(event.properties),
    text(event.traits),
    text(context?.ip),
    text(context?.library?.name),
    text(context?.library?.version),
  ];
  return cells.map(csvField).join(',');
}

/** Writes `count` events to `path` (streamed, constant memory). */
export async function writeEventsFile(path: string, count: number, format: BenchFormat, seed = 20_240_101): Promise<void> {
  const random = seededRandom(seed);
  const out = createWriteStream(path);
  let buffer = format === 'csv' ? `${CSV_HEADER.join(',')}\n` : '';
  for (let i = 0; i < count; i++) {
    const event = syntheticEvent(random, i);
    buffer += format === 'csv' ? `${csvRow(event)}\n` : `${JSON.stringify(event)}\n`;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
}

/** The cached input file for `count` events, generating it first when missing. */
export async function ensureEventsFile(
  cacheDir: string,
  count: number,
  format: BenchFormat,
): Promise<{ path: string; bytes: number; generated: boolean }> {
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, `events-v${GENERATOR_VERSION}-${count}.${format}`);
  if (existsSync(path)) return { path, bytes: statSync(path).size, generated: false };
  // Written aside and renamed, so an interrupted run never leaves a truncated file that looks cached.
  const partial = `${path}.partial-${process.pid}`;
  await writeEventsFile(partial, count, format);
  renameSync(partial, path);
  return { path, bytes: statSync(path).size, generated: true };
}

if (require.main === module) {
  const count = Number(process.argv[2] ?? 1000);
  const format = (process.argv[3] ?? 'ndjson') as BenchFormat;
  ensureEventsFile(join(__dirname, '..', '.cache', 'bench'), count, format).then(
    (file) => console.log(JSON.stringify(file)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
