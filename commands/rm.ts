// strata rm: remove files, and with -r whole trees.
import type { CommandSpec } from '../cli/command.js';
import { withWriter } from './common.js';

export const rmCommand: CommandSpec = {
  name: 'rm',
  summary: 'remove files or (with -r) directory trees from an image',
  examples: ['strata rm disk.img /tmp/old.log', 'strata rm -r disk.img /var/cache'],
  configure(cmd, act) {
    cmd.argument('<image>').argument('<path...>').option('-r, --recursive', 'remove directories and their contents')
      .action((image: string, paths: string[], flags: { recursive?: boolean }) => act(false, async (ctx) => {
        const { removeTree } = await import('../fs/tree-ops.js');
        await withWriter(ctx, image, (w) => {
          for (const p of paths) removeTree(w, p, Boolean(flags.recursive), ctx.signal);
        });
        return 0;
      }));
  },
};
