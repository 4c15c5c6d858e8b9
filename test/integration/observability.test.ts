/**
 * Operating a worker: a real Prometheus (Debian's `prometheus`) scrapes a worker process during an import, and
 * the counters it stored match the job's status; the health endpoint answers; JSON logs carry job, run, chunk
 * and attempt and no secret or row data; the version is in the identity and on every metric; every query of the
 * Grafana dashboard and of the alert rules names a metric the worker really exposes (docs/operations.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followJob, startImport, type JobStatus } from '../../src/client';
import { segflowVersion } from '../../src/version';
import { approvalRequestQuery, decideUpdate } from '../../src/contracts/approval';
import { WRITE_KEY, type ImportHarness } from '../support/import-harness';
import { waitFor } from '../support/wait';
import { killTree, startProcessHarness, type ProcessHarness, type WorkerProcess } from '../support/worker-process';

const root = resolve(__dirname, '../..');
const ROW_SECRET = 'row-value-that-must-not-be-logged-7731';
const API_TOKEN = 'sgp_observability_token_5f1e9a7c';

let h: ImportHarness;
const children: ChildProcess[] = [];
let p: ProcessHarness | undefined;
let worker: WorkerProcess | undefined;
/** The worker process's log so far. */
const workerLog = () => worker?.log() ?? '';
let healthUrl = '';
let metricsAddress = '';
let prometheusUrl = '';
let status: JobStatus;
/** Approvals waiting now, as the dashboard computes it. */
const WAITING = 'sum(segflow_job_transitions{state="awaiting_approval"}) - (sum(segflow_approvals_decided) or vector(0))';

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
  });
}

/** The exposition text of the worker's /metrics. */
async function scrapeWorker(): Promise<string> {
  const response = await fetch(`http://${metricsAddress}/metrics`);
  return response.text();
}

async function promQuery(query: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  expect(body.status).toBe('success');
  return body.data.result;
}

async function promScalar(query: string): Promise<number> {
  const result = await promQuery(query);
  return result.length ? Number(result[0]!.value[1]) : NaN;
}

function inputFile(): string {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    lines.push(
      JSON.stringify({
        type: 'track',
        userId: `obs-${i}`,
        event: 'Imported',
        properties: { note: ROW_SECRET },
        timestamp: new Date(Date.UTC(2021, 0, 1) + i * 1000).toISOString(),
      }),
    );
    if (i === 100 || i === 2500) lines.push('{"type": "track", broken json');
    if (i === 700 || i === 1500 || i === 2900) lines.push(JSON.stringify({ type: 'track', event: 'No user', properties: { note: ROW_SECRET } }));
  }
  return lines.join('\n') + '\n';
}

beforeAll(async () => {
  const prometheus = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  if (prometheus.error) throw new Error('prometheus is not installed: apt-get install prometheus (.ci/run does)');

  // Segment refuses one event outright (400): the sender isolates it, and it counts as refused_by_segment.
  // The worker under test is a separate process with its own Runtime.
  p = await startProcessHarness({ double: { refuse: (item) => item.userId === 'obs-1234' } });
  h = p.h;
  metricsAddress = `127.0.0.1:${await freePort()}`;
  worker = p.startWorker({
    env: {
      SEGFLOW_METRICS_ADDRESS: metricsAddress,
      SEGFLOW_HEALTH_ADDRESS: '127.0.0.1:0',
      SEGFLOW_LOG_FORMAT: 'json',
      SEGFLOW_LOG_LEVEL: 'DEBUG',
      SEGMENT_API_TOKEN: API_TOKEN,
    },
  });
  await waitFor(() => /"health":"(http:[^"]+)"/.test(workerLog()), 90_000, 'the worker announcing its health endpoint');
  healthUrl = /"health":"(http:[^"]+)"/.exec(workerLog())![1]!;

  const promDir = mkdtempSync(join(tmpdir(), 'segflow-prometheus-'));
  const config = join(promDir, 'prometheus.yml');
  writeFileSync(
    config,
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${join(root, 'deploy/prometheus/alerts.yml')}\nscrape_configs:\n  - job_name: segflow-worker\n    static_configs:\n      - targets: ['${metricsAddress}']\n`,
  );
  const promPort = await freePort();
  prometheusUrl = `http://127.0.0.1:${promPort}`;
  const prom = spawn(
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  children.push(prom);
  await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, 60_000, 'Prometheus ready');
}, 240_000);

