// What goes onto the box. First boot, the settings catalogue and the units load without the
// build-time tools; the backend renderer (kubernetes-models, a build dependency) loads on demand,
// so the appliance's `npm ci --omit=dev` install never needs it.

export type { BackendSource, KubeObject, RenderedBackend } from './backend/api.ts';
export * from './firstboot/index.ts';
export { STANDIN_DROPIN, UNIT_FILES, UNITS_DIR, type UnitFile } from './units/index.ts';

export async function loadBackendRenderer(): Promise<typeof import('./backend/index.ts')> {
  return import('./backend/index.ts');
}
