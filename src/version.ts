/** segflow's version, from the package.json beside src/ and dist/ (the image copies it too). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

export function segflowVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
