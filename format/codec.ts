// Field tables: every fixed-size on-disk structure is declared once as an ordered list of
// fields (name, kind, meaning, unit). Offsets, size, encode, decode, the `dump` printer and the
// tables in docs/FORMAT.md are all derived from that one declaration, so there is no second
// hand-kept list of the same fields anywhere.
//
// All integers are little-endian. 64-bit fields are JS numbers bounded by 2^53 - 1 (a larger
// value on disk is corruption and raises FieldRangeError); checksums are the one 64-bit field
// kept whole, as bigint.
import { CorruptImageError } from './errors.js';

export type FieldKind =
  | 'u8' | 'i8' | 'u16' | 'u32' | 'u64' | 'i64'
  | 'csum64'
  | 'uuid'
  | `bytes:${number}`;

export interface FieldDef {
  readonly name: string;
  readonly kind: FieldKind;
  /** meaning, in one phrase, for FORMAT.md and dump */
  readonly doc: string;
  /** unit of the value, when it has one: "bytes", "ns", "s", "buckets" ... */
  readonly unit?: string;
}

type KindValue<K> = K extends 'csum64' ? bigint : K extends 'uuid' | `bytes:${number}` ? Buffer : number;

export type StructValue<F extends readonly FieldDef[]> = {
  -readonly [D in F[number] as D['name']]: KindValue<D['kind']>;
};

export interface PlacedField extends FieldDef {
  readonly offset: number;
  readonly size: number;
}

/**
 * A value on disk that cannot be represented or is out of its documented range. It is a
 * CorruptImageError, so one that escapes a reader reaches the user as a one-line corruption
 * error (exit 8), never as an internal error.
 */
export class FieldRangeError extends CorruptImageError {
  constructor(
    readonly structName: string,
    readonly field: string,
    readonly fieldOffset: number,
    detail: string,
  ) {
    super(`${structName}.${field}: ${detail}`, {});
  }
}

const TWO_32 = 2 ** 32;

export function kindSize(kind: FieldKind): number {
  switch (kind) {
    case 'u8': case 'i8': return 1;
    case 'u16': return 2;
    case 'u32': return 4;
    case 'u64': case 'i64': case 'csum64': return 8;
    case 'uuid': return 16;
    default: {
      const n = Number(kind.slice('bytes:'.length));
      if (!Number.isInteger(n) || n <= 0) throw new Error(`bad field kind ${kind}`);
      return n;
    }
  }
}

export function readU64(buf: Buffer, at: number): number {
  const lo = buf.readUInt32LE(at);
  const hi = buf.readUInt32LE(at + 4);
  if (hi > 0x1fffff) return -1; // caller turns this into a range error: above 2^53 - 1
  return hi * TWO_32 + lo;
}

export function writeU64(buf: Buffer, at: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64 value out of range: ${value}`);
  buf.writeUInt32LE(value % TWO_32, at);
  buf.writeUInt32LE(Math.floor(value / TWO_32), at + 4);
}

export class Struct<F extends readonly FieldDef[]> {
  readonly fields: readonly PlacedField[];
  readonly size: number;
  private readonly byName: Map<string, PlacedField>;

  constructor(
    readonly name: string,
    readonly doc: string,
    defs: F,
  ) {
    let offset = 0;
    const placed: PlacedField[] = [];
    for (const def of defs) {
      const size = kindSize(def.kind);
      placed.push({ ...def, offset, size });
      offset += size;
    }
    this.fields = placed;
    this.size = offset;
    this.byName = new Map(placed.map((f) => [f.name, f]));
    if (this.byName.size !== placed.length) throw new Error(`${name}: duplicate field name`);
    this.compiled = compileDecoder(this);
  }

  field(name: string): PlacedField {
    const f = this.byName.get(name);
    if (!f) throw new Error(`${this.name} has no field ${name}`);
    return f;
  }

  /** Decode from `buf` at `at`. Throws FieldRangeError for values JS cannot hold exactly. */
  decode(buf: Buffer, at = 0): StructValue<F> {
    return this.compiled(buf, at) as StructValue<F>;
  }

  /**
   * The same decode, straight-line: one function per structure built from the field table once
   * (no loop, no switch, an object of one fixed shape), since decode runs for every key of
   * every node a reader or fsck walks. `decodeByTable` is the reference it must equal.
   */
  private readonly compiled: (buf: Buffer, at: number) => Record<string, unknown>;

  decodeByTable(buf: Buffer, at = 0): StructValue<F> {
    if (at < 0 || at + this.size > buf.length) {
      throw new FieldRangeError(this.name, '*', at, `needs ${this.size} bytes at ${at}, buffer has ${buf.length}`);
    }
    const out: Record<string, number | bigint | Buffer> = {};
    for (const f of this.fields) {
      const p = at + f.offset;
      switch (f.kind) {
        case 'u8': out[f.name] = buf[p]!; break;
        case 'i8': out[f.name] = buf.readInt8(p); break;
        case 'u16': out[f.name] = buf.readUInt16LE(p); break;
        case 'u32': out[f.name] = buf.readUInt32LE(p); break;
        case 'u64': {
          const v = readU64(buf, p);
          if (v < 0) throw new FieldRangeError(this.name, f.name, f.offset, 'value above 2^53-1');
          out[f.name] = v;
          break;
        }
        case 'i64': {
          const v = buf.readBigInt64LE(p);
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
            throw new FieldRangeError(this.name, f.name, f.offset, 'value beyond +-2^53-1');
          }
          out[f.name] = Number(v);
          break;
        }
        case 'csum64': out[f.name] = buf.readBigUInt64LE(p); break;
        default: out[f.name] = Buffer.from(buf.subarray(p, p + f.size));
      }
    }
    return out as StructValue<F>;
  }

  /** Encode into `buf` at `at` (a new zeroed buffer of `size` when not given). */
  encode(value: StructValue<F>, buf: Buffer = Buffer.alloc(this.size), at = 0): Buffer {
    const v = value as Record<string, number | bigint | Buffer>;
    for (const f of this.fields) {
      const p = at + f.offset;
      const x = v[f.name];
      switch (f.kind) {
        case 'u8': buf[p] = x as number; break;
        case 'i8': buf.writeInt8(x as number, p); break;
        case 'u16': buf.writeUInt16LE(x as number, p); break;
        case 'u32': buf.writeUInt32LE(x as number, p); break;
        case 'u64': writeU64(buf, p, x as number); break;
        case 'i64': buf.writeBigInt64LE(BigInt(x as number), p); break;
        case 'csum64': buf.writeBigUInt64LE(x as bigint, p); break;
        default: {
          const bytes = x as Buffer;
          if (bytes.length > f.size) throw new RangeError(`${this.name}.${f.name}: ${bytes.length} bytes do not fit in ${f.size}`);
          buf.fill(0, p, p + f.size);
          bytes.copy(buf, p);
        }
      }
    }
    return buf;
  }

  /** A zero value: every number 0, every byte field zero-filled. */
  zero(): StructValue<F> {
    return this.decode(Buffer.alloc(this.size));
  }

  /** Field name, offset and printable value, in declaration order, for `dump`. */
  describe(value: StructValue<F>): Array<{ name: string; offset: number; value: string; unit?: string }> {
    const v = value as Record<string, number | bigint | Buffer>;
    return this.fields.map((f) => ({ name: f.name, offset: f.offset, value: printField(f, v[f.name]!), unit: f.unit }));
  }

  /** The Markdown table of this structure for docs/FORMAT.md. */
  markdownTable(): string {
    const rows = this.fields.map((f) => `| ${f.offset} | ${f.size} | \`${f.name}\` | ${f.kind} | ${f.unit ?? ''} | ${f.doc} |`);
    return [`| offset | size | field | type | unit | meaning |`, `|---:|---:|---|---|---|---|`, ...rows, `| ${this.size} | | | | | *end: ${this.size} bytes* |`].join('\n');
  }
}

