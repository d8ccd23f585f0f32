// A btree being changed: nodes are loaded from disk on first touch and kept in memory; an
// update marks its leaf and every ancestor dirty; a checkpoint writes dirty nodes
// copy-on-write (children before parents, each to a new location) and the caller then writes
// superblocks naming the new root. Clean subtrees are never read unless touched.
//
// Invariants: the node ranges of each level tile the key space; an interior key's position is
// its child's max; a dirty child is always loaded (children[i] set), so the stale value of its
// parent key is never decoded; a node over node_size after an insert is split at once.
import { comparePos, decodeBtreePointer, encodeBtreePointer, type Key, type Pos, POS_MAX, POS_MIN, posSuccessor, type Ptr } from '../keys.js';
import { KEY_TYPE, MAX_BTREE_DEPTH } from '../layout.js';
import { CorruptImageError } from '../errors.js';
import { keySpace, type LeafKeyVisitor, NODE_HEADER_SIZE, type DecodedNode, type NodeContent } from './node.js';
import { packRuns } from './build.js';
import type { RootInfo } from '../superblock.js';

export interface NodeSource {
  readNode(pointers: Ptr[], expect: { btreeId: number; level: number; checksum?: bigint; seq?: number; min?: Pos; max?: Pos }): DecodedNode;
  /** Each key of the leaf readNode would return, read in place. */
  visitLeaf(pointers: Ptr[], expect: { btreeId: number; level: 0; checksum?: bigint; seq?: number; min?: Pos; max?: Pos }, visit: LeafKeyVisitor): void;
}

interface DiskLocation {
  pointers: Ptr[];
  checksum: bigint;
  seq: number;
}

export class MNode {
  children: Array<MNode | undefined> | undefined;
  dirty = false;
  constructor(
    public level: number,
    public min: Pos,
    public max: Pos,
    public keys: Key[],
    public usedBytes: number,
    public disk: DiskLocation | undefined,
  ) {
    if (level > 0) this.children = new Array(keys.length);
  }
}

function usedOf(keys: Key[]): number {
  let n = NODE_HEADER_SIZE;
  for (const k of keys) n += keySpace(k.value.length);
  return n;
}

