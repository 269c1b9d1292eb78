// The stand-in's container runtime: it really runs a container's command from the image's unpacked
// rootfs, in its own network namespace (so every pod may listen on its port, and parallel boxes never
// collide), chrooted, as root inside (mapped root through a user namespace when we are not root).
// A small supervisor shell (host /bin/sh) records the container's pid and exit code in files, so a
// restarted engine finds its containers, and kills the container when the box's stand-in folder
// disappears, so a test that forgets to stop its box still leaves no process behind.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readProcStat } from '../../../core/proc.ts';

export interface Mount {
  hostPath: string;
  containerPath: string;
}

export interface ContainerSpec {
  /** folder for pid, exit and log files of this container instance */
  dir: string;
  rootfs: string;
  argv: string[];
  env: string[];
  workingDir: string;
  mounts: Mount[];
  /** the container is killed when this path no longer exists */
  marker: string;
  /** ... or when this file was not touched for leaseSeconds (0 = never) */
  lease: string;
  leaseSeconds: number;
}

export interface RunningContainer {
  pid: number;
  /** /proc/<pid>/stat start time, to tell our process from a later one with the same pid */
  startTicks: number;
  startedAt: number;
  /** the supervisor shell that waits for the container and records its exit code */
  supervisorPid?: number;
}

export type ContainerState =
  | { state: 'running'; since: number }
  | { state: 'exited'; exitCode: number | null; at: number }
  | { state: 'unknown' }
  /** stopped by its watcher because the lease ran out: not a crash */
  | { state: 'stopped' };

const BUSYBOX = '/bin/busybox';
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

// The watcher stops the container when the box's stand-in folder is gone, or when no driver call
// has renewed the lease file for leaseSeconds (a test run killed before its cleanup): then it marks
// the container "stopped" (not crashed) and the next driver call starts it again at once.
const SUPERVISOR = `marker="$1"; dir="$2"; lease="$3"; lease_s="$4"; every="$5"; shift 5
"$@" >>"$dir/log" 2>&1 </dev/null &
child=$!
echo "$child" >"$dir/pid.tmp" && mv "$dir/pid.tmp" "$dir/pid"
( i=0
  while kill -0 "$child" 2>/dev/null; do
    if [ ! -e "$marker" ]; then kill -9 "$child" 2>/dev/null; exit 0; fi
    i=$((i + 1))
    if [ "$lease_s" -gt 0 ] && [ $((i % every)) -eq 0 ]; then
      now=$(date +%s); m=$(stat -c %Y "$lease" 2>/dev/null || echo "$now")
      if [ $((now - m)) -gt "$lease_s" ]; then echo lease >"$dir/stopped"; kill -9 "$child" 2>/dev/null; exit 0; fi
    fi
    sleep 1
  done ) </dev/null >/dev/null 2>&1 &
wait "$child"
code=$?
echo "$code" >"$dir/exit.tmp" && mv "$dir/exit.tmp" "$dir/exit"
`;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The pod sandbox: loopback up, bind mounts, then chroot + chdir + exec with only the container's env. */
function sandboxScript(c: ContainerSpec): string {
  const lines = [`${BUSYBOX} ip link set lo up || exit 125`];
  for (const dev of ['null', 'zero', 'random', 'urandom']) {
    const to = `${c.rootfs}/dev/${dev}`;
    lines.push(
      `mkdir -p ${q(`${c.rootfs}/dev`)} && { [ -e ${q(to)} ] || : > ${q(to)}; } && mount --bind /dev/${dev} ${q(to)} || exit 125`,
    );
  }
  for (const m of c.mounts) {
    const to = `${c.rootfs}/${m.containerPath.replace(/^\/+/, '')}`;
    lines.push(`mkdir -p ${q(to)} && mount --bind ${q(m.hostPath)} ${q(to)} || exit 125`);
  }
  const exec = [
    '/usr/bin/env',
    '-i',
    ...c.env,
    '/usr/bin/unshare',
    `--root=${c.rootfs}`,
    `--wd=${c.workingDir || '/'}`,
    '--',
    ...c.argv,
  ];
  lines.push(`exec ${exec.map(q).join(' ')}`);
  return lines.join('\n');
}

