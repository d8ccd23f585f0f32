// A forward-only reader over an async stream of byte chunks that knows its position. It holds
// at most the unread rest of one source chunk, plus (only inside readExact) the pieces of one
// bounded request, so memory does not grow with the stream.

const EMPTY = Buffer.alloc(0);

export class ByteCursor {
  readonly #iterator: AsyncIterator<unknown>;
  /** unread bytes of the current source chunk */
  #chunk: Buffer = EMPTY;
  /** bytes consumed so far: the offset of the next byte in the stream */
  #position = 0;
  #ended = false;
  #busy = false;

  /** `source` may be sync (an array of Buffers) or async (a stream); it must yield byte chunks. */
  constructor(source: AsyncIterable<unknown> | Iterable<unknown>) {
    if (Symbol.asyncIterator in source) {
      this.#iterator = source[Symbol.asyncIterator]();
    } else {
      const iterator = source[Symbol.iterator]();
      this.#iterator = {
        next: async () => iterator.next(),
        return: async () => iterator.return?.() ?? { done: true, value: undefined },
      };
    }
  }

  get position(): number {
    return this.#position;
  }

  /** `length` bytes, or fewer only when the stream ends first. May be a view into a chunk. */
  readExact(length: number): Promise<Buffer> {
    return this.#exclusive(async () => {
      if (this.#chunk.length >= length) return this.#take(length);
      const pieces: Buffer[] = [];
      let collected = 0;
      while (collected < length && (await this.#fill())) {
        const piece = this.#take(Math.min(length - collected, this.#chunk.length));
        pieces.push(piece);
        collected += piece.length;
      }
      return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, collected);
    });
  }

  /** Between 1 and `maxLength` bytes without copying; an empty Buffer only at end of stream. */
  readSome(maxLength: number): Promise<Buffer> {
    return this.#exclusive(async () => ((await this.#fill()) ? this.#take(Math.min(maxLength, this.#chunk.length)) : EMPTY));
  }

  /** Discards up to `length` bytes; returns how many were there. */
  skip(length: number): Promise<number> {
    return this.#exclusive(async () => {
      let skipped = 0;
      while (skipped < length && (await this.#fill())) skipped += this.#take(Math.min(length - skipped, this.#chunk.length)).length;
      return skipped;
    });
  }

  /** Stops the source (closing a file stream behind it); idempotent. */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#chunk = EMPTY;
    await this.#iterator.return?.();
  }

  #take(length: number): Buffer {
    const taken = this.#chunk.subarray(0, length);
    this.#chunk = this.#chunk.subarray(length);
    this.#position += length;
    return taken;
  }

  /** Makes #chunk non-empty; false at end of stream. */
  async #fill(): Promise<boolean> {
    while (this.#chunk.length === 0) {
      if (this.#ended) return false;
      const next = await this.#iterator.next();
      if (next.done) {
        this.#ended = true;
        return false;
      }
      this.#chunk = asBuffer(next.value);
    }
    return true;
  }

  /**
   * The cursor is a single sequential resource: overlapping calls (say, reading an entry's
   * content while already asking for the next entry) would interleave bytes, so they are a
   * programming error, reported loudly.
   */
  async #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new Error('ByteCursor: overlapping reads (await each read before starting the next)');
    this.#busy = true;
    try {
      return await operation();
    } finally {
      this.#busy = false;
    }
  }
}

function asBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') throw new TypeError('byte stream yielded a string: read it without setEncoding()');
  throw new TypeError(`byte stream yielded ${typeof value}, expected Buffer or Uint8Array`);
}
