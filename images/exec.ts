// How the image pipeline runs external tools (qemu-img, mmdebstrap, packer, qemu): one injectable
// function, so tests and benches drive the real code with the real tools, and failures map to
// TOOL_MISSING / TOOL_FAILED with the tool's own last words instead of a stack trace.
import { execa } from 'execa';
import { DrydockError } from '../core/index.ts';

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Called with each line the tool prints (stdout and stderr), for live progress. */
  onLine?: (line: string) => void;
  input?: string;
  timeoutMs?: number;
}

export type Exec = (file: string, args: string[], opts?: ExecOptions) => Promise<{ stdout: string }>;

export const defaultExec: Exec = async (file, args, opts = {}) => {
  const child = execa(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    input: opts.input,
    timeout: opts.timeoutMs,
    reject: false,
    all: true,
    stripFinalNewline: true,
    lines: false,
  });
  if (opts.onLine) {
    let buf = '';
    child.all?.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i = buf.indexOf('\n');
      while (i >= 0) {
        opts.onLine?.(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
    child.all?.on('end', () => {
      if (buf) opts.onLine?.(buf);
    });
  }
  const r = await child;
  if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.originalMessage ?? ''))) {
    throw new DrydockError('TOOL_MISSING', `${file} is not installed (needed for this step)`);
  }
  if (r.timedOut) throw new DrydockError('TOOL_FAILED', `${file} did not finish within ${opts.timeoutMs} ms`);
  if (r.exitCode !== 0) {
    const tail = String(r.all ?? '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ');
    throw new DrydockError('TOOL_FAILED', `${file} ${args[0] ?? ''} failed (exit ${r.exitCode}): ${tail}`);
  }
  return { stdout: String(r.stdout ?? '') };
};
