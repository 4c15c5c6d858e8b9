/**
 * The worker's log lines: the SDK's text format, or one JSON object per line with SEGFLOW_LOG_FORMAT=json.
 *
 * Log lines leave the worker for log stores with wider access than Temporal itself, so every line is scrubbed
 * here, in one place: values of the worker's secret variables, URL credentials, and attributes whose name says
 * they hold a secret or row data are replaced before anything is written.
 */
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import { inspect } from 'node:util';
import { scrubUrlCredentials } from '../shared/location';

const SECRET_VARIABLE = /^(SEGMENT_WRITE_KEY(_[A-Z0-9_]+)?|SEGMENT_API_TOKEN|SEGFLOW_CODEC_KEY|TEMPORAL_API_KEY|TEMPORAL_TLS_CLIENT_KEY(_DATA)?)$/;
/** Attribute names whose values never belong in a log line. */
const SECRET_ATTRIBUTE = /(write_?key|token|secret|password|authorization|api_?key|codec_?key|^raw$|^row$|^rows$|^values$)/i;
const MIN_SECRET_LENGTH = 6;

export interface LogScrubber {
  (text: string): string;
}

/** A scrubber for this worker's secrets (the values it holds in its environment). */
export function logScrubber(env: NodeJS.ProcessEnv): LogScrubber {
  const secrets = Object.entries(env)
    .filter(([name, value]) => SECRET_VARIABLE.test(name) && value && value.length >= MIN_SECRET_LENGTH)
    .map(([, value]) => value!)
    .sort((a, b) => b.length - a.length);
  return (text) => {
    let out = scrubUrlCredentials(text);
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
    return out;
  };
}

function scrubValue(value: unknown, scrub: LogScrubber, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: scrub(value.message) };
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => scrubValue(v, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = SECRET_ATTRIBUTE.test(key) ? '[redacted]' : scrubValue(v, scrub, depth + 1);
  return out;
}

export type LogFormat = 'text' | 'json';

export function logFormat(env: NodeJS.ProcessEnv): LogFormat {
  const format = (env.SEGFLOW_LOG_FORMAT ?? 'text').toLowerCase();
  if (format !== 'text' && format !== 'json') throw new Error(`SEGFLOW_LOG_FORMAT must be "text" or "json", not "${format.slice(0, 20)}"`);
  return format;
}

/** One log line for an SDK log entry (no newline). JSON keys: time, level, message, then the attributes. */
export function renderLogLine(entry: LogEntry, format: LogFormat, scrub: LogScrubber): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = (entry.meta ? scrubValue(entry.meta, scrub) : {}) as Record<string, unknown>;
  const message = scrub(entry.message);
  if (format === 'json') {
    const { message: _m, level: _l, time: _t, ...rest } = meta;
    return JSON.stringify({ time, level: entry.level, message, ...rest });
  }
  return `${time} [${entry.level}] ${message}${entry.meta ? ` ${inspect(meta, { breakLength: Infinity, depth: 4 })}` : ''}`;
}

/** The worker's logger: SEGFLOW_LOG_LEVEL (default WARN), SEGFLOW_LOG_FORMAT (text or json), to stderr. */
export function createWorkerLogger(
  env: NodeJS.ProcessEnv,
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): DefaultLogger {
  const level = (env.SEGFLOW_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  const format = logFormat(env);
  const scrub = logScrubber(env);
  return new DefaultLogger(level, (entry) => write(renderLogLine(entry, format, scrub)));
}

/** A line the operator should always see (the worker's start), whatever the level, in the chosen format. */
export function announce(env: NodeJS.ProcessEnv, message: string, meta: Record<string, unknown> = {}): void {
  const scrub = logScrubber(env);
  if (logFormat(env) === 'json') {
    process.stderr.write(
      JSON.stringify({ time: new Date().toISOString(), level: 'INFO', message: scrub(message), ...(scrubValue(meta, scrub) as object) }) + '\n',
    );
  } else {
    process.stderr.write(scrub(message) + '\n');
  }
}
