import { defineConfig } from 'vitest/config';

// Slow suites (QEMU boots, Chromium) live in test/e2e and run in CI too; the opt-in suites against
// real k3s/AWS check their own env flags (DRYDOCK_E2E_K3S, DRYDOCK_E2E_AWS) and say so when skipped.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
