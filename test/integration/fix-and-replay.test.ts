/**
 * The README's fix-and-replay walkthrough, command by command, through the real CLI (in this process, so the test's
 * worker keeps running): import -> rejects -> fix -> replay -> replay again (refused) -> verify against the Public API
 * double.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { main } from '../../src/cli';
import { getJobStatus } from '../../src/client';
import { deriveMessageId, messageIdNamespace } from '../../src/core/message-id';
import { startImportHarness, WRITE_KEY, type ImportHarness } from '../support/import-harness';
import { PublicApiDouble } from '../support/public-api-double';

const TOKEN = 'sgp_walkthrough';
let h: ImportHarness;
let api: PublicApiDouble;

beforeAll(async () => {
  h = await startImportHarness();
  api = await PublicApiDouble.start({
    token: TOKEN,
    sources: [{ id: 'src_walkthrough', name: 'Walkthrough', writeKeys: [WRITE_KEY] }],
    destinations: [{ id: 'dst_webhook', sourceId: 'src_walkthrough', name: 'Webhook' }],
  });
});

afterAll(async () => {
  await h?.stop();
  await api?.stop();
});

/** The walkthrough's commands as the README shows them (`$JOB` is the first import's job id). */
const WALKTHROUGH = [
  'segflow import events.csv --wait',
  'segflow rejects $JOB --reason-column --out fixed.csv',
  'segflow import fixed.csv --ignore-column reason --wait',
  'segflow import fixed.csv --ignore-column reason --wait',
  'segflow verify $JOB',
];

function readmeWalkthrough(): string[] {
  const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Fix and replay, then verify'));
  const block = section.slice(section.indexOf('```sh') + 5, section.indexOf('```', section.indexOf('```sh') + 5));
  return block
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.startsWith('segflow '));
}

