/**
 * Weight in whole grams.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A non-negative integer number of grams (at most 100 t).
 *
 * @since 0.1.0
 */
export const Grams = Schema.Int.pipe(
  Schema.between(0, 100_000_000, { message: () => "a weight must be a whole number of grams between 0 and 100 t" }),
  Schema.brand("Grams")
).annotations({ identifier: "Grams" })

/** @since 0.1.0 */
export type Grams = typeof Grams.Type

/**
 * Converts a weight in kilograms or pounds, as carriers report it, to whole grams.
 *
 * @since 0.1.0
 */
export const fromUnit = (value: number, unit: "g" | "kg" | "lb" | "oz"): Grams => {
  const factor = unit === "g" ? 1 : unit === "kg" ? 1000 : unit === "lb" ? 453.59237 : 28.349523125
  return Schema.decodeSync(Grams)(Math.round(value * factor))
}

/**
 * How far `actual` deviates from `declared`, in per mille of the declared weight.
 *
 * @since 0.1.0
 */
export const deviationPerMille = (declared: Grams, actual: Grams): number =>
  declared === 0 ? (actual === 0 ? 0 : Number.POSITIVE_INFINITY) : Math.round((Math.abs(actual - declared) * 1000) / declared)