export async function procStartTicks(pid: number): Promise<number | null> {
  return readProcStat(pid)?.startTicks ?? null;
}

/** Starts the container; resolves once its pid is known (a few milliseconds). */
export async function startContainer(c: ContainerSpec): Promise<RunningContainer> {
  await rm(c.dir, { recursive: true, force: true });
  await mkdir(c.dir, { recursive: true });
  const ns = ['--net', '--mount', '--propagation', 'private'];
  if (!isRoot()) ns.unshift('--user', '--map-root-user');
  const cmd = ['/usr/bin/unshare', ...ns, '--', BUSYBOX, 'sh', '-c', sandboxScript(c)];
  const log = openSync(join(c.dir, 'supervisor.log'), 'a');
  let supervisorPid: number | undefined;
  try {
    const every = String(c.leaseSeconds > 0 && c.leaseSeconds < 10 ? 1 : 5);
    const args = [c.marker, c.dir, c.lease, String(Math.max(0, Math.floor(c.leaseSeconds))), every];
    const child = spawn('/bin/sh', ['-c', SUPERVISOR, 'supervisor', ...args, ...cmd], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    supervisorPid = child.pid;
    child.unref();
  } finally {
    closeSync(log);
  }
  const startedAt = Date.now();
  // generous: on a machine under heavy load a shell can take seconds to get going
  while (Date.now() - startedAt < 30_000) {
    const pid = Number.parseInt(await readFile(join(c.dir, 'pid'), 'utf8').catch(() => ''), 10);
    if (pid > 0) {
      const startTicks = (await procStartTicks(pid)) ?? -1;
      return { pid, startTicks, startedAt, supervisorPid };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`container supervisor in ${c.dir} wrote no pid within 30 s`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function alive(r: RunningContainer): Promise<boolean> {
  const ticks = await procStartTicks(r.pid);
  if (ticks === null) return false;
  // a zombie has exited; its parent (the supervisor) is about to record the code
  if (readProcStat(r.pid)?.state === 'Z') return false;
  return r.startTicks < 0 || ticks === r.startTicks;
}

/**
 * Running, or exited with its code. While the supervisor is still about to record the code the
 * state is 'unknown' (not ready, not yet a crash); null only when the supervisor is gone too.
 */
export async function inspectContainer(dir: string, r: RunningContainer): Promise<ContainerState> {
  if (await alive(r)) return { state: 'running', since: r.startedAt };
  if ((await readFile(join(dir, 'stopped'), 'utf8').catch(() => null)) !== null) return { state: 'stopped' };
  const code = await readFile(join(dir, 'exit'), 'utf8').catch(() => null);
  if (code !== null) return { state: 'exited', exitCode: Number.parseInt(code, 10), at: Date.now() };
  if (r.supervisorPid && pidAlive(r.supervisorPid) && (await procState(r.supervisorPid)) !== 'Z')
    return { state: 'unknown' };
  return { state: 'exited', exitCode: null, at: Date.now() };
}

async function procState(pid: number): Promise<string> {
  return readProcStat(pid)?.state ?? '';
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopContainer(r: RunningContainer, graceMs = 1000): Promise<void> {
  if (!(await alive(r))) return;
  try {
    process.kill(r.pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!(await alive(r))) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  try {
    process.kill(r.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  for (let i = 0; i < 100 && (await alive(r)); i++) await new Promise((res) => setTimeout(res, 10));
}

/** The last lines a container wrote (stdout and stderr), for messages. */
export async function containerLog(dir: string, maxBytes = 2000): Promise<string> {
  const text = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
  return text.slice(-maxBytes);
}

/** argv run inside the network namespace of a running container (for probes). */
export function inNetns(pid: number, argv: string[]): string[] {
  const ns = isRoot() ? ['-n'] : ['-U', '-n', '--preserve-credentials'];
  return ['/usr/bin/nsenter', '-t', String(pid), ...ns, '--', ...argv];
}
