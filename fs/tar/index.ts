// The tar toolchain's public surface: read (hostile-safe, streaming), write (deterministic pax),
// and open a possibly compressed archive file.

export { readTar, DEFAULT_MAX_PAX_HEADER_BYTES, DEFAULT_MAX_XATTR_VALUE_BYTES } from './reader.js';
export type { ReadTarOptions, TarMember, TarSource, SparseRegion } from './reader.js';
export { TarWriter } from './writer.js';
export type { TarContent, TarSink, TarWriterOptions } from './writer.js';
export { openArchiveStream, MAX_ZSTD_WINDOW_BYTES } from './decompress.js';
export type { ArchiveCompression, ArchiveStream, OpenArchiveOptions } from './decompress.js';
export { TarArchiveError, printableBytes } from './errors.js';
export type { TarErrorCode, TarProblem } from './errors.js';
