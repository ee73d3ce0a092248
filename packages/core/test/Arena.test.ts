/**
 * The off-heap arena behind MemoryStore's event logs and audit trails gives back every string
 * exactly as written (lone surrogates, empty strings, records larger than a chunk), and records
 * stay readable after many more are appended.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Arena from "../src/internal/arena.js"

const field = FastCheck.oneof(
  FastCheck.string(),
  FastCheck.fullUnicodeString(),
  FastCheck.string16bits(),
  FastCheck.constantFrom("", "\ud800", "a\udc00b", "é", "😀", "{\"k\":\"ü\"}")
)

describe("Arena", () => {
  it("round-trips any fields, in any number of records", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(FastCheck.array(field, { minLength: 1, maxLength: 5 }), { maxLength: 40 }), (records) => {
        const arena = Arena.make()
        const layout: Array<number> = []
        const starts: Array<number> = []
        for (const fields of records) {
          starts.push(layout.length)
          arena.append(layout, fields)
        }
        records.forEach((fields, r) => {
          fields.forEach((f, i) => expect(arena.read(layout, starts[r]!, i)).toBe(f))
        })
      }),
      { numRuns: 1000 }
    )
  })

  it("keeps a non-ASCII field exact at the end of a record sized to fit (larger than a chunk)", () => {
    // UTF-8 would need 5 bytes for the last field where its UTF-16 form needs 4: a record sized
    // exactly must not take a cut-short UTF-8 write for an ASCII one.
    const arena = Arena.make()
    const layout: Array<number> = []
    const fields = ["x".repeat(1_100_000), "é\ud800"]
    arena.append(layout, fields)
    expect(arena.read(layout, 0, 0)).toBe(fields[0])
    expect(arena.read(layout, 0, 1)).toBe(fields[1])
  })

  it("spans chunks: a record larger than a chunk, and many records after it", () => {
    const arena = Arena.make()
    const layout: Array<number> = []
    const big = "x".repeat(3 << 20) + "é"
    arena.append(layout, ["head", big])
    const small: Array<{ at: number; text: string }> = []
    for (let i = 0; i < 20_000; i++) {
      const text = `entry ${i} ${"y".repeat(i % 300)}`
      small.push({ at: layout.length, text })
      arena.append(layout, [text])
    }
    expect(arena.read(layout, 0, 0)).toBe("head")
    expect(arena.read(layout, 0, 1)).toBe(big)
    for (const { at, text } of small) expect(arena.read(layout, at, 0)).toBe(text)
    // The big record's own chunk, sized exactly (UTF-16: it holds an "é"), then the ~3.1 MB of
    // small ones in 1 MiB chunks.
    expect(arena.bytes()).toBeGreaterThanOrEqual(2 * (3 << 20) + 2 + 4 + 3 * (1 << 20))
    expect(arena.bytes()).toBeLessThan(2 * (3 << 20) + 2 + 4 + 6 * (1 << 20))
  })
})
