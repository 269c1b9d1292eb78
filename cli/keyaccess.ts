// How every signing command reaches the private keys, the same way: the passphrase from
// --passphrase-file FILE or DRYDOCK_KEY_PASSPHRASE (never an argument: arguments show in `ps` and
// shell history), and --signer CMD for keys held by an external tool (HSM, KMS).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DrydockError } from '../core/index.ts';
import type { ExternalSigner, KeyAccess } from '../updater/tuf/index.ts';

export interface KeyAccessFlags {
  passphraseFile?: string;
  signer?: string;
}

export function withKeyAccess(cmd: Command, signer = true): Command {
  cmd.option('--passphrase-file <file>', 'file holding the key passphrase (else DRYDOCK_KEY_PASSPHRASE)');
  if (signer)
    cmd.option(
      '--signer <cmd>',
      'external signer for keys not in the folder: gets the bytes on stdin and the key ID as its last argument, prints the signature (hex or base64)',
    );
  return cmd;
}

/** The passphrase: the file's first line, else the environment variable; undefined when neither. */
export function readPassphrase(
  flags: KeyAccessFlags,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flags.passphraseFile) {
    let text: string;
    try {
      text = readFileSync(flags.passphraseFile, 'utf8');
    } catch {
      throw new DrydockError(
        'KEY_PASSPHRASE_MISSING',
        `--passphrase-file ${flags.passphraseFile} cannot be read`,
      );
    }
    const line = text.split(/\r?\n/)[0] ?? '';
    if (!line)
      throw new DrydockError('KEY_PASSPHRASE_MISSING', `${flags.passphraseFile} holds an empty passphrase`);
    return line;
  }
  return env.DRYDOCK_KEY_PASSPHRASE || undefined;
}

/** Runs CMD through the shell with the key ID appended as one argument and the bytes on stdin. */
export function commandSigner(cmd: string): ExternalSigner {
  return (keyId, data) => {
    const r = spawnSync('/bin/sh', ['-c', `${cmd} "$1"`, 'drydock-signer', keyId], {
      input: data,
      maxBuffer: 1024 * 1024,
      timeout: 120_000,
    });
    if (r.error)
      throw new DrydockError('SIGNER_FAILED', `--signer could not run: ${r.error.message}`, {
        cause: r.error,
      });
    if (r.status !== 0)
      throw new DrydockError(
        'SIGNER_FAILED',
        `--signer exited ${r.status ?? r.signal} for key ${keyId}: ${r.stderr.toString().trim().split('\n')[0] ?? ''}`,
      );
    const text = r.stdout.toString().trim();
    if (/^[0-9a-fA-F]{128}$/.test(text)) return Buffer.from(text, 'hex');
    const b = /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
    if (b.length !== 64)
      throw new DrydockError(
        'SIGNER_FAILED',
        `--signer printed no Ed25519 signature for key ${keyId} (want 64 bytes as hex or base64)`,
      );
    return b;
  };
}

export function keyAccessFrom(flags: KeyAccessFlags, env: NodeJS.ProcessEnv = process.env): KeyAccess {
  return {
    passphrase: readPassphrase(flags, env),
    ...(flags.signer ? { signer: commandSigner(flags.signer) } : {}),
    warn: (m) => process.stderr.write(`drydock: warning: ${m}\n`),
  };
}
