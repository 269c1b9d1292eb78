#!/usr/bin/env node
// The CLI runs from the TypeScript sources through tsx (a runtime dependency), so a checkout and
// the appliance run the same files without a separate build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
