// The CLI only parses arguments and calls into the parts; each command group lives in its own file.
import { Command, CommanderError } from 'commander';
import { createOutput } from '../core/index.ts';
import { registerAws } from './aws.ts';
import { registerBackend } from './backend.ts';
import { registerBox } from './box.ts';
import { registerBuild } from './build.ts';
import { registerChannel } from './channel.ts';
import { registerFirstboot } from './firstboot.ts';
import { registerKeys } from './keys.ts';
import { registerOva } from './ova.ts';
import { registerRelease } from './release.ts';
import { registerUpdate } from './update.ts';
import { registerUpdater } from './updater.ts';

export function buildProgram(): Command {
  const program = new Command('drydock')
    .description('Build, ship and update Kubernetes appliances (OVA, AMI) with signed releases')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [
    registerKeys,
    registerRelease,
    registerChannel,
    registerBox,
    registerUpdate,
    registerUpdater,
    registerBackend,
    registerFirstboot,
    registerBuild,
    registerOva,
    registerAws,
  ]) {
    register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; a parse error has already been printed by commander
      return err.exitCode === 0 ? 0 : 2;
    }
    return createOutput({ json: argv.includes('--json') }).error(err);
  }
}
