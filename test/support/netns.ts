/**
 * Several "hosts" on one machine: each is a Linux network namespace (`ip netns`, iproute2) with its own address,
 * joined by a veth pair to a bridge in the root namespace, so every host reaches every other one (and the test
 * process reaches them all through the bridge's own address). Needs root. The lab removes what it made; a lab
 * left behind by a killed run is swept by the next one (its names carry the pid that made it).
 */
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface LabHost {
  name: string;
  namespace: string;
  ip: string;
}

const PREFIX = 'segflow-lab';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether this process may make namespaces: root, with iproute2 installed. A sentence saying why not, else undefined. */
export function labUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the test as root, e.g. in CI)';
  try {
    ip('-V');
  } catch {
    return 'the `ip` command (Debian package iproute2) is missing';
  }
  return undefined;
}

/** Pids of every process inside a namespace. */
export function namespacePids(namespace: string): number[] {
  try {
    return ip('netns', 'pids', namespace).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) used so far by the processes currently in a namespace. */
export function namespaceCpuSeconds(namespace: string): number {
  const ticksPerSecond = 100; // USER_HZ on Linux
  let ticks = 0;
  for (const pid of namespacePids(namespace)) {
    try {
      // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of /proc/PID/stat.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / ticksPerSecond;
}

function killNamespaceProcesses(namespace: string): void {
  for (const pid of namespacePids(namespace)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Removes namespaces and bridges of labs whose creating process is gone. */
function sweepStaleLabs(): void {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    // no namespaces yet
  }
  for (const name of names) {
    const match = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    if (!match || alive(Number(match[1]))) continue;
    killNamespaceProcesses(name);
    try {
      ip('netns', 'del', name);
    } catch {
      // already gone
    }
  }
  for (const line of ip('-o', 'link', 'show', 'type', 'bridge').split('\n')) {
    const match = /^\d+: sfbr(\d+)[:@]/.exec(line);
    if (match && !alive(Number(match[1]))) {
      try {
        ip('link', 'del', `sfbr${match[1]}`);
      } catch {
        // already gone
      }
    }
  }
}

function pickSubnet(): string {
  const used = ip('-4', '-o', 'addr', 'show');
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
    if (!used.includes(` ${candidate}.`)) return candidate;
  }
  throw new Error('no free 10.x.y.0/24 subnet for the network lab');
}

export class NetworkLab {
  readonly hosts = new Map<string, LabHost>();
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly bridge: string,
    /** The bridge's address: how hosts reach the root namespace (and the test process). */
    readonly gatewayIp: string,
    private readonly subnet: string,
  ) {}

  /** Makes one namespace per host name, with addresses .10, .11, ... on a fresh /24. */
  static create(hostNames: string[]): NetworkLab {
    sweepStaleLabs();
    const subnet = pickSubnet();
    const bridge = `sfbr${process.pid}`;
    const lab = new NetworkLab(bridge, `${subnet}.1`, subnet);
    try {
      ip('link', 'add', bridge, 'type', 'bridge');
      ip('addr', 'add', `${lab.gatewayIp}/24`, 'dev', bridge);
      ip('link', 'set', bridge, 'up');
      hostNames.forEach((name, index) => lab.addHost(name, `${subnet}.${10 + index}`, index));
    } catch (error) {
      lab.destroy();
      throw error;
    }
    return lab;
  }

  private addHost(name: string, address: string, index: number): void {
    const namespace = `${PREFIX}-${process.pid}-${name}`;
    const veth = `sfv${process.pid}x${index}`;
    ip('netns', 'add', namespace);
    this.hosts.set(name, { name, namespace, ip: address });
    // The host's end is called eth0 inside its namespace; the other end joins the bridge.
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace);
    ip('link', 'set', veth, 'master', this.bridge);
    ip('link', 'set', veth, 'up');
    ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', namespace, 'link', 'set', 'eth0', 'up');
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
    ip('-n', namespace, 'route', 'add', 'default', 'via', this.gatewayIp);
  }

  /** An extra address for the root namespace on the lab's network (a service the test process runs itself). */
  addRootAddress(lastOctet: number): string {
    const address = `${this.subnet}.${lastOctet}`;
    ip('addr', 'add', `${address}/24`, 'dev', this.bridge);
    return address;
  }

  host(name: string): LabHost {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no lab host ${name}`);
    return host;
  }

  /**
   * Starts a command inside a host's namespace, in its own process group (so `kill` reaches its children too).
   */
  spawn(hostName: string, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdio?: StdioOptions } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(hostName).namespace, command, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command inside a host's namespace to completion; its output on failure becomes the error. */
  run(hostName: string, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): string {
    return execFileSync('ip', ['netns', 'exec', this.host(hostName).namespace, command, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 600_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  /** SIGKILL to a child's whole process group. */
  static killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  }

  destroy(): void {
    for (const child of this.children) NetworkLab.killGroup(child);
    for (const host of this.hosts.values()) {
      killNamespaceProcesses(host.namespace);
      try {
        ip('netns', 'del', host.namespace);
      } catch {
        // already gone
      }
    }
    this.hosts.clear();
    try {
      ip('link', 'del', this.bridge);
    } catch {
      // already gone
    }
  }
}
