/**
 * `segflow usage api-calls`: the workspace's daily API calls, read-only from the Public API.
 */
import { Command } from 'commander';
import { UsageError } from '../../client';
import { formatTable, isJson, printJson } from '../common';
import { examples } from '../examples';
import { out } from '../terminal';
import { apiAction, publicApi } from './public-api';

export function registerUsageCommands(program: Command): void {
  const usage = program.command('usage').description('Workspace usage (Public API, read-only)');
  usage
    .command('api-calls')
    .description('Daily API calls per source (cumulative within the usage month, as Segment reports them)')
    .requiredOption('--period <yyyy-mm-01>', 'the usage month, as its first day')
    .option('--source <sourceId>', 'only this source')
    .option('--workspace', 'whole-workspace totals instead of per source')
    .addHelpText(
      'after',
      examples('segflow usage api-calls --period 2024-05-01', 'segflow usage api-calls --period 2024-05-01 --source src_1 --json'),
    )
    .action(
      apiAction(async (opts: { period: string; source?: string; workspace?: boolean }, command: Command) => {
        if (!/^\d{4}-(0[1-9]|1[0-2])-01$/.test(opts.period))
          throw new UsageError(`--period is the first day of a month, e.g. 2024-05-01; got "${opts.period}".`);
        const api = publicApi();
        if (opts.workspace) {
          const entries = await api.getDailyWorkspaceApiCalls(opts.period);
          if (isJson(command)) return printJson(entries);
          return void out(
            formatTable(
              entries.map((e) => [e.timestamp.slice(0, 10), e.apiCalls]),
              ['DAY', 'API CALLS (CUMULATIVE)'],
            ),
          );
        }
        const entries = (await api.getDailySourceApiCalls(opts.period)).filter((e) => !opts.source || e.sourceId === opts.source);
        if (isJson(command)) return printJson(entries);
        out(
          entries.length
            ? formatTable(
                entries.map((e) => [e.timestamp.slice(0, 10), e.sourceId, e.apiCalls]),
                ['DAY', 'SOURCE', 'API CALLS (CUMULATIVE)'],
              )
            : 'No usage in this period.',
        );
      }),
    );
}
