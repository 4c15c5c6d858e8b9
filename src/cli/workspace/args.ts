/**
 * Argument parsers of the workspace commands: durations, labels, settings. Each throws a UsageError naming what
 * it expected.
 */
import { UsageError } from '../../client';

/** `90s`, `30m`, `24h`, `2d`, or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new UsageError(`Cannot read the duration "${text}"; use e.g. 90s, 30m, 24h, 2d.`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
  const ms = Math.round(Number(match[1]) * unit);
  if (ms < 1000) throw new UsageError(`The duration "${text}" is shorter than a second.`);
  return ms;
}

/** A label argument: `key:value` (Segment's notation) or `key=value`. */
export function parseLabelArg(text: string): { key: string; value: string } {
  const match = /^([^:=\s][^:=]*)[:=](.+)$/.exec(text);
  if (!match) throw new UsageError(`A label is written key:value, got "${text}".`);
  return { key: match[1]!.trim(), value: match[2]!.trim() };
}

/** `key=value`; the value is read as JSON when it parses (numbers, booleans, objects), else kept as text. */
export function parseSettingArg(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at < 1) throw new UsageError(`A setting is written key=value, got "${text}".`);
  const raw = text.slice(at + 1);
  try {
    return [text.slice(0, at), JSON.parse(raw) as unknown];
  } catch {
    return [text.slice(0, at), raw];
  }
}
