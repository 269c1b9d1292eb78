// The one hook runner: a release's backup, pre-apply, post-apply and restore hooks are Jobs the
// cluster driver runs to completion. A failed backup refuses the update before anything changed
// (PREFLIGHT_FAILED); a failed hook later is a failed tool (TOOL_FAILED), which the caller undoes.
import { DrydockError } from '../../core/index.ts';
import type { Hook } from '../release/index.ts';
import type { EngineContext } from './context.ts';

export type HookWhen = 'backup' | 'pre-apply' | 'post-apply' | 'restore';

export async function runHook(ctx: EngineContext, hook: Hook, when: HookWhen): Promise<void> {
  const r = await ctx.p.driver.runJob(await ctx.hookManifest(hook), hook.timeoutSeconds);
  if (!r.ok)
    throw new DrydockError(
      when === 'backup' ? 'PREFLIGHT_FAILED' : 'TOOL_FAILED',
      `${when} hook ${hook.name} failed: ${r.message}`,
    );
}
