// strata put: copy host files or trees into an image (cp -r naming).
import type { CommandSpec } from '../cli/command.js';
import { withWriter } from './common.js';
import { formatBytes } from '../cli/output.js';

export const putCommand: CommandSpec = {
  name: 'put',
  summary: 'copy host files or directories into an image',
  examples: ['strata put disk.img ./etc /', 'strata put disk.img notes.txt /home/notes.txt'],
  configure(cmd, act) {
    cmd.argument('<image>').argument('<host-src...>', 'host files or directories, then the image path')
      .option('--json', 'print one JSON document')
      .action((image: string, rest: string[], flags: { json?: boolean }) => act(Boolean(flags.json), async (ctx) => {
        const { UsageError } = await import('../format/errors.js');
        if (rest.length < 2) throw new UsageError('put needs at least one host source and an image path');
        const dest = rest[rest.length - 1]!;
        const { putPaths } = await import('../fs/put.js');
        const r = await withWriter(ctx, image, (w) => putPaths(w, rest.slice(0, -1), dest, { signal: ctx.signal, onWarning: (m) => ctx.out.warn(m), onProgress: (_f, b) => ctx.out.progress('put', b, undefined, 'bytes') }));
        if (ctx.out.json) ctx.out.document({ version: 1, command: 'put', ...r });
        else ctx.out.line(`put ${r.files} files (${formatBytes(r.bytes)}) into ${dest}`);
        return 0;
      }));
  },
};
