// The host shim's public surface: import from here, not from the files behind it.
export { HostSyscalls, openHost } from './syscalls.js';
export type { DeviceKind, HostCapabilities, HostOptions, TimesItem, XattrItem } from './syscalls.js';
export { HostSyscallError, displayPath, errnoName } from './errors.js';
export { makeSocketFile } from './socket.js';
