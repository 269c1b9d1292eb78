export { buildDescriptor, type DescriptorInput, type OvfDisk, xmlEscape } from './descriptor.ts';
export { type PackOptions, type PackResult, packOva } from './pack.ts';
export { FIRSTBOOT_PROPERTIES, type OvfProperty } from './properties.ts';
export { ustarHeader } from './tar.ts';
export { probeDisk, qemuImgInfo, toStreamOptimizedVmdk } from './vmdk.ts';
