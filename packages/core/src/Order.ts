/**
 * Customer orders: what the ERP confirmed and the warehouse must fulfil.
 *
 * @since 0.1.0
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Money from "./Money.js"
import * as Party from "./Party.js"
import * as Pii from "./Pii.js"
import * as Weight from "./Weight.js"

/**
 * One line of an order.
 *
 * @since 0.1.0
 */
export class OrderLine extends Schema.Class<OrderLine>("OrderLine")({
  id: Ids.OrderLineId,
  sku: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)),
  description: Schema.String.pipe(Schema.maxLength(1000)),
  /** Units ordered; fractional for goods sold by measure (2.5 kg) since 0.2.0. */
  quantity: Schema.Number.pipe(
    Schema.finite(),
    Schema.greaterThan(0, { message: () => "a quantity is a number greater than 0 and at most 1,000,000" }),
    Schema.lessThanOrEqualTo(1_000_000, { message: () => "a quantity is a number greater than 0 and at most 1,000,000" })
  ),
  /** The unit price, rounded to minor units (`amount`, when given, is the exact line amount). */
  unitPrice: Money.Money,
  /**
   * The line's amount before tax as the ERP computed it (quantity × unit price, less any
   * discount, rounded once). When absent, `unitPrice × quantity` is used.
   *
   * @since 0.2.0
   */
  amount: Schema.optionalWith(Money.Money, { exact: true }),
  unitWeight: Schema.optionalWith(Weight.Grams, { exact: true })
}) {}

const MAX_MINOR = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * A line's amount in minor units: its `amount`, or `unitPrice × quantity` computed on the
 * quantity's decimal digits (0.145 is 145 thousandths, not the float 0.14499…) and rounded once,
 * half away from zero as the ERP rounds (a credit line mirrors the charge it reverses).
 */
const lineMinor = (line: OrderLine): bigint => {
  if (line.amount !== undefined) return BigInt(line.amount.amountMinor)
  // The shortest decimal that reads back as the quantity: "0.145", "2.5", "1e-7".
  const [mantissa = "0", exponent = "0"] = String(line.quantity).split("e")
  const [whole = "0", fraction = ""] = mantissa.split(".")
  const scale = fraction.length - Number(exponent)
  const digits = BigInt(whole + fraction)
  const product = BigInt(line.unitPrice.amountMinor) * (scale < 0 ? digits * 10n ** BigInt(-scale) : digits)
  if (scale <= 0) return product
  const divisor = 10n ** BigInt(scale)
  const magnitude = product < 0n ? -product : product
  const rounded = (magnitude * 2n + divisor) / (divisor * 2n)
  return product < 0n ? -rounded : rounded
}

const exactTotal = (lines: ReadonlyArray<OrderLine>): bigint => lines.reduce((sum, line) => sum + lineMinor(line), 0n)

const OrderFields = Schema.Struct({
  id: Ids.OrderId,
  companyId: Ids.CompanyId,
  refs: ExternalRefs.ExternalRefs,
  customer: Party.Party,
  shipTo: Party.Address,
  currency: Money.CurrencyCode,
  lines: Schema.NonEmptyArray(OrderLine).pipe(Schema.maxItems(10_000)),
  confirmedAt: Instant.Instant,
  note: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(4000)).pipe(Pii.pii("free_text")), { exact: true })
})

/**
 * A confirmed customer order. All lines are priced in the order's currency.
 *
 * @since 0.1.0
 */
export class Order extends Schema.Class<Order>("Order")(
  OrderFields.pipe(
    Schema.filter(
      (order) => {
        const oneCurrency = order.lines.every((line) =>
          line.unitPrice.currency === order.currency && (line.amount === undefined || line.amount.currency === order.currency)
        )
        if (!oneCurrency) return { path: ["lines"], message: `every line must be priced in the order currency ${order.currency}` }
        // Every order has a total: one that Money holds exactly.
        const sum = exactTotal(order.lines)
        return (sum >= -MAX_MINOR && sum <= MAX_MINOR) || {
          path: ["lines"],
          message: `the order total must be at most ${Number.MAX_SAFE_INTEGER} minor units either way, got ${sum}`
        }
      },
      {
        // Generate consistent orders directly instead of rejecting most random ones.
        arbitrary: () => (fc) =>
          Arbitrary.makeLazy(OrderFields)(fc).map((order) => ({
            ...order,
            lines: order.lines.map(
              (line) =>
                new OrderLine({
                  ...line,
                  // Prices up to ±100,000.00 keep the totals of generated orders within exact minor units.
                  unitPrice: new Money.Money({ amountMinor: line.unitPrice.amountMinor % 10_000_000 || 0, currency: order.currency }),
                  ...(line.amount !== undefined
                    ? { amount: new Money.Money({ amountMinor: line.amount.amountMinor % 10_000_000 || 0, currency: order.currency }) }
                    : {})
                })
            ) as unknown as typeof order.lines
          }))
      }
    )
  )
) {}

/**
 * The order total (before tax), in the order's currency: the sum of the lines' `amount`, or of
 * `unitPrice × quantity` where a line has none, computed exactly on the quantity's decimals and
 * rounded to minor units once per line, half away from zero (0.145 × 1.00 EUR is 0.15 EUR, and a
 * credit line of 0.5 × −0.05 EUR is −0.03 EUR). An `Order` always has a total within safe
 * integers: one whose total is beyond ±(2^53 − 1) minor units is refused on decoding.
 *
 * @since 0.1.0
 */
export const total = (order: Order): Money.Money =>
  new Money.Money({ amountMinor: Number(exactTotal(order.lines)), currency: order.currency })
