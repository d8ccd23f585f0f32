// Just enough of a WebAssembly binary encoder to emit the GF(2^8) kernel: i32 arithmetic,
// structured control flow, locals, and the handful of SIMD (v128) instructions the split-nibble
// multiply needs. Emitting bytes from TypeScript keeps the runtime free of any build step or
// generated blob, and keeps the kernel's source readable next to the code that calls it.
//
// Encoding reference: WebAssembly Core Specification 2.0, section 5 (binary format); SIMD opcodes
// are 0xfd followed by the LEB128 opcode number from the same specification.

export const ValueType = {
  I32: 0x7f,
  V128: 0x7b,
} as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

/** Opcodes of the instructions this assembler emits (single-byte, non-SIMD). */
const Op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32Ne: 0x47,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Mul: 0x6c,
} as const;

/** SIMD opcode numbers (encoded as 0xfd, then the number as unsigned LEB128). */
const SimdOp = {
  v128Load: 0x00,
  v128Store: 0x0b,
  v128Const: 0x0c,
  i8x16Swizzle: 0x0e,
  v128And: 0x4e,
  v128Xor: 0x51,
  i16x8ShrU: 0x8d,
  i8x16RelaxedSwizzle: 0x100,
} as const;

const SIMD_PREFIX = 0xfd;
const EMPTY_BLOCK_TYPE = 0x40;

function unsignedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`wasm assembler: ${value} is not a u32`);
  }
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

function signedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new RangeError(`wasm assembler: ${value} is not an i32`);
  }
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const signBitClear = (byte & 0x40) === 0;
    if ((value === 0 && signBitClear) || (value === -1 && !signBitClear)) {
      bytes.push(byte);
      return bytes;
    }
    bytes.push(byte | 0x80);
  }
}

function utf8Name(name: string): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...unsignedLeb128(bytes.length), ...bytes];
}

function vector(items: readonly number[][]): number[] {
  return [...unsignedLeb128(items.length), ...items.flat()];
}

/**
 * The body of one function. Locals are declared up front by `local()`; parameters are locals
 * 0..params-1. Instruction methods append bytes and return `this` so bodies read as a sequence.
 * Block nesting is counted so an unbalanced body fails when assembled, not when validated.
 */
export class FunctionBody {
  private readonly code: number[] = [];
  private readonly localTypes: ValueType[] = [];
  private openBlocks = 0;

  constructor(readonly parameterCount: number) {}

  /** Declares a new local of `type` and returns its index. */
  local(type: ValueType): number {
    this.localTypes.push(type);
    return this.parameterCount + this.localTypes.length - 1;
  }

  get(index: number): this {
    return this.emit(Op.localGet, ...unsignedLeb128(index));
  }
  set(index: number): this {
    return this.emit(Op.localSet, ...unsignedLeb128(index));
  }
  tee(index: number): this {
    return this.emit(Op.localTee, ...unsignedLeb128(index));
  }
  i32Const(value: number): this {
    return this.emit(Op.i32Const, ...signedLeb128(value));
  }
  i32Add(): this {
    return this.emit(Op.i32Add);
  }
  i32Mul(): this {
    return this.emit(Op.i32Mul);
  }
  i32Ne(): this {
    return this.emit(Op.i32Ne);
  }
  i32LtU(): this {
    return this.emit(Op.i32LtU);
  }

  /** `block` with no result; a `br` to it jumps past its `end`. */
  block(): this {
    this.openBlocks++;
    return this.emit(Op.block, EMPTY_BLOCK_TYPE);
  }
  /** `loop` with no result; a `br` to it jumps back to its start. */
  loop(): this {
    this.openBlocks++;
    return this.emit(Op.loop, EMPTY_BLOCK_TYPE);
  }
  end(): this {
    if (this.openBlocks === 0) throw new Error('wasm assembler: end without an open block');
    this.openBlocks--;
    return this.emit(Op.end);
  }
  br(depth: number): this {
    return this.emit(Op.br, ...unsignedLeb128(depth));
  }
  brIf(depth: number): this {
    return this.emit(Op.brIf, ...unsignedLeb128(depth));
  }

