// The CLI only parses arguments and calls into the parts; each command group lives in its own file
// (cli/<group>.ts, exporting register<Group>). Only the group being run is loaded: the box runs
// `drydock firstboot …` and `drydock updater serve` at every boot, and loading every part (AWS SDK,
// Packer driver…) for them would cost seconds.
import { Command, CommanderError } from 'commander';
import { createOutput } from '../core/index.ts';

type Register = (program: Command) => void;

const GROUPS: Record<string, () => Promise<Register>> = {
  keys: async () => (await import('./keys.ts')).registerKeys,
  release: async () => (await import('./release.ts')).registerRelease,
  channel: async () => (await import('./channel.ts')).registerChannel,
  box: async () => (await import('./box.ts')).registerBox,
  update: async () => (await import('./update.ts')).registerUpdate,
  updater: async () => (await import('./updater.ts')).registerUpdater,
  backend: async () => (await import('./backend.ts')).registerBackend,
  firstboot: async () => (await import('./firstboot.ts')).registerFirstboot,
  build: async () => (await import('./build.ts')).registerBuild,
  ova: async () => (await import('./ova.ts')).registerOva,
  aws: async () => (await import('./aws.ts')).registerAws,
};

/** The program with the named groups, or with all of them (for help and unknown commands). */
export async function buildProgram(groups: string[] = Object.keys(GROUPS)): Promise<Command> {
  const program = new Command('drydock')
    .description('Build, ship and update Kubernetes appliances (OVA, AMI) with signed releases')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const name of groups) (await GROUPS[name]!())(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const first = argv[2];
  const program = await buildProgram(first !== undefined && first in GROUPS ? [first] : undefined);
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
