export { makeOvfEnvIso } from './ovfenv.ts';
export { bootVm, freePort, type Vm, type VmOptions } from './qemu.ts';