  /** v128.load from (address on the stack) + `offset`; alignment hint 1 byte (no promise). */
  v128Load(offset = 0): this {
    return this.simd(SimdOp.v128Load, 0, ...unsignedLeb128(offset));
  }
  /** v128.store of (address, value) on the stack to address + `offset`. */
  v128Store(offset = 0): this {
    return this.simd(SimdOp.v128Store, 0, ...unsignedLeb128(offset));
  }
  /** v128.const with every one of the 16 lanes equal to `byte`. */
  v128ConstSplat(byte: number): this {
    return this.simd(SimdOp.v128Const, ...new Array<number>(16).fill(byte & 0xff));
  }
  i8x16Swizzle(): this {
    return this.simd(SimdOp.i8x16Swizzle);
  }
  /**
   * Relaxed SIMD proposal: same result as i8x16.swizzle for indices 0..15, unspecified for
   * larger ones, which lets x86 drop the range fix-up before each pshufb.
   */
  i8x16RelaxedSwizzle(): this {
    return this.simd(SimdOp.i8x16RelaxedSwizzle);
  }
  v128And(): this {
    return this.simd(SimdOp.v128And);
  }
  v128Xor(): this {
    return this.simd(SimdOp.v128Xor);
  }
  i16x8ShrU(): this {
    return this.simd(SimdOp.i16x8ShrU);
  }

  /** The encoded body: local declarations, the code, and the closing `end`. */
  encode(): number[] {
    if (this.openBlocks !== 0) throw new Error(`wasm assembler: ${this.openBlocks} block(s) left open`);
    const localGroups = this.localTypes.map((type) => [1, type]);
    const body = [...vector(localGroups), ...this.code, Op.end];
    return [...unsignedLeb128(body.length), ...body];
  }

  private simd(opcode: number, ...immediates: number[]): this {
    return this.emit(SIMD_PREFIX, ...unsignedLeb128(opcode), ...immediates);
  }
  private emit(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
}

export interface ExportedFunction {
  name: string;
  parameters: readonly ValueType[];
  results: readonly ValueType[];
  body: FunctionBody;
}

/**
 * A module that imports one linear memory as `env.memory` (so the host owns and grows it) and
 * exports the given functions. Each function gets its own type entry; duplicates are harmless.
 */
export function assembleModule(functions: readonly ExportedFunction[], minimumMemoryPages: number): Uint8Array<ArrayBuffer> {
  const section = (id: number, contents: number[]): number[] => [id, ...unsignedLeb128(contents.length), ...contents];
  const FUNCTION_TYPE = 0x60;
  const MEMORY_IMPORT = 0x02;
  const FUNCTION_EXPORT = 0x00;
  const LIMITS_MINIMUM_ONLY = 0x00;

  const types = functions.map((f) => [FUNCTION_TYPE, ...vector(f.parameters.map((t) => [t])), ...vector(f.results.map((t) => [t]))]);
  const imports = [[...utf8Name('env'), ...utf8Name('memory'), MEMORY_IMPORT, LIMITS_MINIMUM_ONLY, ...unsignedLeb128(minimumMemoryPages)]];
  const functionTypeIndices = functions.map((_, index) => unsignedLeb128(index));
  const exports = functions.map((f, index) => [...utf8Name(f.name), FUNCTION_EXPORT, ...unsignedLeb128(index)]);
  const bodies = functions.map((f) => {
    if (f.body.parameterCount !== f.parameters.length) {
      throw new Error(`wasm assembler: ${f.name} declares ${f.parameters.length} parameters, body expects ${f.body.parameterCount}`);
    }
    return f.body.encode();
  });

  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, // "\0asm"
    0x01, 0x00, 0x00, 0x00, // version 1
    ...section(1, vector(types)),
    ...section(2, vector(imports)),
    ...section(3, vector(functionTypeIndices)),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}
