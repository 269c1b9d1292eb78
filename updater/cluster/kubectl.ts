// kubectl as the drivers run it: through the injected exec, one timeout, and errors that say which
// call failed. `k3s kubectl` on the appliance, `kubectl --kubeconfig FILE` on another cluster.
import { DrydockError } from '../../core/index.ts';
import type { ExecFn, ExecResult } from './exec.ts';
import type { KubeObject } from './readiness.ts';

export class Kubectl {
  readonly #cmd: string;
  readonly #base: string[];

  constructor(
    command: string[],
    private readonly exec: ExecFn,
    private readonly timeoutMs = 120_000,
  ) {
    const [cmd, ...base] = command;
    if (!cmd) throw new DrydockError('CONFIG_INVALID', 'the kubectl command is empty');
    this.#cmd = cmd;
    this.#base = base;
  }

  /** Runs kubectl; never throws (the caller reads the code). */
  run(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return this.exec(this.#cmd, [...this.#base, ...args], {
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  }

  /** Runs kubectl and returns stdout; a failure is CLUSTER_UNAVAILABLE (TOOL_MISSING without kubectl). */
  async must(
    what: string,
    args: string[],
    opts: { input?: string; timeoutMs?: number; code?: 'CLUSTER_UNAVAILABLE' | 'APPLY_FAILED' } = {},
  ): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0)
      throw new DrydockError(
        r.code === 127 ? 'TOOL_MISSING' : (opts.code ?? 'CLUSTER_UNAVAILABLE'),
        `${what} failed: ${lastLine(r)}`,
        { details: { args: args.join(' ') } },
      );
    return r.stdout;
  }

  async json<T = KubeObject & { items?: KubeObject[] }>(what: string, args: string[]): Promise<T> {
    return JSON.parse(await this.must(what, [...args, '-o', 'json'])) as T;
  }

  /** The API server's /readyz answered "ok". */
  async ready(timeoutMs = 10_000): Promise<{ ok: boolean; message: string }> {
    const r = await this.run(['get', '--raw', '/readyz'], { timeoutMs });
    if (r.code === 0 && r.stdout.trim() === 'ok') return { ok: true, message: 'API ready' };
    return { ok: false, message: `API not ready: ${lastLine(r)}` };
  }
}

export const lastLine = (r: ExecResult) =>
  (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] || `exit ${r.code}`;

export const notFound = (r: ExecResult) => r.code !== 0 && /NotFound|not found/.test(r.stderr);
