/**
 * An append-only store of strings outside the JavaScript heap, for data that is written once and
 * read rarely (event logs, audit trails). The bytes live in fixed-size `Buffer` chunks, which the
 * garbage collector neither copies nor scans; the heap keeps only numbers. Kept as strings and
 * entry objects, 50,000 shipments' logs took ~5.6 KB of heap each in `bench/pipeline`, copied by
 * young-generation collections and marked again by every full one.
 *
 * Every JavaScript string comes back exactly as written, lone surrogates included: an all-ASCII
 * field is kept as one byte per character, any other as UTF-16 (two bytes per code unit).
 */

/** Bytes per chunk; a record larger than this gets a chunk of its own size. */
const CHUNK = 1 << 20

/** Handles address `chunk * SPAN + offset`, exactly representable up to 2^53 (2^21 chunks). */
const SPAN = 2 ** 32

/**
 * Where a record starts and how long each of its fields is in bytes; a negative length marks a
 * UTF-16 field. Kept in plain number arrays by the caller, so it costs the heap a few doubles.
 */
export interface Arena {
  /**
   * Appends the fields as one record: pushes the record's handle, then each field's encoded
   * length, onto `into`.
   */
  readonly append: (into: Array<number>, fields: ReadonlyArray<string>) => void
  /** The field `index` of the record that starts at `at` in `layout` (as `append` pushed it). */
  readonly read: (layout: ReadonlyArray<number>, at: number, index: number) => string
  /** Bytes reserved off the heap so far. */
  readonly bytes: () => number
}

export const make = (): Arena => {
  const chunks: Array<Buffer> = []
  let current: Buffer | undefined
  let used = 0
  let reserved = 0

  const room = (need: number) => {
    if (current !== undefined && current.length - used >= need) return
    current = Buffer.allocUnsafeSlow(Math.max(CHUNK, need))
    chunks.push(current)
    reserved += current.length
    used = 0
  }

  const append = (into: Array<number>, fields: ReadonlyArray<string>) => {
    let need = 0
    for (const field of fields) need += field.length * 3
    if (need > CHUNK) {
      // A record of its own chunk: size it for what is written rather than for the worst case.
      // A non-ASCII field is first tried as UTF-8, so it needs room for that try as well: a
      // try cut short could count as many bytes as the field has characters and pass as ASCII.
      need = 0
      for (const field of fields) {
        const bytes = Buffer.byteLength(field, "utf8")
        need += bytes === field.length ? bytes : Math.max(bytes, 2 * field.length)
      }
    }
    room(need)
    const chunk = current!
    into.push((chunks.length - 1) * SPAN + used)
    for (const field of fields) {
      const written = chunk.write(field, used, "utf8")
      if (written === field.length) {
        // All ASCII: one byte per character, read back as latin1 (exact).
        into.push(written)
        used += written
      } else {
        // Anything else as UTF-16 code units, so lone surrogates survive too.
        const wide = chunk.write(field, used, "utf16le")
        into.push(-wide)
        used += wide
      }
    }
  }

  const read = (layout: ReadonlyArray<number>, at: number, index: number): string => {
    const handle = layout[at]!
    const chunk = chunks[Math.floor(handle / SPAN)]!
    let offset = handle % SPAN
    for (let i = 0; i < index; i++) offset += Math.abs(layout[at + 1 + i]!)
    const length = layout[at + 1 + index]!
    return length >= 0
      ? chunk.toString("latin1", offset, offset + length)
      : chunk.toString("utf16le", offset, offset - length)
  }

  return { append, read, bytes: () => reserved }
}