/** Position of `p` in sorted keys: index of the first key >= p. */
function lowerBound(keys: Key[], p: Pos): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (comparePos(keys[mid]!, p) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const POINTER_PLACEHOLDER = Buffer.alloc(48 + 16 * 4);

export class MutableBtree {
  root: MNode;
  /** key updates (insert, delete) since the tree was opened: a reader can tell that what it read is still what the tree holds */
  changes = 0;

  /** `rootInfo` null: a new, empty tree held in memory (fsck rebuilds a damaged tree from salvaged keys into one). */
  constructor(
    private readonly source: NodeSource,
    readonly id: number,
    rootInfo: RootInfo | null,
    private readonly nodeSize: number,
  ) {
    if (rootInfo === null) {
      this.root = new MNode(0, POS_MIN, POS_MAX, [], NODE_HEADER_SIZE, undefined);
      this.root.dirty = true;
      return;
    }
    const node = source.readNode(rootInfo.pointers, { btreeId: id, level: rootInfo.level, checksum: rootInfo.checksum, seq: rootInfo.seq, min: POS_MIN, max: POS_MAX });
    this.root = this.fromDisk(node, { pointers: rootInfo.pointers, checksum: rootInfo.checksum, seq: rootInfo.seq });
  }

  private fromDisk(node: DecodedNode, disk: DiskLocation): MNode {
    // Copy keys out of the node buffer so later edits never alias disk bytes.
    const keys = node.keys.map((k) => ({ ...k, value: Buffer.from(k.value) }));
    return new MNode(node.level, node.min, node.max, keys, node.usedBytes, disk);
  }

  private child(parent: MNode, i: number): MNode {
    const loaded = parent.children![i];
    if (loaded) return loaded;
    const key = parent.keys[i]!;
    const ptr = decodeBtreePointer(key.value);
    const node = this.source.readNode(ptr.pointers, {
      btreeId: this.id, level: parent.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max: { inode: key.inode, offset: key.offset, snapshot: key.snapshot },
    });
    const m = this.fromDisk(node, { pointers: ptr.pointers, checksum: ptr.checksum, seq: ptr.seq });
    parent.children![i] = m;
    return m;
  }

  /** Path from the root to the leaf whose range holds `p`: [node, child index] per interior level. */
  private pathTo(p: Pos): Array<{ node: MNode; index: number }> {
    const path: Array<{ node: MNode; index: number }> = [];
    let node = this.root;
    while (node.level > 0) {
      if (path.length >= MAX_BTREE_DEPTH) throw new Error(`btree ${this.id} deeper than ${MAX_BTREE_DEPTH}`);
      const i = Math.min(lowerBound(node.keys, p), node.keys.length - 1);
      path.push({ node, index: i });
      node = this.child(node, i);
    }
    path.push({ node, index: lowerBound(node.keys, p) });
    return path;
  }

  get(p: Pos): Key | undefined {
    const path = this.pathTo(p);
    const { node, index } = path[path.length - 1]!;
    const k = node.keys[index];
    return k && comparePos(k, p) === 0 ? k : undefined;
  }

  next(p: Pos): Key | undefined {
    for (const k of this.range(p, POS_MAX)) return k;
    return undefined;
  }

  *range(from: Pos = POS_MIN, to: Pos = POS_MAX): Generator<Key> {
    yield* this.walk(from, to, (node, i) => this.child(node, i));
  }

  /**
   * Like `range`, but a clean subtree not loaded yet is read and dropped again instead of kept:
   * a full walk (fsck) holds one path of nodes, not the whole tree. Loaded nodes, and so every
   * change not yet checkpointed, are seen as they are in memory.
   */
  *scan(from: Pos = POS_MIN, to: Pos = POS_MAX): Generator<Key> {
    yield* this.walk(from, to, (node, i) => node.children![i] ?? this.readChild(node, i));
  }

  /** Keys from `from` to `to` in order, descending through `childAt`; depth-bounded against cycles. */
  private *walk(from: Pos, to: Pos, childAt: (node: MNode, i: number) => MNode): Generator<Key> {
    const stack: Array<{ node: MNode; index: number }> = [{ node: this.root, index: 0 }];
    stack[0]!.index = this.root.level > 0 ? lowerBound(this.root.keys, from) : 0;
    while (stack.length) {
      const frame = stack[stack.length - 1]!;
      const node = frame.node;
      if (node.level === 0) {
        stack.pop();
        for (let i = lowerBound(node.keys, from); i < node.keys.length; i++) {
          const k = node.keys[i]!;
          if (comparePos(k, to) > 0) return;
          yield k;
        }
        continue;
      }
      if (frame.index >= node.keys.length) {
        stack.pop();
        continue;
      }
      const i = frame.index++;
      const child = childAt(node, i);
      if (comparePos(child.min, to) > 0) return;
      if (stack.length >= MAX_BTREE_DEPTH) throw new CorruptImageError(`btree ${this.id} deeper than ${MAX_BTREE_DEPTH} levels`, { structure: `btree ${this.id}` });
      stack.push({ node: child, index: child.level > 0 ? lowerBound(child.keys, from) : 0 });
    }
  }

  /**
   * Every key, in order, exactly as a full `scan` yields them, for a reader that looks at each
   * key once and keeps nothing of it (fsck's passes): a clean leaf not loaded is read in place
   * (NodeSource.visitLeaf) without a key object per key; a loaded one, with the changes not yet
   * checkpointed, passes each key's value buffer. Interior nodes are read and dropped as in
   * `scan`, with the same depth bound.
   */
  visitAll(visit: LeafKeyVisitor): void {
    const stack: Array<{ node: MNode; index: number }> = [{ node: this.root, index: 0 }];
    while (stack.length) {
      const frame = stack[stack.length - 1]!;
      const node = frame.node;
      if (node.level === 0) {
        stack.pop();
        for (const k of node.keys) visit(k.inode, k.offset, k.snapshot, k.type, k.value, 0, k.value.length);
        continue;
      }
      if (frame.index >= node.keys.length) {
        stack.pop();
        continue;
      }
      const i = frame.index++;
      const loaded = node.children![i];
      if (!loaded && node.level === 1) {
        if (stack.length >= MAX_BTREE_DEPTH) throw new CorruptImageError(`btree ${this.id} deeper than ${MAX_BTREE_DEPTH} levels`, { structure: `btree ${this.id}` });
        const key = node.keys[i]!;
        const ptr = decodeBtreePointer(key.value);
        this.source.visitLeaf(ptr.pointers, {
          btreeId: this.id, level: 0, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max: { inode: key.inode, offset: key.offset, snapshot: key.snapshot },
        }, visit);
        continue;
      }
      const child = loaded ?? this.readChild(node, i);
      if (stack.length >= MAX_BTREE_DEPTH) throw new CorruptImageError(`btree ${this.id} deeper than ${MAX_BTREE_DEPTH} levels`, { structure: `btree ${this.id}` });
      stack.push({ node: child, index: 0 });
    }
  }

  private readChild(parent: MNode, i: number): MNode {
    const key = parent.keys[i]!;
    const ptr = decodeBtreePointer(key.value);
    const node = this.source.readNode(ptr.pointers, {
      btreeId: this.id, level: parent.level - 1, checksum: ptr.checksum, seq: ptr.seq, min: ptr.min, max: { inode: key.inode, offset: key.offset, snapshot: key.snapshot },
    });
    return new MNode(node.level, node.min, node.max, node.keys, node.usedBytes, { pointers: ptr.pointers, checksum: ptr.checksum, seq: ptr.seq });
  }

  /**
   * Where every node written to disk lives, parents before children: the copies a checkpoint
   * releases when the node changes. Leaves are not read (their pointers are in the parent);
   * unloaded interior nodes are read and dropped. Nodes not yet written have no location.
   */
  *nodeLocations(): Generator<{ level: number; min: Pos; max: Pos; pointers: Ptr[] }> {
    const stack: MNode[] = [this.root];
    while (stack.length) {
      const node = stack.pop()!;
      if (node.disk) yield { level: node.level, min: node.min, max: node.max, pointers: node.disk.pointers };
      if (node.level === 0) continue;
      for (let i = node.keys.length - 1; i >= 0; i--) {
        const loaded = node.children![i];
        if (loaded) stack.push(loaded);
        else if (node.level === 1) {
          const key = node.keys[i]!;
          const ptr = decodeBtreePointer(key.value);
          yield { level: 0, min: ptr.min, max: { inode: key.inode, offset: key.offset, snapshot: key.snapshot }, pointers: ptr.pointers };
        } else stack.push(this.readChild(node, i));
      }
    }
  }

  /**
   * Give a tree that is new in memory (constructed with a null root) the keys `sorted`, packed
   * 7/8 full bottom-up as a bulk build packs them (inserting one by one would leave every node
   * half full): fsck rebuilding a damaged btree. Every node is dirty; none has a disk location.
   */
  loadSorted(sorted: Key[]): void {
    if (this.root.disk || this.root.keys.length) throw new Error('loadSorted needs a new, empty tree');
    let level = 0;
    let nodes = this.levelOf(packRuns(sorted, this.nodeSize, 7 / 8), 0, []);
    while (nodes.length > 1) {
      const children = nodes;
      const pointers: Key[] = children.map((c) => ({ ...c.max, type: KEY_TYPE.btreePointer, value: POINTER_PLACEHOLDER }));
      nodes = this.levelOf(packRuns(pointers, this.nodeSize, 7 / 8), ++level, children);
    }
    this.root = nodes[0]!;
  }

  /** One level of dirty nodes tiling the key space; interior ones adopt `children` in order. */
  private levelOf(runs: Key[][], level: number, children: MNode[]): MNode[] {
    let min: Pos = POS_MIN;
    let next = 0;
    return runs.map((keys, i) => {
      const last = i === runs.length - 1;
      const max: Pos = last ? POS_MAX : { inode: keys[keys.length - 1]!.inode, offset: keys[keys.length - 1]!.offset, snapshot: keys[keys.length - 1]!.snapshot };
      const node = new MNode(level, min, max, keys, usedOf(keys), undefined);
      if (level > 0) {
        node.children = children.slice(next, next + keys.length);
        next += keys.length;
      }
      node.dirty = true;
      if (!last) min = posSuccessor(max);
      return node;
    });
  }

  /** Mark every node on the path to `p` dirty: the next checkpoint writes them to new places. */
  rewrite(p: Pos): void {
    this.markDirty(this.pathTo(p));
  }

  /** Every node, parents before children, as decoded-node views (for dump and fsck). */
  *nodes(): Generator<{ node: DecodedNode; depth: number }> {
    const stack: Array<{ node: MNode; depth: number }> = [{ node: this.root, depth: 0 }];
    while (stack.length) {
      const { node, depth } = stack.pop()!;
      yield { node: { btreeId: this.id, level: node.level, seq: node.disk?.seq ?? 0, min: node.min, max: node.max, keys: node.keys, checksum: node.disk?.checksum ?? 0n, usedBytes: node.usedBytes }, depth };
      if (node.level > 0) for (let i = node.keys.length - 1; i >= 0; i--) stack.push({ node: this.child(node, i), depth: depth + 1 });
    }
  }

  /** Insert or replace the key at its position; returns the key it replaced. */
  insert(key: Key): Key | undefined {
    this.changes++;
    const path = this.pathTo(key);
    const leafFrame = path[path.length - 1]!;
    const leaf = leafFrame.node;
    const existing = leaf.keys[leafFrame.index];
    let old: Key | undefined;
    if (existing && comparePos(existing, key) === 0) {
      old = existing;
      leaf.keys[leafFrame.index] = key;
      leaf.usedBytes += keySpace(key.value.length) - keySpace(existing.value.length);
    } else {
      leaf.keys.splice(leafFrame.index, 0, key);
      leaf.usedBytes += keySpace(key.value.length);
    }
    this.markDirty(path);
    this.splitIfNeeded(path);
    return old;
  }

  /** Remove the key at `p`; returns it, or undefined when there was none. */
  delete(p: Pos): Key | undefined {
    this.changes++;
    const path = this.pathTo(p);
    const { node, index } = path[path.length - 1]!;
    const k = node.keys[index];
    if (!k || comparePos(k, p) !== 0) return undefined;
    node.keys.splice(index, 1);
    node.usedBytes -= keySpace(k.value.length);
    this.markDirty(path);
    return k;
  }

  private markDirty(path: Array<{ node: MNode }>): void {
    for (const f of path) f.node.dirty = true;
  }

  /** Split overfull nodes bottom-up along `path`, growing a new root when the root splits. */
  private splitIfNeeded(path: Array<{ node: MNode; index: number }>): void {
    for (let depth = path.length - 1; depth >= 0; depth--) {
      const node = path[depth]!.node;
      if (node.usedBytes <= this.nodeSize) return;
      // Split by bytes, so each half fits whatever the value sizes.
      let acc = NODE_HEADER_SIZE;
      let mid = 0;
      while (mid < node.keys.length - 1 && acc + keySpace(node.keys[mid]!.value.length) <= node.usedBytes / 2) acc += keySpace(node.keys[mid++]!.value.length);
      mid = Math.max(1, mid);
      const leftKeys = node.keys.slice(0, mid);
      const rightKeys = node.keys.slice(mid);
      const last = leftKeys[leftKeys.length - 1]!;
      const leftMax: Pos = { inode: last.inode, offset: last.offset, snapshot: last.snapshot };
      const left = new MNode(node.level, node.min, leftMax, leftKeys, usedOf(leftKeys), undefined);
      const right = new MNode(node.level, posSuccessor(leftMax), node.max, rightKeys, usedOf(rightKeys), undefined);
      if (node.level > 0) {
        left.children = node.children!.slice(0, mid);
        right.children = node.children!.slice(mid);
        // Clean children keep their pointer keys as they are; only dirty ones (always loaded)
        // are re-encoded when written.
      }
      left.dirty = right.dirty = true;
      this.retired.push(node);
      const leftKey: Key = { ...leftMax, type: KEY_TYPE.btreePointer, value: POINTER_PLACEHOLDER };
      if (depth === 0) {
        const rightKey: Key = { ...node.max, type: KEY_TYPE.btreePointer, value: POINTER_PLACEHOLDER };
        const root = new MNode(node.level + 1, POS_MIN, POS_MAX, [leftKey, rightKey], usedOf([leftKey, rightKey]), undefined);
        root.children = [left, right];
        root.dirty = true;
        this.root = root;
        return;
      }
      const parentFrame = path[depth - 1]!;
      const parent = parentFrame.node;
      const i = parentFrame.index;
      parent.keys.splice(i, 0, leftKey);
      parent.children!.splice(i, 1, left, right);
      parent.usedBytes += keySpace(leftKey.value.length);
    }
  }

  /** Nodes replaced by a split: their old disk copies are freed at the next checkpoint. */
  retired: MNode[] = [];

  get isDirty(): boolean {
    return this.root.dirty || this.retired.length > 0;
  }

  /**
   * Write every dirty node, children first. `write` places and writes one node and returns its
   * location; `release` is told about every disk copy that is no longer referenced.
   */
  writeDirty(seq: number, write: (content: NodeContent) => DiskLocation, release: (old: DiskLocation) => void): RootInfo {
    for (const r of this.retired) if (r.disk) release(r.disk);
    this.retired = [];
    const visit = (node: MNode): void => {
      if (!node.dirty) return;
      if (node.level > 0) {
        node.children!.forEach((child, i) => {
          if (!child || !child.dirty) return;
          visit(child);
          node.keys[i] = { ...node.keys[i]!, value: encodeBtreePointer({ level: child.level, checksum: child.disk!.checksum, seq: child.disk!.seq, min: child.min, pointers: child.disk!.pointers }) };
        });
        node.usedBytes = usedOf(node.keys);
      }
      if (node.disk) release(node.disk);
      node.disk = write({ btreeId: this.id, level: node.level, seq, min: node.min, max: node.max, keys: node.keys });
      node.dirty = false;
    };
    visit(this.root);
    const r = this.root.disk!;
    return { btreeId: this.id, level: this.root.level, checksum: r.checksum, seq: r.seq, pointers: r.pointers };
  }

  /** Replace the whole tree by a fresh empty leaf (alloc rebuild); old nodes are released at write. */
  resetToEmpty(): void {
    const all: MNode[] = [];
    const stack = [this.root];
    while (stack.length) {
      const n = stack.pop()!;
      all.push(n);
      if (n.level > 0) n.keys.forEach((_, i) => stack.push(this.child(n, i)));
    }
    this.retired.push(...all);
    this.root = new MNode(0, POS_MIN, POS_MAX, [], NODE_HEADER_SIZE, undefined);
    this.root.dirty = true;
  }
}
