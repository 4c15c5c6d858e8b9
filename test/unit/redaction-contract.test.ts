/**
 * What never reaches a log line or a shown location, whatever its length: the worker's secret variables
 * (src/ops/logging.ts) and a URL's whole user info (src/shared/location.ts). Written against the contract, not the
 * implementation: any way of parsing URLs must pass.
 */
import { describe, expect, it } from 'vitest';
import { logScrubber, renderLogLine } from '../../src/ops/logging';
import { displayLocation, redactUrl, scrubUrlCredentials } from '../../src/shared/location';

const SECRET_VARIABLES = [
  'SEGMENT_WRITE_KEY',
  'SEGMENT_WRITE_KEY_MARKETING',
  'SEGMENT_API_TOKEN',
  'SEGFLOW_CODEC_KEY',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
];

describe('the log scrubber', () => {
  it.each(SECRET_VARIABLES)('replaces the value of %s wherever it appears in a line or an attribute', (name) => {
    const secret = `${name.toLowerCase()}-Value-6f1c2`;
    const scrub = logScrubber({ [name]: secret, SEGFLOW_LOG_LEVEL: 'DEBUG' });
    expect(scrub(`connect failed with ${secret} (twice: ${secret})`)).toBe('connect failed with [redacted] (twice: [redacted])');
    const line = renderLogLine(
      { level: 'WARN', message: `bad ${secret}`, timestampNanos: 0n, meta: { detail: `x${secret}x`, nested: { list: [secret] } } },
      'json',
      scrub,
    );
    expect(line).not.toContain(secret);
    expect(JSON.parse(line)).toMatchObject({ message: 'bad [redacted]', detail: 'x[redacted]x', nested: { list: ['[redacted]'] } });
  });

  it('leaves the values of other variables alone', () => {
    const scrub = logScrubber({ SEGFLOW_LOG_LEVEL: 'DEBUG-LEVEL', SEGFLOW_REPORT_DIR: '/var/segflow-reports' });
    expect(scrub('DEBUG-LEVEL in /var/segflow-reports')).toBe('DEBUG-LEVEL in /var/segflow-reports');
  });
});

/** User info of a given length, made of characters a URL allows there, with an `@` and a `:` in the password. */
const userInfo = (userLength: number, passwordLength: number) => ({
  user: 'U'.repeat(userLength),
  password: `p@s:${'S'.repeat(Math.max(0, passwordLength - 4))}`.slice(0, passwordLength),
});

describe('a URL shown or logged never shows any of its user info, at any length', () => {
  const lengths = [1, 16, 17, 64, 255, 256, 257, 1_000, 10_000];

  it.each(lengths)('a password of %i characters', (length) => {
    const { user, password } = userInfo(8, length);
    const url = `https://${user}:${password}@data.example.com/exports/day.ndjson?X-Amz-Signature=SIG#frag`;
    expect(redactUrl(url)).toBe('https://data.example.com/exports/day.ndjson');
    expect(displayLocation(url)).toBe('https://data.example.com/exports/day.ndjson');
    const scrubbed = scrubUrlCredentials(`GET ${url} failed`);
    expect(scrubbed).toBe('GET https://***@data.example.com/exports/day.ndjson?X-Amz-Signature=SIG#frag failed');
    expect(logScrubber({})(`GET ${url} failed`)).toBe(scrubbed);
  });

  it.each(lengths)('a user name of %i characters, without a password', (length) => {
    const { user } = userInfo(length, 0);
    const url = `https://${user}@data.example.com/a.csv`;
    expect(redactUrl(url)).toBe('https://data.example.com/a.csv');
    expect(displayLocation(url)).toBe('https://data.example.com/a.csv');
    expect(scrubUrlCredentials(`see ${url}`)).toBe('see https://***@data.example.com/a.csv');
  });
});
