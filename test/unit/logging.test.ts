/** Worker log lines: JSON or text, and scrubbed of secrets, URL credentials and row data in either. */
import { describe, expect, it } from 'vitest';
import { createWorkerLogger, logFormat, logScrubber, renderLogLine } from '../../src/ops/logging';

const env = {
  SEGMENT_WRITE_KEY: 'wk-live-abcdef123456',
  SEGMENT_WRITE_KEY_WEB: 'wk-web-99887766',
  SEGMENT_API_TOKEN: 'sgp_token_0011223344',
  SEGFLOW_LOG_FORMAT: 'json',
};
const entry = (message: string, meta?: Record<string, unknown>) => ({
  level: 'WARN' as const,
  message,
  meta,
  timestampNanos: 1_700_000_000_000_000_000n,
});

describe('worker logs', () => {
  it('write one JSON object per line with the attributes', () => {
    const line = renderLogLine(entry('chunk failed', { jobId: 'job-1', chunk: 3, attempt: 2, workflowRunId: 'r-1' }), 'json', logScrubber(env));
    expect(JSON.parse(line)).toEqual({
      time: '2023-11-14T22:13:20.000Z',
      level: 'WARN',
      message: 'chunk failed',
      jobId: 'job-1',
      chunk: 3,
      attempt: 2,
      workflowRunId: 'r-1',
    });
  });

  it('never carry a secret value, URL credentials or row data', () => {
    const scrub = logScrubber(env);
    const line = renderLogLine(
      entry('failed posting with wk-live-abcdef123456 to https://user:s3cret@files.example.com/in.csv', {
        error: new Error('token sgp_token_0011223344 refused; key wk-web-99887766'),
        raw: '{"email":"someone@example.com"}',
        nested: { authorization: 'Basic abc', url: 'postgres://admin:hunter2@db:5432/x' },
      }),
      'json',
      scrub,
    );
    for (const secret of [
      'wk-live-abcdef123456',
      'wk-web-99887766',
      'sgp_token_0011223344',
      's3cret',
      'hunter2',
      'someone@example.com',
      'Basic abc',
    ]) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('https://***@files.example.com/in.csv');
    expect(renderLogLine(entry('x wk-live-abcdef123456'), 'text', scrub)).not.toContain('wk-live-abcdef123456');
  });

  it('obey SEGFLOW_LOG_LEVEL and refuse an unknown SEGFLOW_LOG_FORMAT', () => {
    const lines: string[] = [];
    const logger = createWorkerLogger({ ...env, SEGFLOW_LOG_LEVEL: 'info' }, (line) => lines.push(line));
    logger.debug('hidden');
    logger.info('shown');
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(['shown']);
    expect(() => logFormat({ SEGFLOW_LOG_FORMAT: 'xml' })).toThrow(/SEGFLOW_LOG_FORMAT must be "text" or "json"/);
  });
});
