export { type BaseBuildOptions, type BaseImage, buildBase } from './build.ts';
export { grubConfig, patchCore, patchMbr } from './grub.ts';
export { diskLayout, type Layout, sfdiskScript } from './layout.ts';
export { type BaseSpec, baseKey, DEFAULT_BASE_SPEC } from './spec.ts';
