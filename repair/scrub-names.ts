// Naming damage: the paths of inodes, found by one pass over the dirents btree. Built only
// when there is damage to name. Each dirent naming a wanted inode is kept, and so is the one
// dirent of every directory (directories have exactly one name), so a path is assembled by
// climbing from the named inode's directory to the root.
//
// The pass is as tolerant as the scrub walk: an unreadable dirents node leaves some names
// unknown (`complete` is false) instead of failing the report.
import type { Image } from '../format/image.js';
import { BadValueError, escapeName, ops } from '../format/keys.js';
import { BTREE, DT, KEY_TYPE, ROOT_INODE } from '../format/layout.js';
import { walkBtree } from './scrub-plan.js';

/** Deeper than any tree a writer accepts (fs/export.ts walks at most 4096 levels). */
const MAX_PATH_DEPTH = 4096;

export interface PathIndex {
  /** every path naming the inode, sorted; empty when none was found */
  pathsOf(inode: number): string[];
  /** inodes of the wanted range that some dirent names, with whether each is a directory */
  namedInodes(): Array<{ inode: number; isDir: boolean }>;
  /** false when some dirents could not be read, so some names may be missing */
  complete: boolean;
}

interface Name { dir: number; name: Buffer; isDir: boolean }

export function buildPathIndex(img: Image, wanted: (inode: number) => boolean): PathIndex {
  const dirNames = new Map<number, Name>();
  const wantedNames = new Map<number, Name[]>();
  let complete = true;
  const warnings: string[] = [];
  walkBtree(img, BTREE.dirents, {
    node: (_target, decoded) => {
      if (!decoded) complete = false;
    },
    leafKey: (_btree, key) => {
      if (key.type !== KEY_TYPE.dirent) return;
      let d;
      try {
        d = ops.dirent.decode(key.value);
      } catch (err) {
        if (err instanceof BadValueError || err instanceof RangeError) return;
        throw err;
      }
      const entry: Name = { dir: key.inode, name: d.name, isDir: d.dType === DT.dir };
      if (entry.isDir && !dirNames.has(d.target)) dirNames.set(d.target, entry);
      if (wanted(d.target)) {
        const list = wantedNames.get(d.target) ?? [];
        list.push(entry);
        wantedNames.set(d.target, list);
      }
    },
  }, warnings);
  if (warnings.length > 0) complete = false;

  const dirPaths = new Map<number, string | undefined>([[ROOT_INODE, '']]);
  const dirPath = (dir: number): string | undefined => {
    // Climb to a directory whose path is known (the root, at least), then fill in downwards.
    // A loop, a missing dirent or too deep a chain leaves the whole chain unnamed.
    const chain: number[] = [];
    const onChain = new Set<number>();
    let at = dir;
    while (!dirPaths.has(at)) {
      const up = dirNames.get(at);
      if (!up || onChain.has(at) || chain.length >= MAX_PATH_DEPTH) {
        for (const d of chain) dirPaths.set(d, undefined);
        dirPaths.set(at, undefined);
        return undefined;
      }
      chain.push(at);
      onChain.add(at);
      at = up.dir;
    }
    let known = dirPaths.get(at);
    for (let i = chain.length - 1; i >= 0; i--) {
      const d = chain[i]!;
      known = known === undefined ? undefined : `${known}/${escapeName(dirNames.get(d)!.name)}`;
      dirPaths.set(d, known);
    }
    return known;
  };

  return {
    complete,
    pathsOf(inode) {
      if (inode === ROOT_INODE) return ['/'];
      const out: string[] = [];
      for (const n of wantedNames.get(inode) ?? []) {
        const parent = dirPath(n.dir);
        if (parent !== undefined) out.push(`${parent}/${escapeName(n.name)}`);
      }
      return out.sort();
    },
    namedInodes() {
      return [...wantedNames.entries()].map(([inode, names]) => ({ inode, isDir: names.some((n) => n.isDir) })).sort((a, b) => a.inode - b.inode);
    },
  };
}
