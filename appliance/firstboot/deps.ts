// Side effects of first boot enter through these parameters, so tests run the real code on a box root.
import { execFile } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** 127 when the tool is not installed */
  exitCode: number;
}

/** Runs a tool; never throws for a non-zero exit (growpart answers NOCHANGE with 1). */
export type Exec = (cmd: string, args: string[]) => Promise<ExecResult>;

export const defaultExec: Exec = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') resolve({ stdout: '', stderr: `${cmd}: not installed`, exitCode: 127 });
      else
        resolve({
          stdout: String(stdout),
          stderr: String(stderr),
          exitCode: err
            ? typeof (err as { code?: unknown }).code === 'number'
              ? Number((err as { code?: unknown }).code)
              : 1
            : 0,
        });
    });
  });

export type Log = (line: string) => void;
