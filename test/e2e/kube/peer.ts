// Helpers for suites that run against the real single-node Kubernetes peer (scripts/kube-peer.sh).
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SCRIPT = join(ROOT, 'scripts', 'kube-peer.sh');

export interface Peer {
  dir: string;
  kubeconfig: string;
  kubectl: string;
  containerdSocket: string;
  apiPort: number;
  upMs: number;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** An API port whose next 6 ports (kubelet, controller-manager, scheduler, kube-proxy) are free too. */
export async function freePortBlock(from = 16443): Promise<number> {
  for (let base = from; base < from + 700; base += 7) {
    let ok = true;
    for (let p = base; p < base + 7 && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no 7 consecutive free ports from ${from}`);
}

// Peers with a kubelet share what a node has once per machine (the pod subnet 10.42.0.0/24, the
// NodePorts, iptables): suites in parallel workers take turns, holding this lock from up to down.
const NODE_LOCK = '/tmp/drydock-kube-peer-node.lock';
const held = new Set<string>();

export async function takeNodeLock(dir: string): Promise<void> {
  const { open, readFile, rm } = await import('node:fs/promises');
  const until = Date.now() + 45 * 60_000;
  for (;;) {
    try {
      const f = await open(NODE_LOCK, 'wx');
      await f.writeFile(`${process.pid}\n${dir}\n`);
      await f.close();
      held.add(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await readFile(NODE_LOCK, 'utf8').catch(() => '')).split('\n')[0]);
    let alive = false;
    try {
      process.kill(owner, 0);
      alive = owner > 0;
    } catch {}
    // a worker that died without peerDown leaves the lock: it is free then
    if (!alive) await rm(NODE_LOCK, { force: true });
    else if (Date.now() > until)
      throw new Error(`the kube-peer node lock ${NODE_LOCK} is held by pid ${owner}`);
    else await new Promise((r) => setTimeout(r, 1000));
  }
}

/** `portFrom`: suites that run at the same time start their port search at different places. */
export async function peerUp(
  dir: string,
  opts: { noKubelet?: boolean; portFrom?: number } = {},
): Promise<Peer> {
  if (!opts.noKubelet && !held.has(dir)) await takeNodeLock(dir);
  const apiPort = await freePortBlock(opts.portFrom);
  const args = [
    'up',
    '--dir',
    dir,
    '--api-port',
    String(apiPort),
    ...(opts.noKubelet ? ['--no-kubelet'] : []),
  ];
  const t0 = Date.now();
  const { stdout } = await run(SCRIPT, args, { maxBuffer: 16 << 20, timeout: 45 * 60_000 });
  const upMs = Date.now() - t0;
  const cache = (await run(SCRIPT, ['path'])).stdout.trim();
  return {
    dir,
    kubeconfig: stdout.trim(),
    kubectl: join(cache, 'bin', 'kubectl'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    apiPort,
    upMs,
  };
}

/** Stops the peer; `keepLock`: it is started again on the same folder (a restart). */
export async function peerDown(dir: string, opts: { keepLock?: boolean } = {}): Promise<void> {
  await run(SCRIPT, ['down', '--dir', dir], { timeout: 5 * 60_000 });
  if (held.has(dir) && !opts.keepLock) {
    held.delete(dir);
    const { rm } = await import('node:fs/promises');
    await rm(NODE_LOCK, { force: true });
  }
}

export async function kubectl(peer: Peer, args: string[], input?: string): Promise<string> {
  const child = execFile(peer.kubectl, ['--kubeconfig', peer.kubeconfig, ...args], { maxBuffer: 16 << 20 });
  if (input !== undefined) child.stdin?.end(input);
  else child.stdin?.end();
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${code}: ${err.trim()}`);
  return out;
}

export async function ctr(peer: Peer, args: string[]): Promise<string> {
  const { stdout } = await run('ctr', ['--address', peer.containerdSocket, '-n', 'k8s.io', ...args], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}
