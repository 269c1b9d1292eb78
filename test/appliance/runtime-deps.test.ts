// The box installs production dependencies only (npm ci --omit=dev). Everything appliance/index.ts
// loads statically must therefore avoid the dev dependencies; the backend renderer is loaded on
// demand. This walks the static import graph from the index and checks every bare import.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  // `import … from 'x'` and `export … from 'x'`, but not `import type`/`export type` (erased)
  return [...src.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\sfrom\s+'([^']+)';/gms)].map((m) => m[1]!);
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

describe('what first boot loads on the box', () => {
  it('uses only production dependencies and node: built-ins', () => {
    const seen = new Set<string>();
    const bare = new Map<string, string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) walk(resolve(dirname(file), spec));
        else if (!spec.startsWith('node:')) bare.set(packageName(spec), file.slice(REPO.length + 1));
      }
    };
    walk(join(REPO, 'appliance/index.ts'));
    walk(join(REPO, 'cli/firstboot.ts'));
    walk(join(REPO, 'cli/backend.ts'));
    expect(seen.size).toBeGreaterThan(10);
    expect([...seen].some((f) => f.includes('/backend/'))).toBe(false);
    for (const [name, from] of bare)
      expect(pkg.dependencies[name], `${name} (imported by ${from})`).toBeDefined();
    expect(pkg.devDependencies['kubernetes-models']).toBeDefined(); // the renderer's, loaded on demand
  });
});
