/**
 * `segflow verify <job>`: did it land? Compares the events a job sent per day with Segment's daily API-call usage of
 * the source, and shows each connected destination's delivery metrics over the import window (docs/verify.md).
 * Reads the Public API with this shell's SEGMENT_API_TOKEN; the write key (to find the source) is this shell's too.
 */
import type { Command } from 'commander';
import { getJobStatus, UsageError, withClient, type JobStatus } from '../client';
import { MissingSecretError, publicApiRoot, resolveApiToken, resolveWriteKey } from '../config';
import {
  compareDays,
  dailyApiCalls,
  deliveryMetricsWindow,
  summariseDeliveryMetrics,
  usagePeriod,
  type DayComparison,
  type DestinationMetrics,
  type UsageEntry,
  type Verdict,
} from '../core/reconcile';
import { PublicApiClient } from '../segment/public-api-client';
import { PublicApiError } from '../segment/public-api-errors';
import { terminalText } from '../shared/safe-text';
import { action, EXIT, formatTable, globalOptions, parseFraction, printJson } from './common';
import { examples } from './examples';

export interface VerifyReport {
  jobId: string;
  /** The Segment source id the job's events went to. */
  source: string;
  sourceName: string;
  days: DayComparison[];
  destinations: DestinationMetrics[];
  verdict: Verdict;
  tolerance: number;
  /** What the numbers cannot prove, in plain words. */
  caveats: string[];
}

export const DEFAULT_VERIFY_TOLERANCE = 0.01;

export async function verifyJob(options: {
  status: JobStatus;
  api: PublicApiClient;
  sourceId?: string;
  /** The write key of the job's source, to find its id when `sourceId` is not given. */
  writeKey?: string;
  tolerance: number;
  now?: Date;
}): Promise<VerifyReport> {
  const { status, api, tolerance } = options;
  const now = options.now ?? new Date();
  if (status.kind !== 'import') throw new UsageError(`Job ${status.jobId} is a ${status.kind} job; verify compares what an import sent.`);
  const sourceName = String(status.source ?? 'default');
  const sentByDay = (status.sentByDay as Record<string, number> | undefined) ?? {};

  let sourceId = options.sourceId;
  if (sourceId === undefined) {
    if (!options.writeKey)
      throw new UsageError("Pass --source-id, or set the write key of the job's source in this shell so verify can find the source.");
    const sources = await api.listSources();
    sourceId = sources.find((source) => source.writeKeys?.includes(options.writeKey!))?.id;
    if (sourceId === undefined) {
      throw new UsageError(
        `No source in this workspace lists the write key of source "${sourceName}" (the token may not be allowed to see write keys); pass --source-id.`,
      );
    }
  }

  const usage: UsageEntry[] = [];
  for (const period of new Set(Object.keys(sentByDay).map(usagePeriod))) usage.push(...(await api.getDailySourceApiCalls(period)));
  const { days, verdict, shortDays } = compareDays(sentByDay, dailyApiCalls(usage, sourceId), tolerance);

  const destinations: DestinationMetrics[] = [];
  const endedAt = String(status.updatedAt ?? now.toISOString());
  const window = status.startedAt ? deliveryMetricsWindow(String(status.startedAt), endedAt, now) : undefined;
  for (const destination of await api.listConnectedDestinations(sourceId)) {
    const name = destination.name ?? destination.metadata?.name ?? destination.id;
    if (window === undefined) {
      destinations.push({
        id: destination.id,
        name,
        delivered: null,
        failed: null,
        note: 'the import window is older than Segment keeps delivery metrics (14 days)',
      });
      continue;
    }
    try {
      const summary = await api.getDeliveryMetrics(destination.id, { sourceId, ...window });
      destinations.push({ id: destination.id, name, ...summariseDeliveryMetrics(summary.metrics) });
    } catch (error) {
      if (!(error instanceof PublicApiError)) throw error;
      destinations.push({ id: destination.id, name, delivered: null, failed: null, note: `no delivery metrics: ${error.message}` });
    }
  }

  return { jobId: status.jobId, source: sourceId, sourceName, days, destinations, verdict, tolerance, caveats: caveats(days, shortDays, now) };
}

