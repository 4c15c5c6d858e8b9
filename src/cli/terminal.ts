/**
 * The terminal side of commands that talk with a person: stdout for results, stderr for notes, prompts, the pager
 * for long plans, stdin for piped input, and who "I" am for the audit trail.
 */
import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { terminalText } from '../shared/safe-text';

/** A result line (stdout); a trailing newline is added when missing. Sanitised: it may quote a job or workspace. */
export const out = (text: string) => process.stdout.write(terminalText(text.endsWith('\n') ? text : `${text}\n`));
/** A note for the person, not the result (stderr), so piped output stays clean. */
export const note = (text: string) => process.stderr.write(terminalText(text.endsWith('\n') ? text : `${text}\n`));

export const yesNo = (value: boolean) => (value ? 'yes' : 'no');

/** Who approves or rejects when --by is not given: SEGFLOW_USER, USER, or the account name. */
export const defaultBy = () => process.env.SEGFLOW_USER || process.env.USER || safeUsername();
function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** One answer typed at the terminal; the question goes to stderr. */
export async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    // Prompts quote plan summaries and item ids from the job.
    return (await rl.question(terminalText(question))).trim();
  } finally {
    rl.close();
  }
}

/** Long text through the user's pager when it would scroll off a terminal, so nothing is missed; else printed. */
export function showLong(raw: string): void {
  const text = terminalText(raw);
  const rows = process.stdout.rows ?? 0;
  const pager = process.env.SEGFLOW_PAGER ?? process.env.PAGER ?? 'less -FX';
  if (process.stdout.isTTY && rows > 0 && text.split('\n').length > rows - 2 && pager && pager !== 'cat') {
    const shown = spawnSync(pager, { input: `${text}\n`, stdio: ['pipe', 'inherit', 'inherit'], shell: true });
    if (!shown.error && shown.status === 0) return;
  }
  out(text);
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
