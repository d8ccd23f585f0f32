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
  const c = t.c;
  for (let row = 0; row < t.count; row++) {
    ctx.progress(row);
    if (c.flags[row]! & INODE.removed) continue;
    const dir = (c.mode[row]! & 0o170000) === 0o040000;
    if (!dir && c.links[row] === 0) continue;
    const counted = dir ? 2 + c.subdirs[row]! : c.links[row]!;
    if (c.nlink[row] === counted) continue;
    const inode = c.inum[row]!;
    // An inode fsck made this run gets its count as a matter of course.
    if (st.created.has(inode) || ctx.problem(P.NLINK_WRONG, { inode, kind: kindWord(c.mode[row]!), recorded: c.nlink[row]!, counted })) {
      fixes.updateInode(inode, { nlink: counted });
      c.nlink[row] = counted;
    }
  }
  fixes.commit('link counts');
}