function caveats(days: DayComparison[], shortDays: string[], now: Date): string[] {
  const notes = [
    "Segment counts every API call the source received, from any sender: more than segflow sent is expected when anything else sends to this source, and the numbers cannot show which calls were segflow's.",
    "Days are UTC days on which Segment acknowledged the batches, not the days in the events' timestamps.",
    'segflow counts one API call per event it sent; Segment does not document exactly how batched calls are counted, and a batch whose acknowledgement was lost and was re-sent may be counted twice.',
    'Delivery metrics cover the whole source over the import window, and destinations may filter or map events: they do not prove that each event reached each destination.',
  ];
  const recent = new Date(now.getTime() - 2 * 24 * 3_600_000).toISOString().slice(0, 10);
  if (days.some((d) => d.day >= recent)) {
    notes.unshift(
      'Segment reports usage with a delay: counts for today and yesterday may still grow, so run verify again later before acting on a short day.',
    );
  }
  if (days.some((d) => d.segmentApiCalls === null)) notes.unshift('Segment has not reported usage for some days yet.');
  if (shortDays.length > 0) {
    notes.unshift(
      `Segment counted fewer API calls than segflow sent on ${shortDays.join(', ')}: events may be missing (or not counted yet); check the source's Debugger and the job's reject report.`,
    );
  }
  return notes;
}

export function formatVerifyReport(report: VerifyReport): string {
  const lines = [`job ${report.jobId} → source ${report.sourceName} (${report.source})`, ''];
  lines.push(
    formatTable(
      report.days.map((d) => [
        d.day,
        String(d.sent),
        d.segmentApiCalls === null ? 'not reported' : String(d.segmentApiCalls),
        dayMark(d, report.tolerance),
      ]),
      ['DAY (UTC)', 'SENT', 'SEGMENT API CALLS', ''],
    ).trimEnd(),
  );
  if (report.destinations.length > 0) {
    lines.push('');
    lines.push(
      formatTable(
        report.destinations.map((d) => [
          d.name,
          d.id,
          d.delivered === null ? '—' : String(d.delivered),
          d.failed === null ? '—' : String(d.failed),
          d.note ?? '',
        ]),
        ['DESTINATION', 'ID', 'DELIVERED', 'FAILED', ''],
      ).trimEnd(),
    );
  }
  lines.push('', `verdict: ${report.verdict} (tolerance ${(report.tolerance * 100).toFixed(1)}%)`, '', 'What these numbers cannot prove:');
  for (const caveat of report.caveats) lines.push(`- ${caveat}`);
  // Source and destination names come from the workspace.
  return terminalText(lines.join('\n')) + '\n';
}

function dayMark(day: DayComparison, tolerance: number): string {
  if (day.segmentApiCalls === null) return 'pending';
  return day.segmentApiCalls < Math.floor(day.sent * (1 - tolerance)) ? 'SHORT' : 'ok';
}

export function exitCodeForVerdict(verdict: Verdict): number {
  return verdict === 'consistent' ? EXIT.ok : EXIT.failed;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description("Compare what an import sent per day with Segment's API-call usage and destination delivery metrics")
    .argument('<jobId>')
    .option('--source-id <id>', "the Segment source id (default: found by the write key of the job's source)")
    .option(
      '--tolerance <fraction>',
      "how far below the sent count Segment's count may be (e.g. 0.01 or 1%)",
      parseFraction('--tolerance'),
      DEFAULT_VERIFY_TOLERANCE,
    )
    .addHelpText('after', '\nExit code 0 when every day is consistent within the tolerance, 1 when a day is short or not reported yet.')
    .addHelpText(
      'after',
      examples('segflow verify import-default-3f2a9c0d1e2b4a5c', 'segflow verify <id> --source-id src_123 --tolerance 0.5% --json'),
    )
    .action(
      action(async (jobId: string, opts: { sourceId?: string; tolerance: number }, command: Command) => {
        let api: PublicApiClient;
        try {
          api = new PublicApiClient({ baseUrl: publicApiRoot(process.env), token: resolveApiToken(process.env) });
        } catch (error) {
          if (error instanceof MissingSecretError)
            throw new UsageError("SEGMENT_API_TOKEN is not set in this shell; verify reads Segment's usage with it.");
          throw error;
        }
        const status: JobStatus = await withClient((sc) => getJobStatus(sc, jobId));
        let writeKey: string | undefined;
        if (!opts.sourceId) {
          try {
            writeKey = resolveWriteKey(String(status.source ?? 'default'), process.env);
          } catch (error) {
            if (!(error instanceof MissingSecretError)) throw error;
          }
        }
        let report: VerifyReport;
        try {
          report = await verifyJob({ status, api, sourceId: opts.sourceId, writeKey, tolerance: opts.tolerance });
        } catch (error) {
          if (error instanceof PublicApiError) throw new UsageError(`Segment's Public API refused: ${error.message}`);
          throw error;
        }
        if (globalOptions(command).json) printJson(report);
        else process.stdout.write(formatVerifyReport(report));
        return exitCodeForVerdict(report.verdict);
      }),
    );
}
