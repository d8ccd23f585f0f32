// Pass 12: link counts.
// Checks every inode's nlink against what the earlier passes counted, with their repairs
// applied: a directory has 2 plus one per subdirectory; anything else one per entry naming it.
// An inode no entry names was reported by the directory pass already and is left alone here.
// Builds: nothing.
import type { Volume } from '../format/volume.js';
import { type FsckContext, Fixes } from './fsck-context.js';
import type { FsState } from './fsck-load.js';
import { kindWord } from './fsck-inodes.js';
import { INODE } from './fsck-state.js';
import { P } from './problems.js';

export function checkLinkCounts(ctx: FsckContext, vol: Volume, st: FsState): void {
  const fixes = new Fixes(vol, ctx);
  const t = st.inodes;
  for (let row = 0; row < t.count; row++) {
    ctx.progress(row);
    if (t.c.flags[row]! & INODE.removed) continue;
    const dir = t.isDir(row);
    if (!dir && t.c.links[row] === 0) continue;
    const counted = dir ? 2 + t.c.subdirs[row]! : t.c.links[row]!;
    const inode = t.c.inum[row]!;
    if (t.c.nlink[row] === counted) continue;
    // An inode fsck made this run gets its count as a matter of course.
    if (st.created.has(inode) || ctx.problem(P.NLINK_WRONG, { inode, kind: kindWord(t.c.mode[row]!), recorded: t.c.nlink[row]!, counted })) {
      fixes.updateInode(inode, { nlink: counted });
      t.c.nlink[row] = counted;
    }
  }
  fixes.commit('link counts');
}
