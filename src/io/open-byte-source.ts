/**
 * The one place that knows every kind of input: it imports each ByteSource and picks one by location, so the
 * sources themselves never import each other (byte-source.ts holds only what they share).
 */
import { fileURLToPath } from 'node:url';
import type { ByteSource } from './byte-source';
import { HttpRangeSource, policyAgent } from './http-source';
import { LocalFileSource } from './local-file-source';
import { displayLocation, isHttpLocation } from '../shared/location';

export interface OpenByteSourceOptions {
  pinnedVersion?: string;
  /**
   * The worker's environment, whose input policy (src/io/input-policy.ts) every URL connection then obeys. The worker
   * always passes it (src/worker.ts); the CLI, reading what its own user names, does not.
   */
  inputPolicy?: NodeJS.ProcessEnv;
}

/**
 * Resolves an import location to a source: an http(s) URL, a file:// URL or a plain path. Other schemes fail
 * loudly here rather than later inside an activity retry loop.
 */
export function openByteSource(location: string, options: OpenByteSourceOptions = {}): ByteSource {
  if (isHttpLocation(location)) {
    return new HttpRangeSource(location, {
      pinnedVersion: options.pinnedVersion,
      ...(options.inputPolicy ? { dispatcher: policyAgent(options.inputPolicy) } : {}),
    });
  }
  if (/^file:\/\//i.test(location)) return new LocalFileSource(fileURLToPath(location));
  // Two or more letters before "://" is a URL scheme; a single letter would be a Windows drive.
  const scheme = /^([a-z][a-z0-9+.-]+):\/\//i.exec(location)?.[1];
  if (scheme !== undefined) {
    throw new Error(
      `Unsupported import location scheme "${scheme}://" in ${displayLocation(location)}; use a local file path or an http(s) URL (a presigned URL for an object store)`,
    );
  }
  return new LocalFileSource(location);
}
