export { type DescriptorInput, type OvfDisk, xmlEscape } from './descriptor.ts';
export { type PackOptions, type PackResult, packOva } from './pack.ts';
export { FIRSTBOOT_PROPERTIES, type OvfProperty } from './properties.ts';
export { loadSigner, type OvaSigner } from './sign.ts';
export { ustarHeader } from './tar.ts';
export { type OvaEntry, readOvaEntries, type VerifyResult, verifyOva } from './verify.ts';
export { qemuImgInfo, readVmdkDescriptor, type ScsiController } from './vmdk.ts';
