// strata ln: hard links, and symbolic links with -s.
import type { CommandSpec } from '../cli/command.js';
import { withWriter } from './common.js';

export const lnCommand: CommandSpec = {
  name: 'ln',
  summary: 'make a hard link, or with -s a symbolic link, inside an image',
  examples: ['strata ln disk.img /data/a /data/a-again', 'strata ln -s disk.img ../lib/libx.so.1 /usr/lib/libx.so'],
  configure(cmd, act) {
    cmd.argument('<image>').argument('<target>').argument('<link-path>').option('-s, --symbolic', 'make a symbolic link holding <target>')
      .action((image: string, target: string, linkPath: string, flags: { symbolic?: boolean }) => act(false, async (ctx) => {
        await withWriter(ctx, image, async (w) => {
          if (flags.symbolic) await w.symlink(Buffer.from(target), linkPath);
          else w.link(target, linkPath);
        });
        return 0;
      }));
  },
};
