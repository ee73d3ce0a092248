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
 * Adds two amounts of the same currency.
 *
 * @since 0.1.0
 */
export const add = (left: Money, right: Money): Either.Either<Money, CurrencyMismatch> =>
  left.currency === right.currency
    ? Either.right(new Money({ amountMinor: left.amountMinor + right.amountMinor, currency: left.currency }))
    : Either.left(new CurrencyMismatch({ left: left.currency, right: right.currency }))

/**
 * Subtracts `right` from `left` when both have the same currency.
 *
 * @since 0.1.0
 */
export const subtract = (left: Money, right: Money): Either.Either<Money, CurrencyMismatch> =>
  left.currency === right.currency
    ? Either.right(new Money({ amountMinor: left.amountMinor - right.amountMinor, currency: left.currency }))
    : Either.left(new CurrencyMismatch({ left: left.currency, right: right.currency }))
