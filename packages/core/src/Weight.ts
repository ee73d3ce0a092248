/**
 * Weight in whole grams.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
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

const factors = { g: 1, kg: 1000, lb: 453.59237, oz: 28.349523125 } as const

/**
 * Converts a weight in kilograms, pounds or ounces, as carriers report it, to whole grams, or
 * says why it cannot (not a finite number, negative, above 100 t).
 *
 * @since 0.1.0
 */
export const fromUnitEither = (value: number, unit: keyof typeof factors): Either.Either<Grams, string> => {
  if (!Number.isFinite(value)) return Either.left(`a weight must be a finite number, got ${value}`)
  return Either.mapLeft(Schema.decodeUnknownEither(Grams)(Math.round(value * factors[unit])), () =>
    `a weight of ${value} ${unit} is outside 0 g to 100 t`
  )
}

/**
 * Converts a weight to whole grams; throws on a value {@link fromUnitEither} rejects.
 *
 * @since 0.1.0
 */
export const fromUnit = (value: number, unit: keyof typeof factors): Grams =>
  Either.getOrThrowWith(fromUnitEither(value, unit), (reason) => new RangeError(reason))

/**
 * How far `actual` deviates from `declared`, in per mille of the declared weight.
 *
 * @since 0.1.0
 */
export const deviationPerMille = (declared: Grams, actual: Grams): number =>
  declared === 0 ? (actual === 0 ? 0 : Number.POSITIVE_INFINITY) : Math.round((Math.abs(actual - declared) * 1000) / declared)

/**
 * Whether `actual` deviates from `declared` by more than `perMille` of the declared weight,
 * compared exactly in integers: 151 g on 3,000 g (50.3 ‰) exceeds a tolerance of 50 ‰, which the
 * rounded {@link deviationPerMille} would not show.
 *
 * @since 0.2.0
 */
export const exceedsTolerance = (declared: Grams, actual: Grams, perMille: number): boolean =>
  Math.abs(actual - declared) * 1000 > perMille * declared