function compileDecoder(s: { name: string; size: number; fields: readonly PlacedField[] }): (buf: Buffer, at: number) => Record<string, unknown> {
  const lines: string[] = [
    'return function decode(buf, at) {',
    `  if (at < 0 || at + ${s.size} > buf.length) throw new FieldRangeError(NAME, '*', at, 'needs ${s.size} bytes at ' + at + ', buffer has ' + buf.length);`,
  ];
  const values = s.fields.map((f, i) => {
    const p = `at + ${f.offset}`;
    const v = `v${i}`;
    const name = JSON.stringify(f.name);
    switch (f.kind) {
      case 'u8': lines.push(`  const ${v} = buf[${p}];`); break;
      case 'i8': lines.push(`  const ${v} = buf.readInt8(${p});`); break;
      case 'u16': lines.push(`  const ${v} = buf.readUInt16LE(${p});`); break;
      case 'u32': lines.push(`  const ${v} = buf.readUInt32LE(${p});`); break;
      case 'u64':
        lines.push(`  const ${v} = readU64(buf, ${p});`, `  if (${v} < 0) throw new FieldRangeError(NAME, ${name}, ${f.offset}, 'value above 2^53-1');`);
        break;
      case 'i64':
        lines.push(`  const ${v}b = buf.readBigInt64LE(${p});`, `  if (${v}b > MAX || ${v}b < MIN) throw new FieldRangeError(NAME, ${name}, ${f.offset}, 'value beyond +-2^53-1');`, `  const ${v} = Number(${v}b);`);
        break;
      case 'csum64': lines.push(`  const ${v} = buf.readBigUInt64LE(${p});`); break;
      default: lines.push(`  const ${v} = Buffer.from(buf.subarray(${p}, ${p} + ${f.size}));`);
    }
    return `${name}: ${v}`;
  });
  lines.push(`  return { ${values.join(', ')} };`, '};');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- built only from the field table above
  const factory = new Function('readU64', 'FieldRangeError', 'NAME', 'MAX', 'MIN', 'Buffer', lines.join('\n')) as (...args: unknown[]) => (buf: Buffer, at: number) => Record<string, unknown>;
  return factory(readU64, FieldRangeError, s.name, BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MIN_SAFE_INTEGER), Buffer);
}

export function struct<const F extends readonly FieldDef[]>(name: string, doc: string, fields: F): Struct<F> {
  return new Struct(name, doc, fields);
}

export function formatUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function parseUuid(text: string): Buffer | undefined {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex');
}

function printField(f: PlacedField, x: number | bigint | Buffer): string {
  if (f.kind === 'csum64') return `0x${(x as bigint).toString(16).padStart(16, '0')}`;
  if (f.kind === 'uuid') return formatUuid(x as Buffer);
  if (Buffer.isBuffer(x)) {
    const end = x.indexOf(0);
    const text = x.subarray(0, end < 0 ? x.length : end);
    return /^[\x20-\x7e]*$/.test(text.toString('latin1')) ? JSON.stringify(text.toString('latin1')) : x.toString('hex');
  }
  return String(x);
}
