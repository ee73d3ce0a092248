/**
 * Money as integer minor units plus an ISO 4217 currency code. Never a float.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/**
 * An ISO 4217 alphabetic currency code (three upper-case letters).
 *
 * @since 0.1.0
 */
export const CurrencyCode = Schema.String.pipe(
  Schema.pattern(/^[A-Z]{3}$/, { message: () => "a currency must be an ISO 4217 code of three upper-case letters" }),
  Schema.brand("CurrencyCode")
).annotations({
  identifier: "CurrencyCode",
  arbitrary: () => (fc) => fc.constantFrom("EUR", "USD", "GBP", "CHF", "JPY", "PLN").map((c) => c as CurrencyCode)
})

/** @since 0.1.0 */
export type CurrencyCode = typeof CurrencyCode.Type

/**
 * An amount in minor units (cents for EUR, yen for JPY) of a currency.
 *
 * @since 0.1.0
 */
export class Money extends Schema.Class<Money>("Money")({
  amountMinor: Schema.Int.pipe(
    Schema.between(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, {
      message: () => "an amount must be a safe integer number of minor units"
    })
  ).annotations({ description: "integer minor units (e.g. cents)" }),
  currency: CurrencyCode
}) {
  /** @since 0.1.0 */
  static zero(currency: CurrencyCode): Money {
    return new Money({ amountMinor: 0, currency })
  }
}

/**
 * Two amounts in different currencies were combined.
 *
 * @since 0.1.0
 */
export class CurrencyMismatch extends Data.TaggedError("CurrencyMismatch")<{
  readonly left: CurrencyCode
  readonly right: CurrencyCode
}> {
  override get message(): string {
    return `cannot combine ${this.left} with ${this.right}`
  }
}

/**
 * A sum or difference of two amounts falls beyond what integer minor units hold exactly
 * (±2^53 − 1, `Number.MAX_SAFE_INTEGER`).
 *
 * @since 0.2.0
 */
export class AmountOutOfRange extends Data.TaggedError("AmountOutOfRange")<{
  readonly currency: CurrencyCode
  /** The exact result, in minor units, as a decimal string. */
  readonly amountMinor: string
}> {
  override get message(): string {
    return `${this.amountMinor} minor units of ${this.currency} is beyond the ${Number.MAX_SAFE_INTEGER} an amount holds exactly`
  }
}

const combine = (
  left: Money,
  right: Money,
  sign: 1 | -1
): Either.Either<Money, CurrencyMismatch | AmountOutOfRange> => {
  if (left.currency !== right.currency) return Either.left(new CurrencyMismatch({ left: left.currency, right: right.currency }))
  const amountMinor = left.amountMinor + sign * right.amountMinor
  // Beyond 2^53 the float result may be rounded: report the exact one.
  return Number.isSafeInteger(amountMinor)
    ? Either.right(new Money({ amountMinor, currency: left.currency }, true))
    : Either.left(
      new AmountOutOfRange({
        currency: left.currency,
        amountMinor: (BigInt(left.amountMinor) + BigInt(sign) * BigInt(right.amountMinor)).toString()
      })
    )
}

/**
 * Adds two amounts of the same currency; fails when the currencies differ or the sum is
 * beyond exact minor units (since 0.2.0, where it threw).
 *
 * @since 0.1.0
 */
export const add = (left: Money, right: Money): Either.Either<Money, CurrencyMismatch | AmountOutOfRange> =>
  combine(left, right, 1)

/**
 * Subtracts `right` from `left` when both have the same currency; fails when the currencies
 * differ or the difference is beyond exact minor units (since 0.2.0, where it threw).
 *
 * @since 0.1.0
 */
export const subtract = (left: Money, right: Money): Either.Either<Money, CurrencyMismatch | AmountOutOfRange> =>
  combine(left, right, -1)

/** ISO 4217 currencies whose minor unit is not a hundredth (the yen has none, the dinar 1/1000). */
const exponents: Readonly<Record<string, number>> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0, UYI: 0, VND: 0, VUV: 0,
  XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4
}

/**
 * The number of decimals of a currency's minor unit (ISO 4217): 2 for EUR, 0 for JPY, 3 for KWD.
 *
 * @since 0.2.0
 */
export const minorDigits = (currency: CurrencyCode): number => exponents[currency] ?? 2

/**
 * An amount for people to read, in major units with the currency's decimals: `138.00 USD`,
 * `13800 JPY`, `-1.250 KWD`. Exact (no float division).
 *
 * @since 0.2.0
 */
export const format = (money: Money): string => {
  const digits = minorDigits(money.currency)
  const units = Math.abs(money.amountMinor).toString().padStart(digits + 1, "0")
  const major = digits === 0 ? units : `${units.slice(0, -digits)}.${units.slice(-digits)}`
  return `${money.amountMinor < 0 ? "-" : ""}${major} ${money.currency}`
}