/** Runs one CLI command in this process, in the work directory, with a shell's environment. */
async function segflow(command: string, vars: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = command
    .replace(/\$(\w+)/g, (_m, name: string) => vars[name] ?? '')
    .split(' ')
    .slice(1);
  const env = {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    SEGFLOW_TASK_QUEUE: h.taskQueue,
    SEGMENT_API_URL: api.url,
    SEGMENT_API_TOKEN: TOKEN,
    SEGMENT_WRITE_KEY: WRITE_KEY,
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const cwd = process.cwd();
  let stdout = '';
  let stderr = '';
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  Object.assign(process.env, env);
  process.chdir(h.workDir);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    process.exitCode = 0;
    await main(['node', 'segflow', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    process.chdir(cwd);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    process.exitCode = 0;
  }
}

it('runs the README walkthrough: import, rejects, fix, replay, refused replay, verify', async () => {
  expect(readmeWalkthrough()).toEqual(WALKTHROUGH);
  const [importCmd, rejectsCmd, replayCmd, replayAgainCmd, verifyCmd] = WALKTHROUGH as [string, string, string, string, string];

  const header = 'type,userId,event,timestamp,properties.plan';
  writeFileSync(
    join(h.workDir, 'events.csv'),
    [
      header,
      'track,u1,Signed Up,2024-01-01T10:00:00Z,pro',
      'track,u2,,2024-01-01T11:00:00Z,free', // no event name
      'track,u3,Signed Up,2024-01-01 12:00:00,"team, annual"', // no timezone
      'identify,u4,,2024-01-02T00:00:00Z,',
    ].join('\n') + '\n',
  );

  // 1. import: two rows rejected.
  const first = await segflow(importCmd, {});
  expect(first.code, first.stderr).toBe(0);
  const job = /Started import (\S+)/.exec(first.stderr)?.[1];
  expect(job).toBeDefined();
  expect(first.stdout).toMatch(/rows read 4 = events sent 2 \+ rows rejected 2/);

  // 2. rejects: the two rows with the same header, and the reason as a last column.
  const rejects = await segflow(rejectsCmd, { JOB: job! });
  expect(rejects.code, rejects.stderr).toBe(0);
  const fixedPath = join(h.workDir, 'fixed.csv');
  const written = readFileSync(fixedPath, 'utf8');
  expect(written.split('\n')[0]).toBe(`${header},reason`);
  expect(written.split('\n').slice(1, 3)).toEqual([
    expect.stringMatching(/^track,u2,,2024-01-01T11:00:00Z,free,.*event name/),
    expect.stringMatching(/^track,u3,Signed Up,2024-01-01 12:00:00,"team, annual",.*timezone/),
  ]);

  // 3. fix, as a person would in an editor.
  const fixed = written.replace('track,u2,,', 'track,u2,Signed Up,').replace('2024-01-01 12:00:00', '2024-01-01T12:00:00Z');
  writeFileSync(fixedPath, fixed);

  // 4. replay: only the fixed rows are sent, each once.
  const replay = await segflow(replayCmd, {});
  expect(replay.code, replay.stderr).toBe(0);
  expect(replay.stdout).toMatch(/rows read 2 = events sent 2 \+ rows rejected 0/);
  expect(h.double.uniqueMessageIds().size).toBe(4);
  const users = h.double.messages.map((m) => m.message.userId).sort();
  expect(users).toEqual(['u1', 'u2', 'u3', 'u4']);
  // messageIds of the fixed rows are derived from their line and text: the same on every replay of this content.
  const fixedLines = fixed.split('\n');
  const u3 = h.double.messages.find((m) => m.message.userId === 'u3')!;
  expect(u3.message.messageId).toBe(deriveMessageId(messageIdNamespace('default'), 3, fixedLines[2]!));

  // 5. the same fixed content again is refused like any re-import.
  const again = await segflow(replayAgainCmd, {});
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/already imported/);
  expect(h.double.uniqueMessageIds().size).toBe(4);

  // 6. verify: Segment's usage for today matches what the first job sent.
  const firstStatus = await getJobStatus(h.sc, job!);
  const sentByDay = firstStatus.sentByDay as Record<string, number>;
  expect(Object.values(sentByDay).reduce((a, b) => a + b, 0)).toBe(2);
  const today = Object.keys(sentByDay)[0]!;
  // Cumulative in the month: whatever was counted earlier this month, plus today's calls (the job's two and one
  // more from another sender).
  if (today.slice(8) !== '01') api.state.usage.push({ sourceId: 'src_walkthrough', apiCalls: '500', timestamp: `${today.slice(0, 8)}01T00:00:00Z` });
  api.state.usage.push({ sourceId: 'src_walkthrough', apiCalls: String((today.slice(8) !== '01' ? 500 : 0) + 3), timestamp: `${today}T00:00:00Z` });
  api.state.deliveryMetrics.push({ destinationId: 'dst_webhook', sourceId: 'src_walkthrough', metrics: [{ metricName: 'successes', total: 3 }] });
  const verify = await segflow(verifyCmd, { JOB: job! });
  expect(verify.code, verify.stderr + verify.stdout).toBe(0);
  expect(verify.stdout).toMatch(new RegExp(`${today}\\s+2\\s+3\\s+ok`));
  expect(verify.stdout).toMatch(/Webhook\s+dst_webhook\s+3\s+0/);
  expect(verify.stdout).toMatch(/verdict: consistent/);
  expect(verify.stdout).toMatch(/What these numbers cannot prove/);

  const json = await segflow(`${verifyCmd} --json`, { JOB: job! });
  expect(JSON.parse(json.stdout)).toMatchObject({
    jobId: job,
    source: 'src_walkthrough',
    days: [{ day: today, sent: 2, segmentApiCalls: 3 }],
    destinations: [{ id: 'dst_webhook', name: 'Webhook', delivered: 3, failed: 0 }],
    verdict: 'consistent',
  });
}, 240_000);
