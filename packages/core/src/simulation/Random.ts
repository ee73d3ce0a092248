/**
 * A small, fast, seeded PRNG (mulberry32) for simulations: the same seed gives the same run.
 * Not for anything that needs unpredictability.
 *
 * @since 0.1.0
 */

/**
 * A seeded random source.
 *
 * @since 0.1.0
 */
export interface Random {
  /** A number in [0, 1). */
  readonly next: () => number
  /** An integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  /** True with probability `p`. */
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** Shuffles in place (Fisher–Yates) and returns the array. */
  readonly shuffle: <A>(items: Array<A>) => Array<A>
}

/**
 * Creates a random source from a seed.
 *
 * @since 0.1.0
 */
export const make = (seed: number): Random => {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        const tmp = items[i]!
        items[i] = items[j]!
        items[j] = tmp
      }
      return items
    }
  }
}
