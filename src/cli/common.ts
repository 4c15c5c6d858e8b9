/**
 * What every segflow command shares: output modes, exit codes and error reporting.
 */
import type { Command } from 'commander';
import { UsageError } from '../client';
import { jsonText, plainText, terminalText } from '../shared/safe-text';

/** Distinct, documented exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  cancelled: 3,
  rejectedOrExpired: 4,
  unexpected: 5,
} as const;

export interface GlobalOptions {
  json?: boolean;
  verbose?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

export const isJson = (command: Command) => Boolean(globalOptions(command).json);

/** JSON with every control and bidi character \u-escaped (src/shared/safe-text.ts jsonText): pipes to a terminal too. */
export function printJson(value: unknown): void {
  process.stdout.write(jsonText(value, 2) + '\n');
}

export function exitCodeForState(state: string): number {
  switch (state) {
    case 'completed':
      return EXIT.ok;
    case 'cancelled':
      return EXIT.cancelled;
    case 'rejected':
    case 'expired':
      return EXIT.rejectedOrExpired;
    default:
      return EXIT.failed;
  }
}

/** Wraps a command action: one clear sentence on failure, the stack only with --verbose. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const command = args[args.length - 1] as Command;
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT.ok;
    } catch (error) {
      const verbose = globalOptions(command).verbose;
      const message = error instanceof Error ? error.message : String(error);
      // Failure messages carry job, file and server text (a column name, a rejection reason): never raw.
      process.stderr.write(`segflow: ${terminalText(message)}\n`);
      if (verbose && error instanceof Error && error.stack) process.stderr.write(terminalText(error.stack) + '\n');
      else if (!(error instanceof UsageError)) process.stderr.write('(run with --verbose for details)\n');
      process.exitCode = error instanceof UsageError ? EXIT.usage : EXIT.unexpected;
    }
  };
}

export function parsePositiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${value}".`);
    return n;
  };
}

export function parseNonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number ≥ 0, got "${value}".`);
    return n;
  };
}

export function parseFraction(flag: string) {
  return (value: string): number => {
    const n = value.endsWith('%') ? Number(value.slice(0, -1)) / 100 : Number(value);
    if (!(n >= 0 && n <= 1)) throw new UsageError(`${flag} must be a fraction like 0.05 or 5%, got "${value}".`);
    return n;
  };
}

/** A plain aligned text table for humans (scripts use --json). */
/** Cells may hold workspace names and ids: sanitised (src/shared/safe-text.ts) so none can drive the terminal. */
export function formatTable(rawRows: string[][], header: string[]): string {
  const rows = rawRows.map((row) => row.map((cell) => plainText(cell)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
