/** Every segflow command explains itself with examples in --help. */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli';

function leaves(command: Command, prefix: string[] = []): Array<{ name: string; command: Command }> {
  return command.commands.flatMap((sub) => {
    const path = [...prefix, sub.name()];
    return sub.commands.length ? leaves(sub, path) : [{ name: path.join(' '), command: sub }];
  });
}

describe('segflow --help', () => {
  const commands = leaves(buildProgram());

  it('covers the commands the README lists', () => {
    const names = commands.map((c) => c.name);
    for (const name of [
      'import',
      'status',
      'watch',
      'list',
      'pause',
      'resume',
      'cancel',
      'worker',
      'dev',
      'approve',
      'reject',
      'job run',
      'source list',
      'send track',
    ]) {
      expect(names).toContain(name);
    }
  });

  it.each(commands.map((c) => [c.name, c.command] as const))('%s has examples', (_name, command) => {
    let text = '';
    command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    command.outputHelp();
    expect(text).toMatch(/Examples:\n {2}.*segflow /);
  });
});
