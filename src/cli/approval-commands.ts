/**
 * `segflow approver keygen` and `segflow audit`, and the signing used by `approve`/`reject --key`
 * (README "Approvals"; the model is in core/approvers.ts). The audit itself, read from the job's history, is
 * src/client/approval-audit.ts; here it is printed.
 */
import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { auditJob, resolveJob, UsageError, withClient, type AuditReport } from '../client';
import { APPROVER_NAME_PATTERN, ApproversConfigError, generateApproverKeys, loadPrivateKey, signStatement } from '../core/approvers';
import type { ApprovalStatement, SignedDecision } from '../contracts/approval';
import { plainText, terminalText } from '../shared/safe-text';
import { action, EXIT, printJson } from './common';
import { examples } from './examples';

/** Signs a decision with the key in `keyFile`; the approver's name is `name`, else the file's base name. */
export async function signDecision(
  keyFile: string,
  fields: Omit<ApprovalStatement, 'v' | 'approver' | 'at'> & { at?: string },
  name?: string,
): Promise<SignedDecision> {
  let pem: string;
  try {
    pem = await readFile(keyFile, 'utf8');
  } catch {
    throw new UsageError(`Cannot read the key file ${keyFile}.`);
  }
  const approver = name ?? basename(keyFile, extname(keyFile));
  if (!APPROVER_NAME_PATTERN.test(approver)) throw new UsageError(`"${plainText(approver, 64)}" is not an approver name; pass --approver <name>.`);
  let key;
  try {
    key = loadPrivateKey(pem, keyFile);
  } catch (error) {
    if (error instanceof ApproversConfigError) throw new UsageError(error.message);
    throw error;
  }
  const statement: ApprovalStatement = {
    v: 1,
    jobId: fields.jobId,
    runId: fields.runId,
    planHash: fields.planHash,
    decision: fields.decision,
    confirmHighImpact: [...fields.confirmHighImpact].sort(),
    ...(fields.comment ? { comment: fields.comment } : {}),
    ...(fields.reason ? { reason: fields.reason } : {}),
    at: fields.at ?? new Date().toISOString(),
    approver,
  };
  return { statement, signature: signStatement(statement, key).signature };
}

export function formatAudit(report: AuditReport): string {
  const t = (value: unknown) => plainText(value ?? '—');
  const lines = [`Audit of ${t(report.jobId)} (${report.runs.length} run${report.runs.length === 1 ? '' : 's'})`, ''];
  lines.push(report.plan ? terminalText(report.plan) : 'No plan found in the history.', '');
  lines.push('Decision attempts (from history):');
  if (!report.attempts.length) lines.push('  none');
  for (const a of report.attempts) {
    lines.push(
      `  ${t(a.at)}  ${a.kind} by ${t(a.by)} via ${a.via}, plan ${t(a.planHash?.slice(0, 12))}${a.signed ? ', signed' : ', unsigned'}` +
        (a.workerVerdict ? `\n      worker: ${t(a.workerVerdict)}` : '') +
        (a.verification ? `\n      audit:  ${t(a.verification)}` : ''),
    );
  }
  lines.push('');
  const d = report.decision;
  if (!d) lines.push('Outcome: no decision recorded yet.');
  else if (d.outcome === 'expired') lines.push(`Outcome: expired at ${t(d.at)}`);
  else {
    lines.push(
      `Outcome: ${d.outcome} by ${t(d.by)} at ${t(d.at)} (plan ${t(d.planHash)})${d.outcome === 'rejected' ? `: ${t(d.reason)}` : d.comment ? `: ${t(d.comment)}` : ''}`,
    );
    if (!report.proofs.length)
      lines.push(
        report.keysFrom === 'none'
          ? '  unsigned: no approvers were configured, so this name is what the caller typed (README "Approvals").'
          : '  unsigned: no signed statement bound to this run backs this decision.',
      );
    for (const p of report.proofs)
      lines.push(`  ${p.verified ? 'OK ' : 'BAD'} ${t(p.approver)} key ${t(p.fingerprint)} signed at ${t(p.at)}: ${t(p.how)}`);
    if (report.quorum) lines.push(`  quorum: ${report.quorum.verifiedKeys} of ${report.quorum.needed} distinct keys verified`);
  }
  lines.push('', `Keys used: ${report.keysFrom}.`);
  if (report.problem) lines.push('', `AUDIT FAILED: ${t(report.problem)}`);
  return terminalText(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

export function registerApprovalCommands(program: Command): void {
  const approver = program.command('approver').description('Keys of the people allowed to approve (signed approvals)');
  approver
    .command('keygen')
    .description('Make an Ed25519 key pair: the private key into <name>.pem (keep it), the public key printed for SEGFLOW_APPROVERS')
    .requiredOption('--name <name>', "the approver's name, as approvals will show it")
    .option('--out <dir>', 'where to write <name>.pem', '.')
    .addHelpText('after', examples('segflow approver keygen --name alice', 'segflow approver keygen --name bob --out ~/.segflow'))
    .action(
      action(async (opts: { name: string; out: string }, command: Command) => {
        if (!APPROVER_NAME_PATTERN.test(opts.name)) throw new UsageError('--name is letters, digits, ".", "_", "-" or "@" (at most 64).');
        const keys = generateApproverKeys();
        const file = join(opts.out, `${opts.name}.pem`);
        try {
          await writeFile(file, keys.privateKeyPem, { mode: 0o600, flag: 'wx' });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} exists; not overwriting a key.`);
          throw new UsageError(`Cannot write ${file}: ${(error as Error).message}`);
        }
        const line = `${opts.name}: ${keys.publicKey}`;
        if (command.optsWithGlobals().json)
          printJson({ name: opts.name, privateKeyFile: file, publicKey: keys.publicKey, fingerprint: keys.fingerprint, approversLine: line });
        else
          process.stdout.write(
            `Private key: ${file} (keep it secret; approve with --key ${file})\nKey ${keys.fingerprint}. Add this line to the workers' SEGFLOW_APPROVERS:\n${line}\n`,
          );
        return EXIT.ok;
      }),
    );

  program
    .command('audit')
    .description("Who approved or rejected a job's plan, when and with which key: read from history, signatures re-verified")
    .argument('<jobId>')
    .addHelpText(
      'after',
      examples('segflow audit workspace-cleanup-20240501-101500-ab12', 'SEGFLOW_APPROVERS=approvers.txt segflow audit <id> --json'),
    )
    .action(
      action(async (jobId: string, _opts: unknown, command: Command) =>
        withClient(async (sc) => {
          let report: AuditReport;
          try {
            report = await auditJob(sc, await resolveJob(sc, jobId));
          } catch (error) {
            if (error instanceof ApproversConfigError) throw new UsageError(error.message);
            throw error;
          }
          if (command.optsWithGlobals().json) printJson(report);
          else process.stdout.write(`${formatAudit(report)}\n`);
          // A decision whose signatures do not verify, are not bound to this run, or fall short of the quorum is
          // what an audit exists to catch (judgeAudit in src/client/approval-audit.ts says which).
          return report.problem ? EXIT.failed : EXIT.ok;
        }),
      ),
    );
}