afterAll(async () => {
  if (process.env.SEGFLOW_TEST_DEBUG) {
    writeFileSync(join(tmpdir(), 'segflow-observability-worker.log'), workerLog());
    if (metricsAddress) writeFileSync(join(tmpdir(), 'segflow-observability-metrics.txt'), await scrapeWorker().catch(() => ''));
  }
  for (const child of children) killTree(child);
  await p?.stop();
});

describe('a worker process during an import', () => {
  it('answers live and ready on its health endpoint', async () => {
    const live = await fetch(`${healthUrl}/livez`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'live', version: segflowVersion() });
    await waitFor(async () => (await fetch(`${healthUrl}/readyz`)).status === 200, 60_000, 'ready');
    expect(await (await fetch(`${healthUrl}/readyz`)).json()).toMatchObject({ status: 'ready', taskQueue: h.taskQueue, problems: [] });
    expect((await fetch(`${healthUrl}/nope`)).status).toBe(404);
  });

  it('runs the import while Prometheus scrapes it (a 429 and a 500 on the way)', async () => {
    h.double.injectFaultOnRequest(3, { kind: 'status', status: 429, retryAfterSeconds: 1 });
    h.double.injectFaultOnRequest(6, { kind: 'status', status: 500 });
    const file = h.writeInput('observed.ndjson', inputFile());
    const started = await startImport(h.sc, {
      file,
      requireApproval: true,
      concurrency: 2,
      targetChunkBytes: 60_000,
      maxEventsPerBatch: 100,
      chunksPerRun: 5,
      heartbeatTimeoutMs: 10_000,
    });
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    await waitFor(async () => (await handle.query(approvalRequestQuery)).state === 'awaiting', 90_000, 'awaiting approval');
    // Prometheus sees the approval waiting before anyone decides.
    await waitFor(async () => (await promScalar(WAITING)) === 1, 30_000, 'one approval waiting in Prometheus');
    const { planHash } = await handle.query(approvalRequestQuery);
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'observability-test' }] });
    status = await followJob(h.sc, started.jobId, () => undefined, 300);
    expect(status.state).toBe('completed');
    expect(status.rows).toEqual({ read: 3005, rejected: 6, valid: 3000 });
    expect(status.events).toMatchObject({ sent: 2999 });
  });

  it('has Prometheus hold counters equal to the job status', async () => {
    const sum = (expr: string) => promScalar(`sum(${expr})`);
    // The last scrape after the job finished has everything.
    await waitFor(async () => (await sum('segflow_job_transitions{state="completed"}')) === 1, 60_000, 'Prometheus scraped the finished job');
    const rows = status.rows as { read: number; rejected: number };
    const events = status.events as { sent: number };
    const batches = status.batches as { sent: number };
    expect(await sum('segflow_rows_read{mode="send",job_kind="import",source="default"}')).toBe(rows.read);
    expect(await sum('segflow_rows_rejected{mode="send"}')).toBe(rows.rejected);
    const byClass = Object.fromEntries(
      (await promQuery('sum by (reason_class) (segflow_rows_rejected{mode="send"})')).map((r) => [r.metric.reason_class, Number(r.value[1])]),
    );
    expect(byClass).toEqual({ unreadable_row: 2, invalid_event: 3, refused_by_segment: 1 });
    expect(await sum('segflow_events_sent')).toBe(events.sent);
    expect(await sum('segflow_batches_sent')).toBe(batches.sent);
    expect(await sum('segflow_input_bytes{mode="send"}')).toBe((status.bytes as { done: number }).done);
    expect(await sum('segflow_rate_limit_waits')).toBe(1);
    expect(await sum('segflow_segment_responses{status_class="4xx"}')).toBeGreaterThanOrEqual(2); // the 429 and the refusal
    expect(await sum('segflow_segment_responses{status_class="5xx"}')).toBe(1);
    // Every batch Segment accepted is counted by the job, or was sent again after a resume (one worker here,
    // so every failed attempt's batches are known).
    expect(await sum('segflow_segment_responses{status_class="2xx"}')).toBe(batches.sent + ((await sum('segflow_batches_resent')) || 0));
    expect(await sum('segflow_chunks{outcome="failed"}')).toBe(2);
    expect(await sum('segflow_chunk_duration_count{outcome="completed"}')).toBe(await sum('segflow_chunks{outcome="completed"}'));
    expect(await promScalar(WAITING)).toBe(0);
    expect(await sum('segflow_rows_read{mode="validate"}')).toBe(rows.read);
    // The SDK's own metrics share the endpoint, and every series carries the version.
    expect(await sum('temporal_workflow_completed')).toBeGreaterThanOrEqual(1);
    const versions = await promQuery('count by (segflow_version) ({__name__=~"segflow_.*|temporal_.*"})');
    expect(versions.map((r) => r.metric.segflow_version)).toEqual([segflowVersion()]);
    // No job id, file name or row value in any label.
    const text = await scrapeWorker();
    expect(text).not.toContain(status.jobId);
    expect(text).not.toContain('observed.ndjson');
    expect(text).not.toContain(ROW_SECRET);
  });

  it('shows its version in its identity', async () => {
    const described = await h.sc.client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: h.taskQueue },
      taskQueueType: 1, // workflow
    });
    const identities = (described.pollers ?? []).map((p) => p.identity ?? '');
    expect(identities.some((id) => id.endsWith(` segflow/${segflowVersion()}`))).toBe(true);
  });

  it('logs JSON lines with job, run, chunk and attempt, and no secret or row data', () => {
    const lines = workerLog().trim().split('\n');
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.every((entry) => typeof entry.time === 'string' && typeof entry.level === 'string' && typeof entry.message === 'string')).toBe(
      true,
    );
    const chunkLines = parsed.filter((entry) => entry.jobId === status.jobId && typeof entry.chunk === 'number');
    expect(chunkLines.length).toBeGreaterThan(0);
    expect(chunkLines.some((entry) => typeof entry.workflowRunId === 'string' && typeof entry.attempt === 'number')).toBe(true);
    // The failed attempts were logged too, with the attempt that failed.
    expect(parsed.some((entry) => entry.jobId === status.jobId && entry.level === 'WARN')).toBe(true);
    for (const secret of [WRITE_KEY, API_TOKEN, ROW_SECRET, Buffer.from(`${WRITE_KEY}:`).toString('base64')])
      expect(workerLog()).not.toContain(secret);
  });
});

