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
  quantity: Schema.Int.pipe(
    Schema.between(1, 1_000_000, { message: () => "a quantity is a whole number from 1 to 1,000,000" })
  ),
  unitPrice: Money.Money,
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
        order.lines.every((line) => line.unitPrice.currency === order.currency) || {
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
                  unitPrice: new Money.Money({ amountMinor: line.unitPrice.amountMinor, currency: order.currency })
                })
            ) as unknown as typeof order.lines
          }))
      }
    )
  )
) {}

/**
 * The order total, in the order's currency.
 *
 * @since 0.1.0
 */
export const total = (order: Order): Money.Money =>
  new Money.Money({
    amountMinor: order.lines.reduce((sum, line) => sum + line.unitPrice.amountMinor * line.quantity, 0),
    currency: order.currency
  })
