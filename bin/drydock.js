#!/usr/bin/env node
// An installation (the appliance's /opt/drydock: no .git, a dist/cli built by the image build) runs
// the precompiled build: no TypeScript to compile at every start (seconds on a TCG guest, a fresh
// tsx cache under PrivateTmp) and ~60 MB less memory. A checkout always runs its TypeScript sources
// through tsx, so a stale build can never shadow them.
import { existsSync } from 'node:fs';

const top = new URL('../', import.meta.url);
const built = new URL('dist/cli/main.js', top);
let main;
if (existsSync(built) && !existsSync(new URL('.git', top))) {
  ({ main } = await import(built.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv);
