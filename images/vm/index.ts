export { makeOvfEnvIso, ovfEnvironmentXml } from './ovfenv.ts';
export { bootVm, freePort, qemuArgs, type Vm, type VmOptions } from './qemu.ts';
