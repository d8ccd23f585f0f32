// strata mv: rename or move a file or directory (replacing a file or empty directory).
import type { CommandSpec } from '../cli/command.js';
import { withWriter } from './common.js';

export const mvCommand: CommandSpec = {
  name: 'mv',
  summary: 'rename or move a file or directory inside an image',
  examples: ['strata mv disk.img /a.txt /b.txt', 'strata mv disk.img /old-dir /new/place'],
  configure(cmd, act) {
    cmd.argument('<image>').argument('<from>').argument('<to>')
      .action((image: string, from: string, to: string) => act(false, async (ctx) => {
        const { moveInto } = await import('../fs/tree-ops.js');
        await withWriter(ctx, image, (w) => moveInto(w, from, to));
        return 0;
      }));
  },
};
