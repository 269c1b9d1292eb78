// Shared by the command files: run an action with an Output made from --json, map errors to exit codes.
import { createOutput, type Output } from '../core/index.ts';

export function action<A extends unknown[]>(
  fn: (out: Output, ...args: A) => Promise<number | undefined> | number | undefined,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // commander passes (...positionals, options, command); options carry --json when a command declares it
    const opts = args.find(
      (a) => a !== null && typeof a === 'object' && !Array.isArray(a) && !('parent' in (a as object)),
    ) as { json?: boolean } | undefined;
    const out = createOutput({ json: Boolean(opts?.json) });
    try {
      const code = await fn(out, ...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      process.exitCode = out.error(err);
    }
  };
}
