export { type Accelerator, acceleratorWorks, chooseAccelerator, probeSector } from './accel.ts';
export { type InputsLock, type ResolvedInputs, readInputsLock, resolveInputs } from './inputs.ts';
export { needsPlugins, packerVersion, pkrvars, runPacker } from './packer.ts';
export { type InputsManifest, productionPackages, stagePayload } from './payload.ts';
export {
  type BuildOptions,
  type BuildResult,
  type BuildTarget,
  buildImage,
  provisionScripts,
} from './pipeline.ts';
