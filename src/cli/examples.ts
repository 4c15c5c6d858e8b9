/**
 * `--help` examples: every command declares its own where it is defined, through this one function, so they all
 * read alike (test/unit/cli-help.test.ts checks that every command has some).
 */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}`;
}
