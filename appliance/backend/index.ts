// The backend renderer: build-time only (kubernetes-models is a build dependency).
export * from './api.ts';
export { renderChartFiles } from './chart.ts';
export { pinned, readLock } from './lock.ts';
export { buildPluginImage } from './plugin-image.ts';
export {
  BOX_CONTEXT,
  objectId,
  releaseSpec,
  renderBox,
  renderBoxFiles,
  sortObjects,
  toYamlDocs,
  traefikConfig,
  writeFiles,
} from './render.ts';
export { loadSource, REFERENCE_SOURCE } from './source.ts';
export { validateObject } from './validate.ts';
