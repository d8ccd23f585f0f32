// strata mkdir: create directories.
import type { CommandSpec } from '../cli/command.js';
import { withWriter } from './common.js';

export const mkdirCommand: CommandSpec = {
  name: 'mkdir',
  summary: 'create directories in an image',
  examples: ['strata mkdir disk.img /srv', 'strata mkdir -p disk.img /srv/www/static'],
  configure(cmd, act) {
    cmd.argument('<image>').argument('<path...>').option('-p, --parents', 'make parent directories as needed; no error if existing')
      .option('-m, --mode <octal>', 'permission bits', '755')
      .action((image: string, paths: string[], flags: { parents?: boolean; mode: string }) => act(false, async (ctx) => {
        const { UsageError } = await import('../format/errors.js');
        if (!/^[0-7]{1,4}$/.test(flags.mode)) throw new UsageError(`--mode: "${flags.mode}" is not an octal mode`);
        await withWriter(ctx, image, async (w) => {
          for (const p of paths) await w.mkdir(p, { perm: parseInt(flags.mode, 8) }, Boolean(flags.parents));
        });
        return 0;
      }));
  },
};
