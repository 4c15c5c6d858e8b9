/**
 * Runs a pathological-input case in a child process with a deadline, so a linear-time check that regresses fails
 * in seconds instead of hanging the suite: a busy regular expression cannot be interrupted from its own thread, but
 * its process can be killed. The deadline counts from the call, not from the child's start (tsx takes a while).
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';

export interface CaseResult<T> {
  value: T;
  /** Time the case itself took in the child, in ms. */
  ms: number;
}

/** The child's start-up (tsx compiling the imports) on a busy 2-core machine; not part of the deadline. */
const START_TIMEOUT_MS = 60_000;

/**
 * Calls the export `name` of `modulePath` (an absolute path; a function without arguments returning JSON-able data)
 * in a fresh child, and rejects when it has not returned within `deadlineMs`.
 */
export function runWithDeadline<T>(modulePath: string, name: string, deadlineMs: number): Promise<CaseResult<T>> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(join(__dirname, 'deadline-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let timer = setTimeout(() => finish(new Error(`${name}: the child did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    let settled = false;
    const finish = (error: Error | undefined, result?: CaseResult<T>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      if (error) reject(error);
      else resolvePromise(result!);
    };
    child.on('message', (message: { ready?: true; error?: string; value?: T; ms?: number }) => {
      if (message.ready) {
        clearTimeout(timer);
        timer = setTimeout(
          () => finish(new Error(`${name} did not return within ${deadlineMs} ms: a check meant to be linear-time has regressed`)),
          deadlineMs,
        );
        child.send({ run: true });
      } else if (message.error !== undefined) {
        finish(new Error(`${name} threw: ${message.error}`));
      } else {
        finish(undefined, { value: message.value as T, ms: message.ms! });
      }
    });
    child.on('error', (error) => finish(error));
    child.on('exit', (code, signal) => finish(new Error(`${name}: the child exited (${signal ?? code}) before answering`)));
    child.send({ modulePath, name });
  });
}
