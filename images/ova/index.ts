export {
  buildDescriptor,
  type DescriptorInput,
  GUEST_OS,
  guestOsFor,
  type OvfDisk,
  VMX_VERSION,
  xmlEscape,
} from './descriptor.ts';
export { type PackOptions, type PackResult, packOva } from './pack.ts';
export { FIRSTBOOT_PROPERTIES, type OvfProperty } from './properties.ts';
export { certEntry, loadSigner, type OvaSigner, parseCertificates } from './sign.ts';
export { ustarHeader } from './tar.ts';
export { type OvaEntry, readOvaEntries, type VerifyResult, verifyOva } from './verify.ts';
export {
  probeDisk,
  qemuImgInfo,
  readVmdkDescriptor,
  type ScsiController,
  setVmdkAdapterType,
  toStreamOptimizedVmdk,
} from './vmdk.ts';
