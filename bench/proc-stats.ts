/**
 * /proc sampling: memory of the measured processes, CPU of every process involved and of the machine (noise).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const SAMPLE_INTERVAL_MS = 200;

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS / VmHWM of a process in bytes (the kernel reports kB = KiB). */
export function parseProcStatusMemory(status: string): { rss: number; hwm: number } {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** User + system CPU seconds from /proc/<pid>/stat (fields 14 and 15, counted after the `(comm)` field). */
export function parseProcStatCpuSeconds(stat: string, ticksPerSecond = CLOCK_TICKS): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

export function cpuSeconds(pid: number): number {
  try {
    return parseProcStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    return parseProcStatusMemory(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds all processes of the machine spent since boot (user + nice + system, from the first line of
 * /proc/stat). Interrupt time is left out: the loopback traffic of the run itself is handled there.
 */
export function parseProcStatBusySeconds(procStat: string, ticksPerSecond = CLOCK_TICKS): number {
  const [, user, nice, system] = (procStat.split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0)) / ticksPerSecond;
}

/**
 * CPU seconds used during one run by each process of interest, by the bench itself, and by everything else on
 * the machine: on a shared 2-core machine "everything else" decides whether the figures can be trusted.
 */
export function startCpuMeter(pids: Record<string, number>) {
  const machine = () => parseProcStatBusySeconds(readFileSync('/proc/stat', 'utf8'));
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const machineBefore = machine();
  const selfBefore = process.cpuUsage();
  return () => {
    const used = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) - (before[name] ?? 0)]));
    const self = process.cpuUsage(selfBefore);
    const selfSeconds = (self.user + self.system) / 1e6;
    const ours = Object.values(used).reduce((sum, seconds) => sum + seconds, selfSeconds);
    return { used, self: selfSeconds, others: Math.max(0, machine() - machineBefore - ours) };
  };
}

/** A process and its descendants (from /proc/<pid>/task/<tid>/children), the process first. */
export function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pids[i]}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        for (const child of readFileSync(`/proc/${pids[i]}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (child) pids.push(Number(child));
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return pids;
}

/**
 * Resident memory of a process tree: the sum over its processes (for VmHWM, the sum of each one's own high-water
 * mark, an upper bound of the tree's peak: a launcher's peak and the worker's may not coincide).
 */
export function treeMemory(pids: readonly number[]): { rss: number; hwm: number } {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    const memory = memoryOf(pid);
    rss += memory?.rss ?? 0;
    hwm += memory?.hwm ?? 0;
  }
  return { rss, hwm };
}

/** Samples a process tree's resident memory every 200 ms; the kernel's VmHWM catches peaks between samples. */
export class TreeRssSampler {
  private timer: NodeJS.Timeout | undefined;
  maxSampled = 0;
  /** Every sample, for the flatness check (RSS early in the run against RSS late in it). */
  readonly samples: number[] = [];

  constructor(private readonly pids: readonly number[]) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  private sample(): void {
    const rss = treeMemory(this.pids).rss;
    this.samples.push(rss);
    this.maxSampled = Math.max(this.maxSampled, rss);
  }

  /** Stops sampling and returns the kernel's high-water marks (must be called while the processes are alive). */
  stop(): { maxSampled: number; hwm: number; growth: number } {
    if (this.timer !== undefined) this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
    return { maxSampled: this.maxSampled, hwm: treeMemory(this.pids).hwm, growth: rssGrowth(this.samples) };
  }
}

/**
 * How much the largest RSS of a run's second half exceeds the largest of its first quarter (0.05 = +5 %): a
 * worker whose memory is flat by design levels off early and stays there, one that retains per-row state keeps
 * growing. NaN for runs too short to tell (under 20 samples, 4 s).
 */
export function rssGrowth(samples: readonly number[]): number {
  if (samples.length < 20) return NaN;
  const early = Math.max(...samples.slice(0, Math.floor(samples.length / 4)));
  const late = Math.max(...samples.slice(Math.floor(samples.length / 2)));
  return late / early - 1;
}
