// Opening images for commands: read-only (journal replayed in memory, nothing written) for
// dump, writable for the editing commands. Damage met while reading is reported on stderr once.
import type { RunContext } from '../cli/command.js';
import type { Volume } from '../format/volume.js';
import type { FsReader } from '../fs/reader.js';
import type { FsWriter } from '../fs/ops.js';

function damageReporter(ctx: RunContext) {
  return (d: { memberPath: string; offset: number; structure: string; reason: string; recovered: boolean }) =>
    ctx.out.warn(`${d.memberPath}: offset ${d.offset}: ${d.structure}: ${d.reason}${d.recovered ? ' (another copy used)' : ''}`);
}

export async function withVolume<T>(ctx: RunContext, spec: string, fn: (vol: Volume, reader: FsReader) => Promise<T> | T): Promise<T> {
  const { Volume } = await import('../format/volume.js');
  const { FsReader } = await import('../fs/reader.js');
  const vol = await Volume.open(spec, { allowDegraded: true, onDamage: damageReporter(ctx) });
  try {
    if (vol.img.degraded) ctx.out.warn('image is degraded: some members are missing');
    return await fn(vol, new FsReader(vol.img));
  } finally {
    vol.abandon();
  }
}

/**
 * Open writable, run, then checkpoint and close. When `fn` fails, every transaction it
 * committed before the failure is already durable in the journal; closing folds them into a
 * checkpoint, and if even that fails the journal still holds them for the next open.
 */
export async function withWriter<T>(ctx: RunContext, spec: string, fn: (w: FsWriter, vol: Volume) => Promise<T> | T): Promise<T> {
  const { Volume } = await import('../format/volume.js');
  const { FsWriter } = await import('../fs/ops.js');
  const vol = await Volume.open(spec, { writable: true, onDamage: damageReporter(ctx) });
  let result: T;
  try {
    result = await fn(await FsWriter.on(vol), vol);
  } catch (err) {
    try {
      vol.close();
    } catch {
      vol.abandon();
    }
    throw err;
  }
  vol.close();
  return result;
}
