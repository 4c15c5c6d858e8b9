/**
 * `segflow source ...`: reads call the Public API from this shell (human tables, or --json); write keys are shown
 * as fingerprints unless --reveal-write-keys. Writes never go directly: each is a one-step workspace job with the
 * same preview, guard rails and approval as a job file (./job-flow.ts).
 */
import { Command } from 'commander';
import { UsageError } from '../../client';
import { destinationView, sourceView, warehouseView } from '../../activities/workspace-activities';
import { globMatches, MAX_GLOB_CHARS } from '../../core/glob';
import { action, formatTable, isJson, printJson } from '../common';
import { examples } from '../examples';
import { out, yesNo } from '../terminal';
import { parseLabelArg, parseSettingArg } from './args';
import { addJobFlowOptions, runOneStepJob, type JobFlowOptions } from './job-flow';
import { apiAction, publicApi } from './public-api';

export function registerSourceCommands(program: Command): void {
  const source = program.command('source').description('Sources of the Segment workspace (Public API; writes run as approved jobs)');

  source
    .command('list')
    .description('List every source (follows pagination to the end)')
    .option('--label <key:value...>', 'only sources carrying all these labels')
    .option('--name <glob>', 'only sources whose name or slug matches (e.g. "web-*")')
    .addHelpText('after', examples('segflow source list', 'segflow source list --label env:prod --json', "segflow source list --name 'web-*'"))
    .action(
      apiAction(async (opts: { label?: string[]; name?: string }, command: Command) => {
        const wanted = (opts.label ?? []).map(parseLabelArg);
        const glob = opts.name;
        if (glob !== undefined && glob.length > MAX_GLOB_CHARS) throw new UsageError(`--name is a pattern of at most ${MAX_GLOB_CHARS} characters.`);
        const sources = (await publicApi().listSources())
          .filter((s) => wanted.every((w) => s.labels.some((l) => l.key === w.key && l.value === w.value)))
          .filter((s) => glob === undefined || globMatches(glob, s.name ?? '') || globMatches(glob, s.slug))
          .map(sourceView);
        if (isJson(command)) printJson(sources);
        else
          out(
            formatTable(
              sources.map((s) => [s.id, s.name ?? '', s.slug, yesNo(s.enabled), s.labels.join(', '), String(s.writeKeyCount), s.type]),
              ['ID', 'NAME', 'SLUG', 'ENABLED', 'LABELS', 'KEYS', 'TYPE'],
            ),
          );
      }),
    );

  source
    .command('get')
    .description('Show one source; write keys as fingerprints (what job files use to name them)')
    .argument('<sourceId>')
    .option('--reveal-write-keys', 'print the write keys themselves (to deploy a rotated key); never paste them into job files')
    .addHelpText('after', examples('segflow source get src_1', 'segflow source get src_1 --json'))
    .action(
      apiAction(async (sourceId: string, opts: { revealWriteKeys?: boolean }, command: Command) => {
        const { source: raw, trackingPlanId } = await publicApi().getSource(sourceId);
        const view = { ...sourceView(raw), trackingPlanId, ...(opts.revealWriteKeys ? { writeKeys: raw.writeKeys } : {}) };
        if (isJson(command)) return printJson(view);
        const keys = view.writeKeyFingerprints.map((fp, index) => `#${index} ${fp}${opts.revealWriteKeys ? `  ${raw.writeKeys[index]}` : ''}`);
        out(
          [
            `id:        ${view.id}`,
            `name:      ${view.name ?? ''}`,
            `slug:      ${view.slug}`,
            `type:      ${view.type}`,
            `enabled:   ${yesNo(view.enabled)}`,
            `labels:    ${view.labels.join(', ') || '—'}`,
            `plan:      ${trackingPlanId ?? '—'}`,
            `writeKeys: ${keys.length ? keys.join('\n           ') : '— (none visible: the token may lack source-admin permission)'}`,
          ].join('\n'),
        );
      }),
    );

  source
    .command('warehouses')
    .description('Warehouses connected to a source')
    .argument('<sourceId>')
    .addHelpText('after', examples('segflow source warehouses src_1'))
    .action(
      apiAction(async (sourceId: string, _opts: unknown, command: Command) => {
        const warehouses = (await publicApi().listConnectedWarehouses(sourceId)).map(warehouseView);
        if (isJson(command)) printJson(warehouses);
        else
          out(
            warehouses.length
              ? formatTable(
                  warehouses.map((w) => [w.id, w.name ?? '', w.type, yesNo(w.enabled)]),
                  ['ID', 'NAME', 'TYPE', 'ENABLED'],
                )
              : 'No connected warehouses.',
          );
      }),
    );

  source
    .command('destinations')
    .description('Destinations connected to a source')
    .argument('<sourceId>')
    .addHelpText('after', examples('segflow source destinations src_1'))
    .action(
      apiAction(async (sourceId: string, _opts: unknown, command: Command) => {
        const destinations = (await publicApi().listConnectedDestinations(sourceId)).map(destinationView);
        if (isJson(command)) printJson(destinations);
        else
          out(
            destinations.length
              ? formatTable(
                  destinations.map((d) => [d.id, d.name ?? '', d.type, yesNo(d.enabled)]),
                  ['ID', 'NAME', 'TYPE', 'ENABLED'],
                )
              : 'No connected destinations.',
          );
      }),
    );

  source
    .command('schema-settings')
    .description('Protocols schema settings of a source')
    .argument('<sourceId>')
    .addHelpText('after', examples('segflow source schema-settings src_1 --json'))
    .action(
      apiAction(async (sourceId: string, _opts: unknown, command: Command) => {
        const { settings } = await publicApi().getSchemaSettings(sourceId);
        if (isJson(command)) return printJson(settings);
        const rows: string[][] = [];
        for (const [group, value] of Object.entries(settings)) {
          if (value !== null && typeof value === 'object') for (const [key, v] of Object.entries(value)) rows.push([group, key, String(v)]);
          else rows.push([group, '', String(value)]);
        }
        out(formatTable(rows, ['CALL', 'SETTING', 'VALUE']));
      }),
    );

  addJobFlowOptions(
    source
      .command('add-labels')
      .description('Add labels to a source (as an approved one-step job)')
      .argument('<sourceId>')
      .argument('<labels...>', 'key:value labels')
      .option('--create-missing', 'create labels the workspace does not have yet'),
  )
    .addHelpText('after', examples('segflow source add-labels src_1 env:prod team:growth --wait'))
    .action(
      action(async (sourceId: string, labels: string[], opts: JobFlowOptions & { createMissing?: boolean }, command: Command) =>
        runOneStepJob(
          { op: 'add-labels', targets: [sourceId], labels: labels.map(parseLabelArg), createMissingLabels: Boolean(opts.createMissing) },
          opts,
          command,
        ),
      ),
    );

  addJobFlowOptions(
    source
      .command('update')
      .description('Change name, enabled, slug or settings of a source (as an approved one-step job)')
      .argument('<sourceId>')
      .option('--name <name>')
      .option('--enable', 'enable the source')
      .option('--disable', 'disable the source (it stops receiving data)')
      .option('--slug <slug>')
      .option('--setting <key=value...>', 'settings to change (value parsed as JSON when possible), merged into the current ones'),
  )
    .addHelpText('after', examples('segflow source update src_1 --disable --wait', "segflow source update src_1 --name 'Web (legacy)'"))
    .action(
      action(
        async (
          sourceId: string,
          opts: JobFlowOptions & { name?: string; enable?: boolean; disable?: boolean; slug?: string; setting?: string[] },
          command: Command,
        ) => {
          if (opts.enable && opts.disable) throw new UsageError('Use either --enable or --disable.');
          const set: Record<string, unknown> = {};
          if (opts.name !== undefined) set.name = opts.name;
          if (opts.enable) set.enabled = true;
          if (opts.disable) set.enabled = false;
          if (opts.slug !== undefined) set.slug = opts.slug;
          if (opts.setting?.length) set.settings = Object.fromEntries(opts.setting.map(parseSettingArg));
          if (Object.keys(set).length === 0) throw new UsageError('Nothing to change: pass --name, --enable/--disable, --slug or --setting.');
          return runOneStepJob({ op: 'update-source', targets: [sourceId], set }, opts, command);
        },
      ),
    );

  addJobFlowOptions(
    source
      .command('create-write-key')
      .description('Create a new write key for a source, e.g. to rotate keys (as an approved one-step job)')
      .argument('<sourceId>'),
  )
    .addHelpText('after', examples('segflow source create-write-key src_1 --wait'))
    .action(
      action(async (sourceId: string, opts: JobFlowOptions, command: Command) =>
        runOneStepJob({ op: 'create-write-key', targets: [sourceId] }, opts, command),
      ),
    );

  addJobFlowOptions(
    source
      .command('remove-write-key')
      .description('Remove a write key, named by fingerprint or #index from `source get` (destructive; approved one-step job)')
      .argument('<sourceId>')
      .argument('<key>', 'fingerprint (or a prefix of 8+ characters) or #index')
      .option('--force', 'allow removing the last write key of an enabled source'),
  )
    .addHelpText(
      'after',
      examples('segflow source get src_1            # shows key fingerprints', 'segflow source remove-write-key src_1 ab12cd34ef56 --wait'),
    )
    .action(
      action(async (sourceId: string, key: string, opts: JobFlowOptions & { force?: boolean }, command: Command) => {
        const writeKey = /^#\d+$/.test(key) ? { index: Number(key.slice(1)) } : { fingerprint: key.toLowerCase() };
        return runOneStepJob({ op: 'remove-write-key', targets: [sourceId], writeKey, force: Boolean(opts.force) }, opts, command);
      }),
    );

  addJobFlowOptions(
    source
      .command('delete')
      .description('Delete a source (destructive, irreversible; approved one-step job)')
      .argument('<sourceId>')
      .option('--force', 'allow deleting a source that is enabled or still connected to destinations/warehouses'),
  )
    .addHelpText('after', examples('segflow source delete src_1           # preview, then approve by typing the id'))
    .action(
      action(async (sourceId: string, opts: JobFlowOptions & { force?: boolean }, command: Command) =>
        runOneStepJob({ op: 'delete-source', targets: [sourceId], force: Boolean(opts.force) }, opts, command),
      ),
    );
}
