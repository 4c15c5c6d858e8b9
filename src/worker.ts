/**
 * The segflow worker: runs every segflow workflow and activity on one task queue. Scale out by starting more
 * of these, on any hosts, against the same Temporal namespace and task queue.
 */
import { NativeConnection, Runtime, Worker, type RuntimeOptions, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createApprovalActivities } from './activities/approval-activities';
import { createImportActivities } from './activities/import-activities';
import { chunkMetricsInterceptor } from './activities/metrics';
import { createWorkspaceActivities } from './activities/workspace-activities';
import { approversFromEnv, quorumFromEnv } from './core/approvers';
import { publicApiRoot, requiredApprovals, resolveWriteKey, stagingLimits, temporalSettings, trackingApiRoot } from './config';
import { openByteSource } from './io/open-byte-source';
import { PublicApiClient } from './segment/public-api-client';
import { TrackingClient } from './segment/tracking-client';
import { startHealthServer, type HealthServer, type HealthTarget } from './ops/health';
import { announce, createWorkerLogger } from './ops/logging';
import { applyWorkerMemorySettings } from './ops/worker-memory';
import { dataConverterFromEnv, describeTemporalProfile, nativeConnectionOptions } from './temporal-connection';
import { segflowVersion } from './version';

/** Resolves the workflows entry next to this file: `.ts` when run from sources (tsx, vitest), `.js` from dist. */
export function workflowsPath(): string {
  const base = join(__dirname, 'workflows', 'index');
  return existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.js`;
}

/**
 * Where the worker's workflow code comes from: the bundle named by SEGFLOW_WORKFLOW_BUNDLE, else the one
 * `npm run build` writes next to the compiled code (dist/workflow-bundle.js, made by deploy/bundle-workflows.js with
 * the same @temporalio/worker), else the workflow sources, bundled with webpack at start (from a source checkout).
 * A prebuilt bundle saves seconds at every start and keeps webpack's working memory out of the worker (figures in
 * bench/README.md).
 */
export function workflowCode(env: NodeJS.ProcessEnv = process.env): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const named = env.SEGFLOW_WORKFLOW_BUNDLE;
  if (named) return { workflowBundle: { codePath: named } };
  const built = join(__dirname, 'workflow-bundle.js');
  if (existsSync(built)) return { workflowBundle: { codePath: built } };
  return { workflowsPath: workflowsPath() };
}

/** Every activity, with the real clients behind it; tests build them with fakes instead (test/unit/chunk-sender.test.ts). */
export function createActivities(env: NodeJS.ProcessEnv) {
  // A broken setting stops the worker at start, not each job that reaches it: a staging limit that is not a number
  // (src/config.ts), an approver list or quorum that cannot be read (src/core/approvers.ts; the activity still reads the
  // list for every decision, so a rotated file takes effect without a restart).
  stagingLimits(env);
  approversFromEnv(env);
  quorumFromEnv(env);
  const now = () => new Date();
  return {
    ...createImportActivities({
      env,
      // Every URL connection obeys this worker's input policy, checked again at connect time (src/io/input-policy.ts).
      openSource: (location, options) => openByteSource(location, { ...options, inputPolicy: env }),
      tracking: (source) =>
        new TrackingClient({
          apiRoot: trackingApiRoot(env),
          writeKey: resolveWriteKey(source, env),
          ...(env.SEGFLOW_REQUEST_TIMEOUT_MS ? { requestTimeoutMs: Number(env.SEGFLOW_REQUEST_TIMEOUT_MS) } : {}),
        }),
      publicApi: (token) => new PublicApiClient({ baseUrl: publicApiRoot(env), token }),
      now,
    }),
    ...createWorkspaceActivities({
      env,
      now,
      publicApi: (options) => new PublicApiClient(options),
      tracking: (options) => new TrackingClient(options),
    }),
    ...createApprovalActivities({ env }),
  };
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Where activities read their settings and secrets; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** A pre-built bundle (tests build one per run); otherwise `workflowCode(env)` decides. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  maxConcurrentActivityTaskExecutions?: number;
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
}

/** The worker's identity in Temporal (UI, describe task-queue): the SDK's pid@host, plus segflow's version. */
export function workerIdentity(): string {
  return `${process.pid}@${hostname()} segflow/${segflowVersion()}`;
}

export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  const env = options.env ?? process.env;
  const dataConverter = dataConverterFromEnv(env);
  // A bundle built ahead of time (a test's, SEGFLOW_WORKFLOW_BUNDLE, dist's) carries the default failure converter;
  // with the codec on, workflow failures must be encoded in the sandbox too (src/workflows/failure-converter.ts), so
  // the worker bundles its own at start.
  const prebuilt = dataConverter?.failureConverterPath ? undefined : options.workflowBundle;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    identity: workerIdentity(),
    activities: createActivities(env),
    // Chunk metrics and log attributes (src/activities/metrics.ts).
    interceptors: { activity: [chunkMetricsInterceptor] },
    // Same codec as the CLI's when SEGFLOW_CODEC_KEY is set: event-free as history is, plans and paths stay private too.
    dataConverter,
    ...(prebuilt ? { workflowBundle: prebuilt } : dataConverter?.failureConverterPath ? { workflowsPath: workflowsPath() } : workflowCode(env)),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? Number(env.SEGFLOW_MAX_CONCURRENT_ACTIVITIES ?? 16),
    shutdownGraceTime: options.shutdownGraceTime ?? '10s',
  });
}

let runtimeInstalled = false;
/**
 * The process's Temporal Runtime, installed once before any connection: logs at SEGFLOW_LOG_LEVEL (default WARN:
 * progress is watched in the UI and the CLI) in SEGFLOW_LOG_FORMAT (text or json), and with
 * SEGFLOW_METRICS_ADDRESS a Prometheus endpoint serving the SDK's metrics and segflow's (docs/operations.md).
 */
export function installRuntimeLogger(env: NodeJS.ProcessEnv = process.env): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install(runtimeOptions(env));
  } catch {
    // A Runtime already exists in this process (tests): keep it.
  }
}

export function runtimeOptions(env: NodeJS.ProcessEnv): RuntimeOptions {
  const metricsAddress = env.SEGFLOW_METRICS_ADDRESS?.trim();
  return {
    logger: createWorkerLogger(env),
    ...(metricsAddress
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: { bindAddress: metricsAddress },
              // The version on every series: a dashboard tells old workers from new ones during an upgrade.
              globalTags: { segflow_version: segflowVersion() },
            },
          },
        }
      : {}),
  };
}

/** `segflow worker`: connect with the standard TEMPORAL_* variables and run until SIGINT/SIGTERM. */
export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // First, before the import's allocations: the garbage collector reads them from then on (src/ops/worker-memory.ts).
  applyWorkerMemorySettings(env);
  installRuntimeLogger(env);
  const settings = temporalSettings(env);
  let healthTarget: HealthTarget | undefined;
  // Up before the connection, so an orchestrator sees "live, not ready" while Temporal is unreachable.
  let health: HealthServer | undefined;
  if (env.SEGFLOW_HEALTH_ADDRESS?.trim()) health = await startHealthServer(env.SEGFLOW_HEALTH_ADDRESS, () => healthTarget);
  try {
    const connection = await NativeConnection.connect(nativeConnectionOptions(settings.profile!));
    try {
      // The workflow code: a prebuilt bundle when there is one (workflowCode).
      const worker = await createWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, env });
      healthTarget = { worker, connection, taskQueue: settings.taskQueue };
      // The operator sees the gate is on (createWorker already refused an unknown SEGFLOW_REQUIRE_APPROVAL value).
      const gated = requiredApprovals(env).imports;
      announce(
        env,
        `segflow ${segflowVersion()} worker polling task queue "${settings.taskQueue}" on ${describeTemporalProfile(settings.profile!)}` +
          (gated ? '; imports need an approval (SEGFLOW_REQUIRE_APPROVAL=imports)' : ''),
        {
          taskQueue: settings.taskQueue,
          identity: workerIdentity(),
          ...(gated ? { requireApproval: 'imports' } : {}),
          ...(env.SEGFLOW_METRICS_ADDRESS ? { metrics: `http://${env.SEGFLOW_METRICS_ADDRESS.trim()}/metrics` } : {}),
          ...(health ? { health: health.url } : {}),
        },
      );
      await worker.run();
    } finally {
      healthTarget = undefined;
      await connection.close();
    }
  } finally {
    await health?.close();
  }
}
