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
  /** Units ordered; fractional for goods sold by measure (2.5 kg) since 0.3.0. */
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
   * @since 0.3.0
   */
  amount: Schema.optionalWith(Money.Money, { exact: true }),
  unitWeight: Schema.optionalWith(Weight.Grams, { exact: true })
}) {}

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
      (order) =>
        order.lines.every((line) =>
          line.unitPrice.currency === order.currency && (line.amount === undefined || line.amount.currency === order.currency)
        ) || {
          path: ["lines"],
          message: `every line must be priced in the order currency ${order.currency}`
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
                  unitPrice: new Money.Money({ amountMinor: line.unitPrice.amountMinor, currency: order.currency }),
                  ...(line.amount !== undefined
                    ? { amount: new Money.Money({ amountMinor: line.amount.amountMinor, currency: order.currency }) }
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
 * `unitPrice × quantity` (rounded to minor units) where a line has none.
 *
 * @since 0.1.0
 */
export const total = (order: Order): Money.Money =>
  new Money.Money({
    amountMinor: order.lines.reduce(
      (sum, line) => sum + (line.amount?.amountMinor ?? Math.round(line.unitPrice.amountMinor * line.quantity)),
      0
    ),
    currency: order.currency
  })
