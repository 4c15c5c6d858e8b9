/** The readiness check names what is wrong: a stopped poller, an unreachable Temporal. */
import { describe, expect, it } from 'vitest';
import { checkReadiness, parseListenAddress, type HealthTarget } from '../../src/ops/health';

function target(status: Partial<ReturnType<HealthTarget['worker']['getStatus']>>, temporal: () => Promise<unknown>): HealthTarget {
  return {
    taskQueue: 'segflow',
    worker: { getStatus: () => ({ runState: 'RUNNING', workflowPollerState: 'POLLING', activityPollerState: 'POLLING', ...status }) as never },
    connection: {
      withDeadline: (_deadline: number | Date, fn: () => Promise<unknown>) => fn(),
      workflowService: { getSystemInfo: temporal },
    } as never,
  };
}

describe('readiness', () => {
  it('is ready when running, polling and Temporal answers', async () => {
    expect(await checkReadiness(target({}, async () => ({})))).toEqual({ ready: true, problems: [] });
  });

  it('says which poller stopped and that Temporal does not answer', async () => {
    const readiness = await checkReadiness(
      target({ runState: 'STOPPING', activityPollerState: 'SHUTDOWN' }, async () => {
        throw new Error('14 UNAVAILABLE: connection refused');
      }),
    );
    expect(readiness.ready).toBe(false);
    expect(readiness.problems).toEqual([
      'worker is stopping',
      'activity poller is shutdown',
      'Temporal does not answer: 14 UNAVAILABLE: connection refused',
    ]);
  });

  it('parses listen addresses and refuses others in one sentence', () => {
    expect(parseListenAddress('0.0.0.0:8081', 'X')).toEqual({ host: '0.0.0.0', port: 8081 });
    expect(parseListenAddress('[::1]:0', 'X')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListenAddress('8081', 'SEGFLOW_HEALTH_ADDRESS')).toThrow(
      'SEGFLOW_HEALTH_ADDRESS must be host:port (e.g. 0.0.0.0:8081), not "8081"',
    );
  });
});
