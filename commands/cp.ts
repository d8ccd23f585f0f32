// strata cp: copy files inside an image, sharing data with --reflink.
import type { CommandSpec } from '../cli/command.js';
import { withWriter } from './common.js';

export const cpCommand: CommandSpec = {
  name: 'cp',
  summary: 'copy a file (or with -r a tree) inside an image; --reflink shares the data',
  examples: ['strata cp --reflink disk.img /data/base.qcow2 /data/clone.qcow2', 'strata cp -r disk.img /etc /etc.bak'],
  configure(cmd, act) {
    cmd.argument('<image>').argument('<src-path>').argument('<dst-path>')
      .option('--reflink', 'share the source\'s data instead of copying it; later writes copy only what they change')
      .option('-r, --recursive', 'copy directories recursively')
      .action((image: string, src: string, dst: string, flags: { reflink?: boolean; recursive?: boolean }) => act(false, async (ctx) => {
        const { copyTree } = await import('../fs/tree-ops.js');
        await withWriter(ctx, image, (w) => copyTree(w, src, dst, { reflink: Boolean(flags.reflink), recursive: Boolean(flags.recursive), signal: ctx.signal }));
        return 0;
      }));
  },
};
