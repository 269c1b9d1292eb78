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

/** `portFrom`: suites that run at the same time start their port search at different places. */
export async function peerUp(
  dir: string,
  opts: { noKubelet?: boolean; portFrom?: number } = {},
): Promise<Peer> {
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

export async function peerDown(dir: string): Promise<void> {
  await run(SCRIPT, ['down', '--dir', dir], { timeout: 5 * 60_000 });
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
