export { type Accelerator, acceleratorWorks, probeSector } from './accel.ts';
export { type InputsLock, type ResolvedInputs, readInputsLock, resolveInputs } from './inputs.ts';
export { needsPlugins, pkrvars } from './packer.ts';
export { type InputsManifest, productionPackages } from './payload.ts';
export { type BuildOptions, type BuildResult, type BuildTarget, buildImage } from './pipeline.ts';
