import type { Command } from 'commander';

// Commands of this group are added here by the part that owns them.
export function registerAws(_program: Command): void {}
