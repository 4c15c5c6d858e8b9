/** Faults a test queues on the double: each request takes the first queued fault that matches it. */
import type { FaultMatch, PublicApiFault } from './types';

export class FaultQueue {
  private faults: Array<PublicApiFault & { remaining: number }> = [];

  /** `times` defaults to 1. */
  add(...faults: PublicApiFault[]): void {
    for (const fault of faults) this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  clear(): void {
    this.faults = [];
  }

  take(method: string, path: string): PublicApiFault | undefined {
    const index = this.faults.findIndex((fault) => faultMatches(fault.match, method, path));
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }
}

function faultMatches(match: FaultMatch | undefined, method: string, path: string): boolean {
  if (!match) return true;
  if (match.method && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === 'string' ? match.path === path : match.path.test(path);
}
