/**
 * What the approver sees: the full plan (CLI, and the UI when it fits) and a complete summary (UI otherwise). Every
 * piece of text from a job file or the workspace goes through the one sanitiser (src/shared/safe-text.ts).
 */
import { canonicalJson, sha256Hex } from '../plan-hash';
import { markdownText, plainText } from '../../shared/safe-text';
import { formatLabel } from './compare';
import type { Impact, PlanChange, PlanItem, WorkspacePlan } from '../../contracts/workspace-job';

export function summarizePlan(plan: WorkspacePlan): string {
  const { summary } = plan;
  const parts = [
    summary.destructive ? `${summary.destructive} destructive` : undefined,
    summary.writes ? `${summary.writes} write${summary.writes > 1 ? 's' : ''}` : undefined,
    summary.reads ? `${summary.reads} read${summary.reads > 1 ? 's' : ''}` : undefined,
  ].filter(Boolean);
  const head = parts.length ? parts.join(', ') : 'nothing to do';
  const tail = [
    `${summary.targets} source${summary.targets === 1 ? '' : 's'}`,
    summary.unchanged ? `${summary.unchanged} unchanged` : undefined,
    plan.refusals.length ? `${plan.refusals.length} refused by guard rails` : undefined,
  ].filter(Boolean);
  return `${head} on ${tail.join('; ')}`;
}

/** Upper bound of the UI summary; the planner refuses a plan whose summary is longer (planner.ts, buildWorkspacePlan). */
export const MAX_SUMMARY_CHARS = 12_000;
/** The full markdown table is shown in the UI up to this size, else the complete summary is. */
export const MAX_FULL_MARKDOWN_CHARS = 15_000;
/** Messages of a `send` item shown in the UI next to their digest; the CLI shows them all. */
const SEND_PREVIEW_MESSAGES = 3;

const md = (value: unknown, max?: number): string => markdownText(value === null || value === undefined ? '—' : value, max);

function showValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((entry) => (typeof entry === 'string' ? entry : JSON.stringify(entry))).join(', ')}]`;
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function describeChange(change: PlanChange): string {
  if (change.from === null && change.to !== null) return `${change.field}: + ${showValue(change.to)}`;
  if (change.to === null) return `${change.field}: − ${showValue(change.from)}`;
  return `${change.field}: ${showValue(change.from)} → ${showValue(change.to)}`;
}

/** What an item does, as unsanitised text (callers sanitise for their medium). */
export function describeItem(item: PlanItem): string {
  if (item.unchanged) return 'already as asked: nothing to do';
  const parts = item.changes.map(describeChange);
  if (item.op === 'send') parts.push(`${item.messages.length} message(s), digest ${sendDigest(item)}`);
  if (item.op === 'delete-source') parts.push(`approved while ${item.approved.enabled ? 'enabled' : 'disabled'}`);
  return parts.length ? parts.join('; ') : 'read';
}

/** sha256 (12 hex) of a send item's messages: two approvers comparing digests know they saw the same messages. */
export function sendDigest(item: Extract<PlanItem, { op: 'send' }>): string {
  return sha256Hex(canonicalJson(item.messages)).slice(0, 12);
}

const forceNote = (item: PlanItem) => (item.forced?.length ? `FORCE lifts ${item.forced.join(', ')}` : '');
const impactText = (item: PlanItem) => (item.unchanged ? 'none' : item.impact === 'destructive' ? 'DESTRUCTIVE' : item.impact);
const targetText = (item: PlanItem) =>
  item.target.kind === 'source' && item.target.name ? `${item.target.id} (${item.target.name})` : item.target.id;

function stepCounts(
  plan: WorkspacePlan,
): Array<{ step: number; name: string; op: string; counts: Record<Impact | 'unchanged', number>; forced: string[] }> {
  const rows = new Map<number, { step: number; name: string; op: string; counts: Record<Impact | 'unchanged', number>; forced: Set<string> }>();
  for (const item of plan.items) {
    const row = rows.get(item.step) ?? {
      step: item.step,
      name: item.stepName,
      op: item.op,
      counts: { read: 0, write: 0, destructive: 0, unchanged: 0 },
      forced: new Set<string>(),
    };
    row.counts[item.unchanged ? 'unchanged' : item.impact] += 1;
    item.forced?.forEach((rule) => row.forced.add(rule));
    rows.set(item.step, row);
  }
  return [...rows.values()].sort((a, b) => a.step - b.step).map((row) => ({ ...row, forced: [...row.forced] }));
}

function sendPreviewLines(item: Extract<PlanItem, { op: 'send' }>, shown: number, render: (text: string) => string): string[] {
  const lines = item.messages.slice(0, shown).map((message, index) => `  ${index + 1}. ${render(JSON.stringify(message))}`);
  if (item.messages.length > shown)
    lines.push(`  … ${item.messages.length - shown} more (digest ${sendDigest(item)}; \`segflow approve\` shows every message)`);
  return lines;
}

