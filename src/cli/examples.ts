/**
 * `--help` examples for the commands that do not declare their own, in one table so every command has some
 * (a test walks the whole command tree).
 */
import type { Command } from 'commander';

const EXAMPLES: Record<string, string[]> = {
  'source list': ['segflow source list', 'segflow source list --label env:prod --json', "segflow source list --name 'web-*'"],
  'source get': ['segflow source get src_1', 'segflow source get src_1 --json'],
  'source warehouses': ['segflow source warehouses src_1'],
  'source destinations': ['segflow source destinations src_1'],
  'source schema-settings': ['segflow source schema-settings src_1 --json'],
  'source add-labels': ['segflow source add-labels src_1 env:prod team:growth --wait'],
  'source update': ['segflow source update src_1 --disable --wait', "segflow source update src_1 --name 'Web (legacy)'"],
  'source create-write-key': ['segflow source create-write-key src_1 --wait'],
  'source remove-write-key': ['segflow source get src_1            # shows key fingerprints', 'segflow source remove-write-key src_1 ab12cd34ef56 --wait'],
  'source delete': ['segflow source delete src_1           # preview, then approve by typing the id'],
  'destination get': ['segflow destination get dst_1'],
  'destination metrics': ['segflow destination metrics dst_1 --source src_1 --granularity HOUR'],
  'usage api-calls': ['segflow usage api-calls --period 2024-05-01', 'segflow usage api-calls --period 2024-05-01 --source src_1 --json'],
  'send track': ["segflow send track --user-id u1 --event 'Signed Up' --properties '{\"plan\":\"pro\"}'"],
  'send identify': ["segflow send identify --user-id u1 --traits '{\"email\":\"a@example.com\"}'"],
  'send page': ['segflow send page --anonymous-id a1 --name Pricing'],
  'send screen': ['segflow send screen --user-id u1 --name Settings'],
  'send group': ['segflow send group --user-id u1 --group-id org_9'],
  'send alias': ['segflow send alias --user-id u1 --previous-id anon-7'],
  'send batch': ['segflow send batch messages.ndjson', 'cat messages.ndjson | segflow send batch -'],
  'job status': ['segflow job status workspace-cleanup-20240501-101500-ab12 --json'],
  reject: ["segflow reject <job id> --reason 'wrong sources'"],
};

function path(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function addMissingExamples(program: Command): void {
  const visit = (command: Command) => {
    const examples = EXAMPLES[path(command)];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
    command.commands.forEach(visit);
  };
  program.commands.forEach(visit);
}