describe('the Grafana dashboard and the alert rules', () => {
  const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/dashboards/segflow.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }>; panels?: unknown[] }>;
  };
  const alerts = readFileSync(join(root, 'deploy/prometheus/alerts.yml'), 'utf8');
  const METRIC = /\b((?:segflow|temporal)_[a-z0-9_]+)/g;

  const LABELS = new Set(['segflow_version']); // the version label the runtime adds to every series

  function namesIn(expr: string): string[] {
    return [...expr.matchAll(METRIC)].map((m) => m[1]!).filter((name) => !LABELS.has(name));
  }

  it('name only metrics the worker exposes', async () => {
    const exposed = new Set(
      (await scrapeWorker())
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)![1]!),
    );
    const panels = dashboard.panels.filter((p) => p.targets);
    expect(panels.length).toBeGreaterThanOrEqual(8);
    const missing: string[] = [];
    for (const panel of panels) {
      expect(panel.targets!.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) {
        const names = namesIn(target.expr);
        expect(names.length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0);
        for (const name of names) if (!exposed.has(name)) missing.push(`${panel.title}: ${name}`);
      }
    }
    for (const expr of [...alerts.matchAll(/expr:\s*(.+)/g)].map((m) => m[1]!)) {
      for (const name of namesIn(expr)) if (!exposed.has(name)) missing.push(`alert: ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it('are queries Prometheus accepts', async () => {
    for (const panel of dashboard.panels.filter((p) => p.targets)) {
      for (const target of panel.targets!) {
        const expr = target.expr.replaceAll('$__rate_interval', '1m').replaceAll('$source', '.*');
        const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
        expect(response.status, `${panel.title}: ${expr}`).toBe(200);
      }
    }
  });

  it('load into Prometheus as valid rules', async () => {
    const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual([
      'SegflowApprovalWaitingTooLong',
      'SegflowJobFailed',
      'SegflowRejectRateHigh',
      'SegflowSegment4xx',
      'SegflowWorkerNotPolling',
    ]);
    expect(loaded.every((r) => r.health !== 'err')).toBe(true);
  });
});