function refusalAndWarningLines(plan: WorkspacePlan): string[] {
  const lines: string[] = [];
  if (plan.refusals.length) {
    lines.push('', '**Refused by guard rails (nothing will run):**');
    for (const refusal of plan.refusals)
      lines.push(`- step ${refusal.step} (${md(refusal.stepName, 200)}), ${refusal.rule}: ${md(refusal.message, 500)}`);
  }
  if (plan.warnings.length) lines.push('', '**Warnings:**', ...plan.warnings.map((warning) => `- ${md(warning, 500)}`));
  return lines;
}

/** The whole plan as markdown: a row per item, every send's first messages, the targets as the preview saw them. */
export function renderPlanMarkdown(plan: WorkspacePlan, hash: string): string {
  const lines: string[] = [];
  lines.push(`### Plan ${hash}${plan.jobName ? ` — ${md(plan.jobName)}` : ''}`);
  lines.push('', md(summarizePlan(plan)), '');
  lines.push('| item | step | target | impact | change |', '|---|---|---|---|---|');
  for (const item of plan.items) {
    const impact = item.unchanged ? 'none' : item.impact === 'destructive' ? '**DESTRUCTIVE**' : item.impact;
    const force = item.forced?.length ? ` **${md(forceNote(item))}**` : '';
    lines.push(`| ${md(item.id)} | ${item.step}\\. ${md(item.stepName)} | ${md(targetText(item))} | ${impact}${force} | ${md(describeItem(item))} |`);
  }
  for (const item of plan.items) {
    if (item.op !== 'send' || item.unchanged) continue;
    lines.push(
      '',
      `Messages of ${md(item.id)} (digest ${sendDigest(item)}):`,
      ...sendPreviewLines(item, SEND_PREVIEW_MESSAGES, (text) => md(text, 300)),
    );
  }
  lines.push(...refusalAndWarningLines(plan));
  if (plan.highImpact.length) {
    lines.push('', '**High impact: the approval must list every one of these ids:** ' + plan.highImpact.map((id) => md(id)).join(' '));
  }
  if (plan.targets.length) {
    lines.push(
      '',
      'Sources as seen by the preview:',
      '',
      '| source | name | slug | enabled | labels | write keys | destinations | warehouses | API calls this month |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const t of plan.targets) {
      const apiCalls = t.apiCalls ? `${t.apiCalls.total}${t.apiCalls.lastDay ? ` (last day ${t.apiCalls.lastDay})` : ''}` : 'n/a';
      lines.push(
        `| ${md(t.id)} | ${md(t.name)} | ${md(t.slug)} | ${t.enabled ? 'yes' : 'no'} | ${md(t.labels.map(formatLabel).join(', ') || '—')} | ${t.writeKeyFingerprints.length} (${md(t.writeKeyFingerprints.join(', ') || '—')}) | ${md(t.destinations.map((d) => d.name ?? d.id).join(', ') || '—')} | ${md(t.warehouses.map((w) => w.name ?? w.id).join(', ') || '—')} | ${md(apiCalls)} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * A complete summary that fits the UI whatever the plan's size: the hash, counts per step and impact (with the
 * guard rails `force` lifts), every destructive item, refusals and warnings. Long names are cut with a marker;
 * nothing else is left out (the planner refuses plans whose summary would not fit, MAX_SUMMARY_CHARS).
 */
export function renderPlanSummaryMarkdown(plan: WorkspacePlan, hash: string): string {
  const lines: string[] = [];
  lines.push(`### Plan ${hash}${plan.jobName ? ` — ${md(plan.jobName, 100)}` : ''}`);
  lines.push(
    '',
    md(summarizePlan(plan)),
    '',
    '| step | op | reads | writes | destructive | unchanged | force |',
    '|---|---|---:|---:|---:|---:|---|',
  );
  for (const row of stepCounts(plan)) {
    lines.push(
      `| ${row.step}\\. ${md(row.name, 60)} | ${row.op} | ${row.counts.read} | ${row.counts.write} | ${row.counts.destructive} | ${row.counts.unchanged} | ${row.forced.length ? `**lifts ${row.forced.join(', ')}**` : ''} |`,
    );
  }
  const destructive = plan.items.filter((item) => item.impact === 'destructive' && !item.unchanged);
  if (destructive.length) {
    lines.push('', `**Every destructive item (${destructive.length}); the approval must list each id:**`);
    for (const item of destructive)
      lines.push(
        `- ${md(item.id)}: ${md(targetText(item), 120)}, ${md(describeItem(item), 300)}${item.forced?.length ? ` **${forceNote(item)}**` : ''}`,
      );
  }
  const sends = plan.items.filter((item): item is Extract<PlanItem, { op: 'send' }> => item.op === 'send' && !item.unchanged);
  for (const item of sends)
    lines.push(
      '',
      `Send ${md(item.id)}: ${item.messages.length} message(s), digest ${sendDigest(item)}`,
      ...sendPreviewLines(item, 1, (text) => md(text, 200)),
    );
  lines.push(...refusalAndWarningLines(plan));
  return lines.join('\n');
}

/** What the UI shows while the plan awaits approval: the whole plan when it fits, else the complete summary. */
export function renderApprovalMarkdown(plan: WorkspacePlan, hash: string): string {
  const full = renderPlanMarkdown(plan, hash);
  if (full.length <= MAX_FULL_MARKDOWN_CHARS) return full;
  return `${renderPlanSummaryMarkdown(plan, hash)}\n\nThe full plan (${plan.items.length} items) is longer than this view allows: \`segflow approve <job id>\` shows every item before asking.`;
}

/** The whole plan for a terminal, from the structured plan: nothing cut, every message of every send. */
export function renderPlanText(plan: WorkspacePlan, hash: string): string {
  const t = (value: unknown, max?: number) => plainText(value === null || value === undefined ? '—' : value, max ?? 100_000);
  const lines: string[] = [];
  lines.push(`Plan ${hash}${plan.jobName ? ` — ${t(plan.jobName)}` : ''}`, `Job ${t(plan.jobId)}, run ${t(plan.runId)}`, t(summarizePlan(plan)), '');
  for (const item of plan.items) {
    lines.push(`[${item.step}. ${t(item.stepName)}] ${t(item.id)}`);
    lines.push(`    target: ${t(targetText(item))}`);
    lines.push(`    impact: ${impactText(item)}${item.forced?.length ? `   ${forceNote(item)}` : ''}`);
    lines.push(`    change: ${t(describeItem(item))}`);
    if (item.op === 'send' && !item.unchanged)
      item.messages.forEach((message, index) => lines.push(`    message ${index + 1}: ${t(JSON.stringify(message))}`));
  }
  if (plan.refusals.length) {
    lines.push('', 'Refused by guard rails (nothing will run):');
    for (const refusal of plan.refusals) lines.push(`  - step ${refusal.step} (${t(refusal.stepName)}), ${refusal.rule}: ${t(refusal.message)}`);
  }
  if (plan.warnings.length) lines.push('', 'Warnings:', ...plan.warnings.map((warning) => `  - ${t(warning)}`));
  if (plan.highImpact.length) lines.push('', `High impact (confirm each id): ${plan.highImpact.map((id) => t(id)).join(' ')}`);
  if (plan.targets.length) {
    lines.push('', 'Sources as seen by the preview:');
    for (const s of plan.targets) {
      lines.push(
        `  ${t(s.id)}  name ${t(s.name)}  slug ${t(s.slug)}  ${s.enabled ? 'enabled' : 'disabled'}  labels ${t(s.labels.map(formatLabel).join(', ') || '—')}` +
          `  write keys ${s.writeKeyFingerprints.length} (${t(s.writeKeyFingerprints.join(', ') || '—')})` +
          `  destinations ${t(s.destinations.map((d) => `${d.id}${d.name ? ` ${d.name}` : ''}`).join(', ') || '—')}` +
          `  warehouses ${t(s.warehouses.map((w) => `${w.id}${w.name ? ` ${w.name}` : ''}`).join(', ') || '—')}`,
      );
    }
  }
  return lines.join('\n');
}
