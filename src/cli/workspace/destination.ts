/**
 * `segflow destination get|metrics`: read-only, from the Public API with this shell's token. A destination's
 * settings are never shown: they hold third-party credentials.
 */
import { Command, Option } from 'commander';
import { destinationView } from '../../activities/workspace-activities';
import type { Granularity } from '../../segment/public-api-shapes';
import { formatTable, isJson, printJson } from '../common';
import { examples } from '../examples';
import { out, yesNo } from '../terminal';
import { apiAction, publicApi } from './public-api';

export function registerDestinationCommands(program: Command): void {
  const destination = program.command('destination').description('Destinations of the Segment workspace (Public API, read-only)');

  destination
    .command('get')
    .description('Show one destination (settings are not shown: they hold third-party credentials)')
    .argument('<destinationId>')
    .addHelpText('after', examples('segflow destination get dst_1'))
    .action(
      apiAction(async (destinationId: string, _opts: unknown, command: Command) => {
        const view = destinationView(await publicApi().getDestination(destinationId));
        if (isJson(command)) return printJson(view);
        out(
          [
            `id:       ${view.id}`,
            `name:     ${view.name ?? ''}`,
            `type:     ${view.type} (${view.metadataId})`,
            `enabled:  ${yesNo(view.enabled)}`,
            `sourceId: ${view.sourceId}`,
          ].join('\n'),
        );
      }),
    );

  destination
    .command('metrics')
    .description('Delivery metrics summary of a destination for one source (windows: MINUTE ≤ 4 h within 48 h, HOUR ≤ 7 d, DAY ≤ 14 d)')
    .argument('<destinationId>')
    .requiredOption('--source <sourceId>', 'the source whose deliveries to count (required by Segment)')
    .option('--start <iso>', 'window start (ISO-8601)')
    .option('--end <iso>', 'window end (ISO-8601, default now)')
    .addOption(new Option('--granularity <g>', 'bucket size').choices(['MINUTE', 'HOUR', 'DAY']))
    .addHelpText('after', examples('segflow destination metrics dst_1 --source src_1 --granularity HOUR'))
    .action(
      apiAction(
        async (destinationId: string, opts: { source: string; start?: string; end?: string; granularity?: Granularity }, command: Command) => {
          const summary = await publicApi().getDeliveryMetrics(destinationId, {
            sourceId: opts.source,
            startTime: opts.start,
            endTime: opts.end,
            granularity: opts.granularity,
          });
          if (isJson(command)) return printJson(summary);
          out(
            summary.metrics.length
              ? formatTable(
                  summary.metrics.map((m) => [m.metricName, String(m.total)]),
                  ['METRIC', 'TOTAL'],
                )
              : 'No metrics in this window.',
          );
        },
      ),
    );
}
