/** Polls `check` until it returns true; throws after `timeoutMs`. Errors while polling count as "not yet". */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not ready yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not met within ${timeoutMs} ms`);
}

export function ndjsonEvents(count: number, prefix: string, extra: (i: number) => Record<string, unknown> = () => ({})): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(
      JSON.stringify({
        type: 'track',
        userId: `${prefix}-${i}`,
        event: 'Imported',
        timestamp: new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString(),
        ...extra(i),
      }),
    );
  }
  return lines.join('\n') + '\n';
}
