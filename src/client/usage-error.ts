/** A user mistake with a one-sentence fix; the CLI prints it without a stack trace (src/cli/common.ts). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
