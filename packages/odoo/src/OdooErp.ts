/**
 * Odoo as the hub: the `ErpPort` and `HelpdeskPort` of waybill, on an {@link OdooClient}.
 *
 * - **Order intake** polls confirmed `sale.order`s with a `(write_date, id)` cursor and returns
 *   them with their outgoing deliveries (`stock.picking`) as canonical `OrderIntake`s, again when
 *   a delivery changes without its order (a second cursor on the deliveries); an Odoo
 *   automation-rule webhook can push one order instead (`intakeFromWebhook`). A delivery
 *   cancelled in Odoo (or the whole order, once confirmed) is handed out again with the
 *   shipment's `cancelledAt`, so waybill cancels it (or records it as an anomaly after dispatch).
 *   A delivery already cancelled before the first poll never was a shipment of waybill's, and
 *   the polls leave it out (the cursor keeps the server's clock at the first poll).
 * - **Milestones back**: tracking number and carrier on the delivery, chatter notes, delivery
 *   validation through every wizard (SMS, backorder, nothing reserved), and the OCA
 *   `delivery_state` fields where that module is installed.
 * - **Billing**: the customer invoice through `sale.advance.payment.inv`, posted; payment state
 *   read back.
 * - **Service**: one `project.task` (or `helpdesk.ticket`) per shipment.
 *
 * Every write is idempotent by the request `key`: a marker derived from the key is stored with
 * what the call creates (chatter note body, invoice reference, case description) and looked up
 * before creating, so a retry after a crash or a lost response creates nothing twice. Calls that
 * touch one record run one at a time (Odoo answers concurrent writers with serialization
 * failures), and tracking writes queued behind a busy record are merged into one `write`.
 *
 * @since 0.1.0
 */
import { Dispatcher, ErpPort, KeyedLock, type ExternalRefs, HelpdeskPort, Invoice, Money, PortError, type Shipment, type Store, Validation } from "@waybill/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import * as IntakeCursor from "./internal/IntakeCursor.js"
import * as Coalescer from "./internal/Coalescer.js"
import * as OdooClient from "./OdooClient.js"
import * as D from "./OdooDomain.js"
import * as OdooFault from "./OdooFault.js"
import * as OdooField from "./OdooField.js"
import { LRUCache } from "lru-cache"

/**
 * Where service cases go.
 *
 * @since 0.1.0
 */
export interface ServiceCaseOptions {
  /** `auto` (default): `helpdesk.ticket` when the model exists (Enterprise), else `project.task`. */
  readonly model?: "auto" | "project.task" | "helpdesk.ticket" | undefined
  /** The project of the tasks; default: the project named `projectName`, created if missing. */
  readonly projectId?: number | undefined
  /** Default `Service cases`. */
  readonly projectName?: string | undefined
  /** The helpdesk team of the tickets (default: Odoo's default team). */
  readonly helpdeskTeamId?: number | undefined
}

/**
 * An order that could not become a canonical `Order` (e.g. no delivery address).
 *
 * @since 0.1.0
 */
export interface RejectedOrder {
  readonly orderId: number
  readonly name: string
  readonly error: Validation.ValidationError
}

/**
 * Options of the adapter.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of canonical ids (`<instance>:sale.order:42`); default: the database name. */
  readonly instance?: string | undefined
  /** The canonical company id of an Odoo company; default `<instance>:res.company:<id>`. */
  readonly companyId?: ((company: { readonly id: number; readonly name: string }) => string) | undefined
  /** On a partial delivery, keep the rest as a backorder (default `true`) or drop it. */
  readonly backorders?: boolean | undefined
  /** When nothing is reserved, set the done quantities to the demand and validate (default `true`). */
  readonly forceUnreserved?: boolean | undefined
  /** Answer of Odoo's one-time SMS wizard on the first delivery (default `dont_send`). */
  readonly sms?: "dont_send" | "send" | undefined
  /** Carrier code (as in `WriteTracking.carrier`) → `delivery.carrier` id; unknown codes are looked up by name. */
  readonly carriers?: Readonly<Record<string, number>> | undefined
  readonly serviceCases?: ServiceCaseOptions | undefined
  /** Extra condition on the orders taken in (e.g. one company). */
  readonly intakeDomain?: D.Domain | undefined
  /**
   * How long an Odoo transaction may take at most (default 5 minutes; Odoo's own
   * `limit_time_real` stops a request after 120 s). Odoo stamps `write_date` with the time a
   * transaction *started*, but the order becomes visible when it commits, so a slow confirmation
   * can surface behind the intake cursor. The intake therefore sweeps once more over every order
   * older than the server's clock minus this lag: each confirmed order is handed out twice, once
   * at once and once settled (registration is idempotent, so the second is a no-op). `0` turns
   * the second sweep off (and the cursor's parts back to their `v2` format): a transaction that commits
   * after a poll passed its start is then missed.
   *
   * @since 0.2.0
   */
  readonly intakeSettle?: Duration.DurationInput | undefined
  /**
   * Called for an order that cannot be taken in; default: a warning in the log. Intake goes on;
   * `fetchOrders` also returns such orders in the batch's `rejected`.
   */
  readonly onInvalidOrder?: ((rejected: RejectedOrder) => Effect.Effect<void>) | undefined
}

/**
 * The adapter: both ports, plus the webhook entry point.
 *
 * @since 0.1.0
 */
export interface OdooErpShape extends ErpPort.ErpPortShape, HelpdeskPort.HelpdeskPortShape {
  /**
   * The intake of one order (`None` when it is not confirmed or cannot be taken in). An order
   * cancelled after its confirmation comes with its deliveries' `cancelledAt`.
   */
  readonly fetchIntake: (orderId: number) => Effect.Effect<Option.Option<ErpPort.OrderIntake>, PortError.ErpError>
  /** Decodes an automation-rule webhook (`sale.order` or `stock.picking`) and fetches its order. */
  readonly intakeFromWebhook: (payload: unknown) => Effect.Effect<Option.Option<ErpPort.OrderIntake>, PortError.ErpError>
}

/**
 * The adapter service.
 *
 * @since 0.1.0
 */
export class OdooErp extends Context.Tag("@waybill/odoo/OdooErp")<OdooErp, OdooErpShape>() {}

/**
 * An Odoo automation-rule webhook body ("Send Webhook Notification"): `_model`, `_id` and the
 * fields chosen in the rule.
 *
 * @since 0.1.0
 */
export const WebhookPayload = Schema.Struct(
  { _model: Schema.String, _id: OdooField.Id },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
/** @since 0.1.0 */
export type WebhookPayload = typeof WebhookPayload.Type

/**
 * Decodes a webhook body, failing with an `Invalid` `ErpError` naming what is wrong.
 *
 * @since 0.1.0
 */
export const decodeWebhook = (payload: unknown): Effect.Effect<WebhookPayload, PortError.ErpError> =>
  Schema.decodeUnknown(WebhookPayload)(payload).pipe(
    Effect.mapError((e) =>
      new PortError.ErpError({
        reason: "Invalid",
        module: "OdooErp",
        method: "intakeFromWebhook",
        description: `not an Odoo webhook payload: ${Validation.ValidationError.fromParseError(e, {
          schema: "WebhookPayload",
          module: "OdooErp",
          method: "intakeFromWebhook"
        }).message}`
      })
    )
  )

/**
 * The marker stored with what a keyed call creates: `waybill-key:<24 hex>` (a digest, so it
 * survives HTML escaping and is no `ilike` wildcard).
 *
 * @since 0.1.0
 */
export const keyMarker = (key: string): string => `waybill-key:${createHash("sha256").update(key).digest("hex").slice(0, 24)}`

/**
 * The marker that finds a shipment's service case.
 *
 * @since 0.1.0
 */
export const shipmentMarker = (shipmentId: string): string =>
  `waybill-shipment:${createHash("sha256").update(shipmentId).digest("hex").slice(0, 24)}`

const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * The `body` of a chatter note whose text is untrusted (carrier and warehouse text). Odoo 17+
 * escapes a plain string itself; Odoo 16 takes any string as HTML (only sanitized, so links and
 * images in carrier text would show in the chatter), so there the text is escaped here, with its
 * line breaks kept.
 *
 * @since 0.2.0
 */
export const noteBody = (major: number, text: string): string =>
  major >= 17 ? text : escapeHtml(text).replace(/\r?\n/g, "<br>")

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const PHONE = /^\+?[0-9 ()./-]{4,30}$/
const COUNTRY = /^[A-Z]{2}$/

const nonEmpty = (u: string | null | undefined): string | undefined =>
  typeof u === "string" && u.trim() !== "" ? u.trim() : undefined

/**
 * The tracking numbers of a delivery's `carrier_tracking_ref`: Odoo's carrier connectors write one
 * per parcel, joined by `+` (UPS) or `,` (FedEx).
 */
const trackingNumbers = (ref: string | null): Array<string> => [
  ...new Set((ref ?? "").split(/[+,]/).map((n) => n.trim()).filter((n) => n !== ""))
]

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

type WeightUnit = "kg" | "lb" | "g" | "oz"

const weightUnit = (unit: string | null | undefined): WeightUnit =>
  unit === "lb" || unit === "lbs" ? "lb" : unit === "g" ? "g" : unit === "oz" ? "oz" : "kg"

/** Whole grams (validated later by the canonical schema, so an absurd weight rejects the order). */
const grams = (value: number, unit: WeightUnit): number =>
  Math.round(value * (unit === "g" ? 1 : unit === "kg" ? 1000 : unit === "lb" ? 453.59237 : 28.349523125))

const toHelpdeskError = (e: PortError.ErpError): PortError.HelpdeskError =>
  new PortError.HelpdeskError({
    reason: e.reason,
    module: e.module,
    method: e.method,
    description: e.description,
    ...(e.status !== undefined ? { status: e.status } : {}),
    ...(e.retryAfterMillis !== undefined ? { retryAfterMillis: e.retryAfterMillis } : {}),
    ...(e.cause !== undefined ? { cause: e.cause } : {})
  })

const paymentStates: ReadonlySet<string> = new Set(Invoice.PaymentState.literals)

/**
 * Builds the adapter on the `OdooClient` in context.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<OdooErpShape, never, OdooClient.OdooClient> =>
  Effect.gen(function*() {
    const client = yield* OdooClient.OdooClient
    const instance = options.instance ?? client.database
    const companyIdOf = options.companyId ?? ((c: { readonly id: number }) => `${instance}:res.company:${c.id}`)
    const backorders = options.backorders ?? true
    const forceUnreserved = options.forceUnreserved ?? true
    const smsMethod = options.sms === "send" ? "send_sms" : "dont_send_sms"
    const settleMillis = Math.max(0, Duration.toMillis(Duration.decode(options.intakeSettle ?? "5 minutes")))
    const onInvalid = options.onInvalidOrder ??
      ((r: RejectedOrder) =>
        Effect.logWarning(`Odoo order ${r.name} (sale.order ${r.orderId}) cannot be taken in: ${r.error.message}`))
    const locks = KeyedLock.make()
    const writes = Coalescer.coalescer<PortError.ErpError>(locks, (key, values) => {
      const [model, id] = splitKey(key)
      return client.write(model, [id], values)
    })

    const fail = (method: string, reason: PortError.Reason, description: string, cause?: unknown) =>
      new PortError.ErpError({ reason, module: "OdooErp", method, description, ...(cause !== undefined ? { cause } : {}) })

    const canonical = (model: string, id: number) => `${instance}:${model}:${id}`
    const parseCanonical = (value: string, model: string): number | undefined => {
      const prefix = `${instance}:${model}:`
      if (!value.startsWith(prefix)) return undefined
      const id = Number(value.slice(prefix.length))
      return Number.isInteger(id) && id > 0 ? id : undefined
    }
    const odooRef = (model: string, id: number) => ({ odoo: { model, id } })

    /** The record of an entity in Odoo, which must be of `model`. */
    const refOf = (method: string, refs: ExternalRefs.ExternalRefs, model: string, what: string) =>
      refs.odoo !== undefined && refs.odoo.model === model
        ? Effect.succeed(refs.odoo.id)
        : Effect.fail(fail(method, "Invalid", `${what} has no Odoo ${model} reference (refs.odoo)`))

    // -- caches of things that do not change ------------------------------------------------------

    const currencyDigits = new Map<number, number>()
    const digitsOf = (currencyIds: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        const missing = [...new Set(currencyIds)].filter((id) => !currencyDigits.has(id))
        if (missing.length > 0) {
          const rows = yield* client.read("res.currency", missing, { fields: { decimal_places: Schema.Number } })
          for (const row of rows) currencyDigits.set(row.id, row.decimal_places)
        }
      })
    const minor = (amount: number, currencyId: number) =>
      Math.round(amount * Math.pow(10, currencyDigits.get(currencyId) ?? 2))

    const deliveryStateInstalled = yield* Ref.make(Option.none<boolean>())
    const hasDeliveryState = Effect.flatMap(Ref.get(deliveryStateInstalled), (known) =>
      Option.isSome(known)
        ? Effect.succeed(known.value)
        : client.fieldsGet("stock.picking", { fields: ["delivery_state"], attributes: ["type"] }).pipe(
          Effect.map((fields) => fields.delivery_state !== undefined),
          Effect.tap((found) => Ref.set(deliveryStateInstalled, Option.some(found)))
        ))

    /**
     * Carrier ids found by name, by `<company id>:<code>`. A name not found is looked up again
     * next time: a shipping method created in Odoo later is used from then on.
     */
    const carrierIds = new Map<string, number>()
    /**
     * The `delivery.carrier` of a code for a delivery: the configured one, else the one named so
     * that the delivery's company may use (its own or a shared one: Odoo refuses a picking a
     * carrier of another company).
     */
    const carrierIdOf = (code: string, shipment: ErpPort.WriteTracking["shipment"], pickingId: number) =>
      Effect.gen(function*() {
        const configured = options.carriers?.[code]
        if (configured !== undefined) return configured
        const company = parseCanonical(shipment.companyId, "res.company") ?? (yield* client.read("stock.picking", [pickingId], {
          fields: { company_id: OdooField.Many2one }
        }))[0]?.company_id?.id
        const cacheKey = `${company ?? ""}:${code}`
        const known = carrierIds.get(cacheKey)
        if (known !== undefined) return known
        const found = yield* client.search(
          "delivery.carrier",
          D.and(
            D.leaf("name", "=ilike", code.replace(/[%_\\]/g, "\\$&")),
            company !== undefined ? D.isIn("company_id", [company, false]) : D.all
          ),
          { limit: 1 }
        )
        if (found[0] !== undefined) carrierIds.set(cacheKey, found[0])
        return found[0]
      })

    // -- order intake ---------------------------------------------------------------------------

    const orderFields = {
      name: Schema.String,
      state: Schema.String,
      partner_id: OdooField.Many2one,
      partner_shipping_id: OdooField.Many2one,
      company_id: OdooField.Many2one,
      currency_id: OdooField.Many2one,
      date_order: OdooField.DateTimeUtc
    } as const

    const partnerFields = (major: number) => ({
      name: OdooField.Text,
      email: OdooField.Text,
      phone: OdooField.Text,
      ...(OdooClient.features(major).partnerMobile ? { mobile: OdooField.Text } : {}),
      street: OdooField.Text,
      street2: OdooField.Text,
      zip: OdooField.Text,
      city: OdooField.Text,
      state_id: OdooField.Many2one,
      country_code: OdooField.Text
    })

    type PartnerRow = {
      readonly id: number
      readonly name: string | null
      readonly email: string | null
      readonly phone: string | null
      readonly mobile?: string | null
      readonly street: string | null
      readonly street2: string | null
      readonly zip: string | null
      readonly city: string | null
      readonly state_id: OdooField.Many2one
      readonly country_code: string | null
    }

    const addressOf = (p: PartnerRow | undefined) => {
      if (p === undefined) return undefined
      const street = nonEmpty(p.street)
      const street2 = nonEmpty(p.street2)
      const postalCode = nonEmpty(p.zip)
      const region = p.state_id !== null ? nonEmpty(p.state_id.name) : undefined
      return {
        street: street ?? "",
        ...(street2 !== undefined ? { street2 } : {}),
        ...(postalCode !== undefined ? { postalCode } : {}),
        city: nonEmpty(p.city) ?? "",
        ...(region !== undefined ? { region } : {}),
        country: nonEmpty(p.country_code)?.toUpperCase() ?? ""
      }
    }

    /**
     * The intakes of orders. `unseenBefore` (epoch millis): a delivery cancelled before then was
     * never handed out alive, so it is left out (it would register a shipment that is cancelled
     * from its start, under its tracking numbers), and an order left without deliveries by that
     * is left out if it is cancelled.
     */
    const intakesOf = (orderIds: ReadonlyArray<number>, rejected?: Array<ErpPort.RejectedIntake>, unseenBefore?: number) =>
      Effect.gen(function*() {
        if (orderIds.length === 0) return []
        const server = yield* client.info
        const orders = yield* client.read("sale.order", orderIds, { fields: orderFields })
        const lines = yield* client.searchRead("sale.order.line", D.isIn("order_id", orderIds), {
          fields: {
            order_id: OdooField.Many2one,
            name: OdooField.Text,
            product_id: OdooField.Many2one,
            product_uom_qty: Schema.Number,
            price_unit: Schema.Number,
            // Odoo's own line amount: discounted, before tax, rounded once to the currency
            price_subtotal: Schema.Number,
            display_type: OdooField.Text
          },
          order: "order_id, sequence, id"
        })
        const pickings = yield* client.searchRead(
          "stock.picking",
          // cancelled ones too: a delivery cancelled after intake is reported with `cancelledAt`
          D.and(D.isIn("sale_id", orderIds), D.eq("picking_type_code", "outgoing")),
          {
            fields: {
              name: Schema.String,
              state: Schema.String,
              write_date: OdooField.DateTimeUtc,
              sale_id: OdooField.Many2one,
              partner_id: OdooField.Many2one,
              carrier_id: OdooField.Many2one,
              carrier_tracking_ref: OdooField.Text,
              weight: Schema.Number,
              create_date: OdooField.DateTimeUtc,
              company_id: OdooField.Many2one
            },
            order: "id asc"
          }
        )
        const partnerIds = new Set<number>()
        for (const o of orders) {
          if (o.partner_id !== null) partnerIds.add(o.partner_id.id)
          if (o.partner_shipping_id !== null) partnerIds.add(o.partner_shipping_id.id)
        }
        for (const p of pickings) if (p.partner_id !== null) partnerIds.add(p.partner_id.id)
        const partners = new Map<number, PartnerRow>()
        for (const row of yield* client.read("res.partner", [...partnerIds], { fields: partnerFields(server.major) })) {
          partners.set(row.id, row as PartnerRow)
        }
        const productIds = [...new Set(lines.flatMap((l) => (l.product_id !== null ? [l.product_id.id] : [])))]
        const products = new Map(
          (yield* client.read("product.product", productIds, {
            fields: { default_code: OdooField.Text, name: Schema.String, weight: Schema.Number, weight_uom_name: OdooField.Text }
          })).map((p) => [p.id, p] as const)
        )
        yield* digitsOf(orders.flatMap((o) => (o.currency_id !== null ? [o.currency_id.id] : [])))
        const systemUnit = weightUnit([...products.values()][0]?.weight_uom_name)

        const intakes: Array<ErpPort.OrderIntake> = []
        const byId = new Map(orders.map((o) => [o.id, o] as const))
        for (const orderId of orderIds) {
          const o = byId.get(orderId)
          if (o === undefined) continue
          const shipped = pickings.filter((p) =>
            p.sale_id?.id === o.id &&
            !(unseenBefore !== undefined && p.state === "cancel" && DateTime.toEpochMillis(p.write_date) < unseenBefore)
          )
          // Only a cancelled order that was confirmed (it has deliveries, cancelled with it) is
          // handed out, so its shipments get cancelled in waybill; a cancelled quotation is not,
          // nor an order whose deliveries were all cancelled before the intake could see them.
          if (o.state === "cancel" && shipped.length === 0) continue
          const company = o.company_id ?? { id: 1, name: "" }
          const companyId = companyIdOf(company)
          const currency = o.currency_id?.name ?? ""
          const customer = o.partner_id !== null ? partners.get(o.partner_id.id) : undefined
          const shipping = o.partner_shipping_id !== null ? partners.get(o.partner_shipping_id.id) : customer
          const warnings: Array<string> = []
          const contact = (p: PartnerRow) => {
            const email = nonEmpty(p.email)
            const phone = nonEmpty(p.phone) ?? nonEmpty(p.mobile)
            // The warning names the partner, not the value: an e-mail address or a phone number is
            // personal data, and logs are kept and shipped where no privacy policy applies.
            if (email !== undefined && !EMAIL.test(email)) warnings.push(`the email of res.partner ${p.id}`)
            if (phone !== undefined && !PHONE.test(phone)) warnings.push(`the phone of res.partner ${p.id}`)
            return {
              ...(email !== undefined && EMAIL.test(email) ? { email } : {}),
              ...(phone !== undefined && PHONE.test(phone) ? { phone } : {})
            }
          }
          // The customer's own address is optional (goods go to the delivery address): an
          // incomplete one (a street but no city or country) is left out, not a reason to reject.
          const customerAddress = (p: PartnerRow) => {
            const address = addressOf(p)
            if (address === undefined || address.street === "") return {}
            if (address.city === "" || !COUNTRY.test(address.country)) {
              warnings.push(`the address of res.partner ${p.id} (no city or country)`)
              return {}
            }
            return { address }
          }
          const encoded = {
            order: {
              id: canonical("sale.order", o.id),
              companyId,
              refs: odooRef("sale.order", o.id),
              customer: customer === undefined
                ? { id: "", companyId, refs: {}, name: "" }
                : {
                  id: canonical("res.partner", customer.id),
                  companyId,
                  refs: odooRef("res.partner", customer.id),
                  name: nonEmpty(customer.name) ?? "",
                  ...contact(customer),
                  ...customerAddress(customer)
                },
              shipTo: addressOf(shipping) ?? {},
              currency,
              lines: lines
                .filter((l) => l.order_id?.id === o.id && l.display_type === null && l.product_uom_qty !== 0)
                .map((l) => {
                  const product = l.product_id !== null ? products.get(l.product_id.id) : undefined
                  const unitWeight = product !== undefined && product.weight > 0
                    ? grams(product.weight, weightUnit(product.weight_uom_name))
                    : undefined
                  return {
                    id: canonical("sale.order.line", l.id),
                    sku: nonEmpty(product?.default_code) ?? (l.product_id !== null ? `odoo-product-${l.product_id.id}` : ""),
                    description: l.name ?? "",
                    quantity: l.product_uom_qty,
                    unitPrice: { amountMinor: minor(l.price_unit, o.currency_id?.id ?? 0), currency },
                    amount: { amountMinor: minor(l.price_subtotal, o.currency_id?.id ?? 0), currency },
                    ...(unitWeight !== undefined ? { unitWeight } : {})
                  }
                }),
              confirmedAt: DateTime.formatIso(o.date_order)
            },
            shipments: shipped
              .map((p) => {
                const partner = p.partner_id !== null ? partners.get(p.partner_id.id) : undefined
                const carrier = p.carrier_id !== null ? nonEmpty(p.carrier_id.name) : undefined
                // several parcels: the first is the shipment's number, each one a package's (weight unknown)
                const tracking = trackingNumbers(p.carrier_tracking_ref)
                return {
                  id: canonical("stock.picking", p.id),
                  companyId: p.company_id !== null ? companyIdOf(p.company_id) : companyId,
                  orderId: canonical("sale.order", o.id),
                  refs: odooRef("stock.picking", p.id),
                  ...(carrier !== undefined ? { carrier } : {}),
                  ...(tracking[0] !== undefined ? { trackingNumber: tracking[0] } : {}),
                  shipTo: addressOf(partner ?? shipping) ?? {},
                  packages: tracking.length < 2 ? [] : tracking.map((trackingNumber) => ({
                    id: `${canonical("stock.picking", p.id)}:parcel:${trackingNumber}`,
                    weight: 0,
                    trackingNumber
                  })),
                  declaredWeight: grams(Math.max(0, p.weight), systemUnit),
                  createdAt: DateTime.formatIso(p.create_date),
                  // Odoo keeps no cancellation date: the last write of a cancelled delivery is its cancellation
                  ...(p.state === "cancel" ? { cancelledAt: DateTime.formatIso(p.write_date) } : {})
                }
              })
          }
          for (const w of warnings) {
            yield* Effect.logWarning(`Odoo order ${o.name}: ${w} is not valid and is left out of the canonical order`)
          }
          const decoded = Schema.decodeUnknownEither(ErpPort.OrderIntake)(encoded, { errors: "all" })
          if (Either.isRight(decoded)) intakes.push(decoded.right)
          else {
            const error = Validation.ValidationError.fromParseError(decoded.left, {
              schema: "OrderIntake",
              module: "OdooErp",
              method: "fetchOrders"
            })
            rejected?.push(new ErpPort.RejectedIntake({ ref: canonical("sale.order", o.id), name: o.name, reason: error.message }))
            yield* onInvalid({ orderId: o.id, name: o.name, error })
          }
        }
        return intakes
      })

    /**
     * The orders the intake takes: confirmed ones, and cancelled ones that were confirmed before
     * (they have deliveries: a quotation has none), so a cancellation after intake reaches waybill.
     */
    const confirmed = D.or(D.isIn("state", ["sale", "done"]), D.and(D.eq("state", "cancel"), D.ne("picking_ids", false)))

    /**
     * One poll of a `(write_date, id)` cursor (see IntakeCursor): the rows after `after` and, when
     * the page has room, the second pass over what settled since: rows whose transaction started
     * before the first pass's second but committed after it passed.
     */
    const sweep = (
      query: IntakeCursor.Query<PortError.ErpError>,
      base: D.Domain,
      after: IntakeCursor.Cursor | undefined,
      limit: number
    ) =>
      Effect.gen(function*() {
        const { cursor: next, page } = yield* IntakeCursor.nextPage(query, base, after, limit)
        let settled: IntakeCursor.Position | undefined = settleMillis > 0 && after !== undefined
          ? after.settled ?? { writeDate: IntakeCursor.shift(after.writeDate, -settleMillis), id: 0 }
          : undefined
        let again: ReadonlyArray<IntakeCursor.Row> = []
        if (after !== undefined && settled !== undefined && page.length < limit) {
          const bound = OdooField.formatDateTime((yield* client.serverTime) - settleMillis)
          const swept = yield* IntakeCursor.nextSettled(
            query,
            base,
            settled,
            bound < after.writeDate ? bound : after.writeDate,
            limit - page.length
          )
          again = swept.page
          settled = swept.settled
        }
        const head = next ?? after
        if (settleMillis > 0 && settled === undefined && head !== undefined) {
          settled = { writeDate: IntakeCursor.shift(head.writeDate, -settleMillis), id: 0 }
        }
        const rows = [...again, ...page]
        if (head === undefined) return { rows, cursor: undefined }
        const { settled: _, ...position } = head
        return { rows, cursor: settleMillis > 0 ? { ...position, settled } : position }
      })

    const fetchOrders: ErpPort.ErpPortShape["fetchOrders"] = ({ cursor, limit }) =>
      Effect.gen(function*() {
        const after = cursor === undefined ? undefined : IntakeCursor.decodeIntake(cursor)
        if (cursor !== undefined && after === undefined) {
          return yield* Effect.fail(fail("fetchOrders", "Invalid", `${JSON.stringify(cursor)} is not a cursor issued by OdooErp`))
        }
        const base = D.and(confirmed, options.intakeDomain ?? D.all)
        const orderQuery: IntakeCursor.Query<PortError.ErpError> = (domain, order, size) =>
          client.searchRead("sale.order", domain, { fields: { write_date: Schema.String }, order, limit: size })
        const orders = yield* sweep(orderQuery, base, after?.orders, limit)
        const orderIds = new Set(orders.rows.map((r) => r.id))
        // The server's clock at the first poll (kept in the cursor; read once the server answered,
        // before the deliveries are read): a delivery cancelled before it (less the settle lag: a
        // cancellation that started before but committed after the first poll may have been read
        // alive) was never handed out alive. Cursors of earlier versions have none: every
        // cancelled delivery is handed out, as before.
        const firstPollAt = after === undefined ? yield* client.serverTime : undefined
        const since = firstPollAt !== undefined ? OdooField.formatDateTime(firstPollAt) : after?.since
        const sinceMillis = since !== undefined ? OdooField.parseNaive(since) : undefined
        const unseenBefore = typeof sinceMillis === "number" ? sinceMillis - settleMillis : undefined
        // A delivery changes without its order being written (a backorder of a backorder, a
        // tracking number typed in, a picking cancelled): the deliveries have a cursor of their
        // own, and their orders are handed out again. It starts where the orders' cursor stood
        // (or, on a first poll, at the server's clock): what changed before is in the orders
        // handed out since, read with their deliveries as they are.
        let pickingsAfter = after?.pickings
        if (pickingsAfter === undefined && orders.cursor !== undefined) {
          const from = after !== undefined ? after.orders.writeDate : OdooField.formatDateTime(firstPollAt!)
          const start = { writeDate: IntakeCursor.shift(from, -settleMillis), id: 0 }
          pickingsAfter = settleMillis > 0 ? { ...start, settled: start } : start
        }
        const saleOf = new Map<number, number>()
        const pickingQuery: IntakeCursor.Query<PortError.ErpError> = (domain, order, size) =>
          client.searchRead("stock.picking", domain, {
            fields: { write_date: Schema.String, sale_id: OdooField.Many2one },
            order,
            limit: size
          }).pipe(Effect.tap((rows) =>
            Effect.sync(() => {
              for (const r of rows) if (r.sale_id !== null) saleOf.set(r.id, r.sale_id.id)
            })
          ))
        const pickings = pickingsAfter === undefined
          ? { rows: [], cursor: undefined }
          : yield* sweep(
            pickingQuery,
            D.and(D.eq("picking_type_code", "outgoing"), D.ne("sale_id", false)),
            pickingsAfter,
            Math.max(0, limit - orderIds.size)
          )
        const changed = new Map<number, string>() // order → latest change of one of its deliveries
        for (const row of pickings.rows) {
          const sale = saleOf.get(row.id)
          if (sale !== undefined && !orderIds.has(sale) && (changed.get(sale) ?? "") < row.write_date) changed.set(sale, row.write_date)
        }
        if (changed.size > 0) {
          // Only confirmed orders the intake takes, and only when the delivery changed after the
          // order was last written: else the orders' cursor hands the order out (again) itself,
          // its settled sweep once the delivery's transaction committed too (with `intakeSettle`
          // 0, a delivery changed in the second of its order's last write can be missed).
          const rows = yield* client.searchRead("sale.order", D.and(base, D.isIn("id", [...changed.keys()])), {
            fields: { write_date: Schema.String }
          })
          for (const row of rows) if (changed.get(row.id)! > row.write_date) orderIds.add(row.id)
        }
        const rejected: Array<ErpPort.RejectedIntake> = []
        const intakes = yield* intakesOf([...orderIds], rejected, unseenBefore)
        if (orders.cursor === undefined) return new ErpPort.OrderBatch({ intakes, rejected })
        return new ErpPort.OrderBatch({
          intakes,
          rejected,
          cursor: IntakeCursor.encodeIntake({ orders: orders.cursor, pickings: pickings.cursor ?? pickingsAfter, since })
        })
      })

    const fetchIntake = (orderId: number) =>
      Effect.gen(function*() {
        const rows = yield* client.read("sale.order", [orderId], { fields: { state: Schema.String } })
        const row = rows[0]
        // a cancelled order is taken in only when it was confirmed (intakesOf: it has deliveries)
        if (row === undefined || (row.state !== "sale" && row.state !== "done" && row.state !== "cancel")) {
          return Option.none<ErpPort.OrderIntake>()
        }
        return Option.fromNullable((yield* intakesOf([orderId]))[0])
      })

    const intakeFromWebhook = (payload: unknown) =>
      Effect.gen(function*() {
        const hook = yield* decodeWebhook(payload)
        if (hook._model === "sale.order") return yield* fetchIntake(hook._id)
        if (hook._model === "stock.picking") {
          const rows = yield* client.read("stock.picking", [hook._id], { fields: { sale_id: OdooField.Many2one } })
          const sale = rows[0]?.sale_id
          return sale === undefined || sale === null ? Option.none<ErpPort.OrderIntake>() : yield* fetchIntake(sale.id)
        }
        return yield* Effect.fail(
          fail("intakeFromWebhook", "Invalid", `a webhook for ${hook._model} is neither an order (sale.order) nor a delivery (stock.picking)`)
        )
      })

    // -- milestones back ------------------------------------------------------------------------

    const writeTracking: ErpPort.ErpPortShape["writeTracking"] = (request) =>
      Effect.gen(function*() {
        const picking = yield* refOf("writeTracking", request.shipment.refs, "stock.picking", `shipment ${request.shipment.id}`)
        const carrier = request.carrier.trim() === "" ? undefined : yield* carrierIdOf(request.carrier, request.shipment, picking)
        const current = nonEmpty(
          (yield* client.read("stock.picking", [picking], { fields: { carrier_tracking_ref: OdooField.Text } }))[0]
            ?.carrier_tracking_ref
        )
        // A shipment of several parcels has one number per parcel: all of them go on the delivery,
        // joined by `+` as Odoo's connectors write them (and as intake reads them back), so no
        // parcel's number is lost in Odoo. A delivery that already holds every one of them (as
        // Odoo's connector wrote them, or a user added) is left as it is.
        const wanted = [
          ...new Set([
            request.trackingNumber,
            ...request.shipment.packages.flatMap((p) => (p.trackingNumber !== undefined ? [p.trackingNumber] : []))
          ])
        ]
        const holding = current === undefined ? [] : trackingNumbers(current)
        const held = wanted.every((n) => holding.includes(n))
        // Only a number that is none of the shipment's is replaced (one of ours, alone, is completed).
        if (current !== undefined && !held && holding.some((n) => !wanted.includes(n))) {
          // Another number (typed in by a user, or an earlier label's) is replaced: Odoo keeps no
          // history of `carrier_tracking_ref`, so the one replaced is noted in the chatter, once.
          yield* locks.withLock(
            `stock.picking:${picking}`,
            postOnce(
              "stock.picking",
              picking,
              `${request.key}:tracking-replaced`,
              "",
              `Tracking reference ${current} replaced by ${wanted.join("+")}${
                request.carrier.trim() !== "" ? ` (${request.carrier.trim()})` : ""
              }.`
            )
          )
        }
        const values = {
          ...(held ? {} : { carrier_tracking_ref: wanted.join("+") }),
          ...(carrier !== undefined ? { carrier_id: carrier } : {})
        }
        if (Object.keys(values).length > 0) yield* writes.write(`stock.picking:${picking}`, values)
      })

    const messagePosted = (model: string, id: number, marker: string) =>
      client.search("mail.message", D.and(D.eq("model", model), D.eq("res_id", id), D.ilike("body", marker)), { limit: 1 }).pipe(
        Effect.map((found) => found.length > 0)
      )

    const postOnce = (model: string, id: number, key: string, subject: string, body: string) =>
      Effect.gen(function*() {
        const marker = keyMarker(key)
        // On the very first call for a key nothing can have been posted yet: skip the lookup.
        if (!(yield* Dispatcher.Attempt.isFirst) && (yield* messagePosted(model, id, marker))) return false
        yield* client.call(model, "message_post", {
          ids: [id],
          kwargs: {
            body: noteBody((yield* client.info).major, `${subject.trim() !== "" ? `${subject}\n` : ""}${body}\n[${marker}]`),
            message_type: "comment",
            subtype_xmlid: "mail.mt_note",
            ...(subject.trim() !== "" ? { subject } : {})
          }
        })
        return true
      })

    const postNote: ErpPort.ErpPortShape["postNote"] = (request) =>
      Effect.gen(function*() {
        const picking = yield* refOf("postNote", request.shipment.refs, "stock.picking", `shipment ${request.shipment.id}`)
        yield* locks.withLock(`stock.picking:${picking}`, postOnce("stock.picking", picking, request.key, request.subject, request.body))
      })

    const isUserError = (e: PortError.ErpError) => e.reason === "Invalid" && OdooFault.fromError(e)?.shortName === "UserError"

    /** Follows the wizards `button_validate` may return until the picking is done. */
    const followWizards = (pickingId: number, first: unknown) =>
      Effect.gen(function*() {
        let result = first
        let backorder = false
        for (let step = 0; step < 6; step++) {
          if (!isRecord(result)) return { backorder }
          const model = result.res_model
          const context = isRecord(result.context) ? result.context : {}
          if (model === "confirm.stock.sms" && typeof result.res_id === "number") {
            result = yield* client.call("confirm.stock.sms", smsMethod, { ids: [result.res_id], context })
          } else if (model === "stock.immediate.transfer") {
            // Odoo 16: nothing marked done yet, "apply all reserved quantities?"
            const picks = Array.isArray(context.default_pick_ids)
              ? (context.default_pick_ids as Array<unknown>).flatMap((c) => (Array.isArray(c) && typeof c[1] === "number" ? [c[1]] : []))
              : [pickingId]
            const wizard = yield* client.create("stock.immediate.transfer", {
              pick_ids: picks.map((p) => [4, p]),
              immediate_transfer_line_ids: picks.map((p) => [0, 0, { picking_id: p, to_immediate: true }])
            }, { context })
            result = yield* client.call("stock.immediate.transfer", "process", { ids: [wizard], context })
          } else if (model === "stock.backorder.confirmation") {
            const picks = Array.isArray(context.default_pick_ids)
              ? (context.default_pick_ids as Array<unknown>).flatMap((c) => (Array.isArray(c) && typeof c[1] === "number" ? [c[1]] : []))
              : [pickingId]
            const wizard = yield* client.create("stock.backorder.confirmation", {
              pick_ids: picks.map((p) => [4, p]),
              backorder_confirmation_line_ids: picks.map((p) => [0, 0, { picking_id: p, to_backorder: backorders }])
            }, { context })
            backorder = backorders
            result = yield* client.call("stock.backorder.confirmation", backorders ? "process" : "process_cancel_backorder", {
              ids: [wizard],
              context
            })
          } else {
            return yield* Effect.fail(
              fail("validateDelivery", "Invalid", `validating stock.picking ${pickingId} opened an unexpected wizard ${String(model)}`)
            )
          }
        }
        return yield* Effect.fail(fail("validateDelivery", "Bug", `stock.picking ${pickingId}: too many wizards in a row`))
      })

    const validate = (pickingId: number) =>
      client.call("stock.picking", "button_validate", { ids: [pickingId] }).pipe(
        Effect.catchIf(
          (e) => forceUnreserved && isUserError(e),
          (original) =>
            Effect.gen(function*() {
              // nothing reserved: encode the demand as done quantity and validate again
              // (17+: `quantity` + `picked`; 16: `quantity_done`)
              const modern = (yield* client.info).major >= 17
              const done = modern ? "quantity" : "quantity_done"
              const moves = yield* client.searchRead(
                "stock.move",
                D.and(D.eq("picking_id", pickingId), D.notIn("state", ["done", "cancel"])),
                { fields: { product_uom_qty: Schema.Number, [done]: Schema.Number } }
              )
              if (moves.length === 0 || moves.some((m) => m[done] !== 0)) return yield* Effect.fail(original)
              const byQty = new Map<number, Array<number>>()
              for (const m of moves) byQty.set(m.product_uom_qty, [...(byQty.get(m.product_uom_qty) ?? []), m.id])
              for (const [quantity, ids] of byQty) {
                yield* client.write("stock.move", ids, modern ? { quantity, picked: true } : { quantity_done: quantity })
              }
              return yield* client.call("stock.picking", "button_validate", { ids: [pickingId] })
            })
        )
      )

    const printLabelInstalled = yield* Ref.make(Option.none<boolean>())
    const hasPrintLabel = Effect.flatMap(Ref.get(printLabelInstalled), (known) =>
      Option.isSome(known)
        ? Effect.succeed(known.value)
        : client.fieldsGet("stock.picking.type", { fields: ["print_label"], attributes: ["type"] }).pipe(
          Effect.map((fields) => fields.print_label !== undefined),
          Effect.tap((found) => Ref.set(printLabelInstalled, Option.some(found)))
        ))

    /**
     * Keeps Odoo from buying a carrier label for a parcel that was already delivered. Validating
     * a delivery runs `stock.picking._send_confirmation_email` (stock_delivery on 17+, delivery
     * on 16), which calls `send_to_shipper`, and so the connector's `send_shipping` (a label
     * bought from the carrier's API, a new tracking number), when
     *
     *     pick.carrier_id.integration_level == 'rate_and_ship' and pick.picking_type_code != 'incoming'
     *         and not pick.carrier_tracking_ref and pick.picking_type_id.print_label
     *
     * On 16+ it is enough that the delivery holds its tracking number: the one(s) waybill knows
     * are written first, as `writeTracking` would have on dispatch (several parcels joined by
     * `+`, which intake and `writeTracking` read back as the same numbers). Knowing none, the
     * delivery is not validated. Odoo 15 and earlier test only the carrier's level and the
     * operation type, and buy a label whatever the reference: there such a delivery is never
     * validated by waybill (the shipping method must be set to "Get Rate", or the delivery
     * validated in Odoo by someone who knows what it costs).
     *
     * The built-in `fixed` and `base_on_rule` providers are `rate_and_ship` by Odoo's default, but
     * their `send_shipping` calls no carrier and buys nothing: they are validated as before. Any
     * other provider (a connector module's) is taken to buy a label.
     */
    const guardLabelPurchase = (
      picking: {
        readonly name: string
        readonly carrier_id: OdooField.Many2one
        readonly carrier_tracking_ref: string | null
        readonly picking_type_id: OdooField.Many2one
        readonly picking_type_code: string | null
      },
      pickingId: number,
      shipment: Shipment.Shipment
    ) =>
      Effect.gen(function*() {
        if (picking.carrier_id === null || picking.picking_type_code === "incoming") return
        const carrier = (yield* client.read("delivery.carrier", [picking.carrier_id.id], {
          fields: { name: OdooField.Text, delivery_type: OdooField.Text, integration_level: OdooField.Text }
        }))[0]
        if (carrier === undefined || carrier.integration_level !== "rate_and_ship") return
        if (carrier.delivery_type === "fixed" || carrier.delivery_type === "base_on_rule") return
        const what = `validating delivery ${picking.name} (stock.picking ${pickingId}) would make Odoo buy a carrier label from ${
          carrier.name ?? "its carrier"
        } (shipping method at "Get Rate and Create Shipment") for a parcel already delivered`
        const major = (yield* client.info).major
        if (major < 16) {
          return yield* Effect.fail(fail(
            "validateDelivery",
            "Invalid",
            `${what}: Odoo ${major} buys one on every validation, whatever the tracking reference. Set the shipping method's integration level to "Get Rate" (or validate the delivery in Odoo), then replay the dead letter`
          ))
        }
        if (nonEmpty(picking.carrier_tracking_ref) !== undefined) return
        if (picking.picking_type_id !== null && (yield* hasPrintLabel)) {
          const type = (yield* client.read("stock.picking.type", [picking.picking_type_id.id], {
            fields: { print_label: Schema.Boolean }
          }))[0]
          if (type !== undefined && !type.print_label) return
        }
        const numbers = [
          ...new Set([
            ...(shipment.trackingNumber !== undefined ? [shipment.trackingNumber] : []),
            ...shipment.packages.flatMap((p) => (p.trackingNumber !== undefined ? [p.trackingNumber] : []))
          ])
        ]
        if (numbers.length === 0) {
          return yield* Effect.fail(fail(
            "validateDelivery",
            "Invalid",
            `${what}: the delivery has no tracking reference and waybill knows no tracking number for shipment ${shipment.id}. Write the parcel's tracking number in the delivery's Tracking Reference in Odoo, then replay the dead letter`
          ))
        }
        yield* client.write("stock.picking", [pickingId], { carrier_tracking_ref: numbers.join("+") })
      })

    const validateDelivery: ErpPort.ErpPortShape["validateDelivery"] = (request) =>
      Effect.gen(function*() {
        const pickingId = yield* refOf("validateDelivery", request.shipment.refs, "stock.picking", `shipment ${request.shipment.id}`)
        const withState = yield* hasDeliveryState
        return yield* locks.withLock(`stock.picking:${pickingId}`, Effect.gen(function*() {
          const rows = yield* client.read("stock.picking", [pickingId], {
            fields: {
              state: Schema.String,
              name: Schema.String,
              carrier_id: OdooField.Many2one,
              carrier_tracking_ref: OdooField.Text,
              picking_type_id: OdooField.Many2one,
              picking_type_code: OdooField.Text,
              ...(withState ? { delivery_state: OdooField.Text, tracking_state_history: OdooField.Text } : {})
            }
          })
          const picking = rows[0]
          if (picking === undefined) {
            return yield* Effect.fail(fail("validateDelivery", "NotFound", `stock.picking ${pickingId} does not exist`))
          }
          if (picking.state === "cancel") {
            return yield* Effect.fail(fail("validateDelivery", "Invalid", `delivery ${picking.name} is cancelled`))
          }
          let alreadyDone = picking.state === "done"
          if (!alreadyDone) yield* guardLabelPurchase(picking, pickingId, request.shipment)
          let backorder: string | undefined
          // A delivery found done may be a retry whose first attempt split off a backorder and lost
          // the answer: report that backorder again, as the first answer would have.
          const outcome = alreadyDone ? { backorder: true } : yield* Effect.flatMap(validate(pickingId), (first) =>
            followWizards(pickingId, first)).pipe(
              // Done since it was read (by a user, or by an earlier attempt of this call that timed
              // out but went on in Odoo): Odoo 17 answers a done picking with the "no quantities
              // reserved" UserError, which is no failure of this validation.
              Effect.catchIf(isUserError, (e) =>
                Effect.flatMap(client.read("stock.picking", [pickingId], { fields: { state: Schema.String } }), (now) => {
                  if (now[0]?.state !== "done") return Effect.fail(e)
                  alreadyDone = true
                  return Effect.succeed({ backorder: true })
                }))
            )
          if (outcome.backorder) {
            const found = yield* client.search(
              "stock.picking",
              D.and(D.eq("backorder_id", pickingId), D.ne("state", "cancel")),
              { limit: 1, order: "id desc" }
            )
            if (found[0] !== undefined) backorder = canonical("stock.picking", found[0])
          }
          if (withState && (picking as { delivery_state?: string | null }).delivery_state !== "customer_delivered") {
            const pod = request.pod
            const line = [
              `${OdooField.formatDateTime(request.deliveredAt)} delivered`,
              ...(pod?.signedBy !== undefined ? [`signed by ${pod.signedBy}`] : []),
              ...(pod?.evidenceUrl !== undefined ? [`proof of delivery ${pod.evidenceUrl}`] : [])
            ].join(", ")
            const history = (picking as { tracking_state_history?: string | null }).tracking_state_history
            yield* client.write("stock.picking", [pickingId], {
              delivery_state: "customer_delivered",
              date_delivered: OdooField.formatDateTime(request.deliveredAt),
              tracking_state: "delivered",
              tracking_state_history: history !== undefined && history !== null && history !== "" ? `${history}\n${line}` : line
            })
          }
          return new ErpPort.DeliveryValidated(backorder !== undefined ? { alreadyDone, backorder } : { alreadyDone })
        }))
      })

    // -- billing --------------------------------------------------------------------------------

    const invoiceFields = {
      name: OdooField.Text,
      state: Schema.String,
      payment_state: Schema.String,
      amount_total: Schema.Number,
      currency_id: OdooField.Many2one,
      invoice_date: OdooField.Text,
      ref: OdooField.Text,
      posted_before: Schema.Boolean
    } as const
    type InvoiceRow = OdooClient.Row<typeof invoiceFields>

    const paymentStateOf = (state: string) =>
      paymentStates.has(state)
        ? Effect.succeed(state as Invoice.PaymentState)
        : Effect.as(Effect.logWarning(`Odoo payment state ${state} has no canonical equivalent; reported as not_paid`), "not_paid" as const)

    const toInvoice = (request: ErpPort.ReleaseInvoice, row: InvoiceRow) =>
      Effect.gen(function*() {
        const currencyId = row.currency_id?.id ?? 0
        yield* digitsOf([currencyId])
        const paymentState = yield* paymentStateOf(row.payment_state)
        const issued = row.invoice_date !== null ? OdooField.parseNaive(row.invoice_date) : undefined
        return yield* Schema.decodeUnknown(Invoice.Invoice)({
          id: canonical("account.move", row.id),
          companyId: request.shipment.companyId,
          orderId: request.shipment.orderId,
          shipmentIds: [request.shipment.id],
          refs: odooRef("account.move", row.id),
          state: row.state === "cancel" ? "cancelled" : row.state === "posted" ? "posted" : "draft",
          paymentState,
          total: { amountMinor: minor(row.amount_total, currencyId), currency: row.currency_id?.name ?? "" },
          ...(typeof issued === "number" ? { issuedAt: DateTime.formatIso(DateTime.unsafeMake(issued)) } : {})
        }).pipe(
          Effect.mapError((e) =>
            fail("releaseInvoice", "Invalid", `account.move ${row.id} is not a valid invoice: ${e.message}`)
          )
        )
      })

    const readInvoice = (id: number) =>
      Effect.flatMap(client.read("account.move", [id], { fields: invoiceFields }), (rows) =>
        rows[0] !== undefined
          ? Effect.succeed(rows[0])
          : Effect.fail(fail("releaseInvoice", "NotFound", `account.move ${id} does not exist`)))

    /**
     * Posts a draft invoice and reads it back. Posting twice is a UserError (a concurrent post: the
     * move reads posted); a UserError that leaves the move a draft (a lock date, a missing account)
     * is Odoo refusing to post it, a permanent failure: the invoice is not released.
     */
    const post = (id: number) =>
      Effect.gen(function*() {
        const refused = yield* client.call("account.move", "action_post", { ids: [id] }).pipe(
          Effect.as(undefined),
          Effect.catchIf(isUserError, (e) => Effect.succeed(e))
        )
        const row = yield* readInvoice(id)
        if (refused !== undefined && row.state === "draft") {
          return yield* fail("releaseInvoice", "Invalid", `Odoo refused to post account.move ${id}: ${refused.description}`, refused)
        }
        return row
      })

    /**
     * Odoo deducts every down payment already invoiced from the next regular invoice
     * (`_get_invoiceable_lines(final=True)`), however little that invoice holds: cut down to one
     * delivery, its total can go negative, and Odoo refuses to post a negative invoice. So a
     * delivery's invoice deducts no more than it holds: the deduction lines' quantity is scaled
     * down (to the hundredth, as Odoo keeps it) and the rest stays on the order for the next
     * invoice to deduct, as an accountant does by hand.
     */
    const capDeductions = (id: number) =>
      Effect.gen(function*() {
        for (let round = 0; round < 3; round++) {
          const move = (yield* client.read("account.move", [id], {
            fields: { amount_total: Schema.Number, invoice_line_ids: OdooField.X2many }
          }))[0]
          if (move === undefined || move.amount_total >= 0 || move.invoice_line_ids.length === 0) return
          const deductions = (yield* client.read("account.move.line", move.invoice_line_ids, {
            fields: { quantity: Schema.Number, price_total: Schema.Number, is_downpayment: Schema.Boolean }
          })).filter((l) => l.is_downpayment && l.quantity < 0)
          const deducted = deductions.reduce((sum, l) => sum - l.price_total, 0)
          if (deducted <= 0) return // nothing of waybill's to cut: Odoo refuses the post, as it should
          const holds = move.amount_total + deducted
          const scale = holds <= 0 ? 0 : holds / deducted
          const commands = deductions.map((l) => {
            const hundredths = Math.floor(Math.abs(l.quantity) * scale * 100 - (round > 0 ? 1 : 0))
            return hundredths <= 0 ? [2, l.id] : [1, l.id, { quantity: -hundredths / 100 }]
          })
          yield* client.write("account.move", [id], { invoice_line_ids: commands })
        }
      })

    /**
     * Settles a draft of waybill's and posts it: deductions capped, and a draft Odoo turned into a
     * credit note (`_create_invoices(final=True)` does for a negative total) turned back into the
     * customer invoice it is (`action_switch_move_type`; its lines are already the right way up,
     * see `trimCommands`, and its total no longer negative, so Odoo leaves them as they are).
     * A credit note is never posted as a delivery's invoice.
     *
     * Odoo 16 has no `action_switch_move_type` (17+). Its `action_switch_invoice_into_refund_credit_note`
     * only goes one way, invoice → credit note (it refuses any other move type), so it cannot
     * undo what the wizard did: on 16 the draft credit note is left to the accountant, and the
     * release fails `Invalid` naming it (never a `Bug`: nothing is wrong with the setup).
     */
    const settle = (id: number) =>
      Effect.gen(function*() {
        yield* capDeductions(id)
        const move = (yield* client.read("account.move", [id], { fields: { move_type: Schema.String } }))[0]
        if (move?.move_type === "out_refund") {
          const major = (yield* client.info).major
          if (major < 17) return yield* creditNoteOn16(id, `Odoo ${major}`)
          yield* client.call("account.move", "action_switch_move_type", { ids: [id] }).pipe(
            // A server that reads 17+ but lacks the method (a 16 behind a proxy that rewrites the
            // version, a customised build): the same situation, the same answer.
            Effect.catchIf(
              (e) => OdooFault.fromError(e)?.shortName === "AttributeError" && /action_switch_move_type/.test(e.description),
              (e) => Effect.fail(creditNoteOn16(id, "this Odoo server (no action_switch_move_type)", e))
            )
          )
        }
        const after = (yield* client.read("account.move", [id], { fields: { move_type: Schema.String } }))[0]
        if (after !== undefined && after.move_type !== "out_invoice") {
          return yield* fail("releaseInvoice", "Invalid", `account.move ${id} is a ${after.move_type}, not a customer invoice: not posted`)
        }
        return yield* post(id)
      })

    /**
     * The down payments this delivery's invoice deducts exceed what it invoices, Odoo made its
     * draft a credit note, and the server cannot switch a credit note back into an invoice.
     */
    const creditNoteOn16 = (id: number, server: string, cause?: unknown) =>
      fail(
        "releaseInvoice",
        "Invalid",
        `account.move ${id} is a draft credit note: the down payments deducted exceed this delivery's amount, and ` +
          `${server} cannot switch a credit note back into a customer invoice (action_switch_move_type is Odoo 17+; ` +
          `16's action_switch_invoice_into_refund_credit_note only turns an invoice into a credit note). Not posted: ` +
          "invoice this delivery in Odoo (see the runbook), then replay",
        cause
      )

    /**
     * An invoice found by a retry: settled and posted now if still a draft, as it is otherwise. A
     * draft that was posted before is one an accountant reset to draft to correct it: left to them.
     */
    const posted = (row: InvoiceRow) => row.state !== "draft" || row.posted_before ? Effect.succeed(row) : settle(row.id)

    /** Customer invoices, and the drafts of them that Odoo made credit notes. */
    const invoiceOrDraftRefund = D.or(D.eq("move_type", "out_invoice"), D.and(D.eq("move_type", "out_refund"), D.eq("state", "draft")))

    /**
     * An invoice's `ref` marked with the key that released it and the shipment it bills: a
     * shipment's invoice is found by either, never taken for another shipment's.
     */
    const withMarker = (ref: string | null, marker: string, shipment: string) => {
      const marks = `[${marker}] [${shipment}]`
      return ref !== null && ref !== "" ? `${ref} ${marks}` : marks
    }

    /**
     * What one delivery ships of each order line. Odoo invoices an order, not a delivery
     * (`_create_invoices` takes every line with something to invoice: with invoice policy
     * `order` the whole ordered quantity, with `delivery` all that any delivery brought), so the
     * invoice of one delivery is cut down to this: its moves' done quantity once done, else their
     * demand, but only for a line invoiced on order quantities (`byDelivery` holds the lines
     * invoiced on delivered quantities: a move not done has delivered nothing of them yet, and
     * what the line has to invoice is another delivery's). `stocked` holds the lines that any
     * delivery of the order carries; the others (services, the shipping fee, down payments) go
     * with the first invoice that takes them.
     */
    const deliveryShare = (pickingId: number, lineIds: ReadonlyArray<number>, byDelivery: ReadonlySet<number>) =>
      Effect.gen(function*() {
        const done = (yield* client.info).major >= 17 ? "quantity" : "quantity_done"
        const moves = lineIds.length === 0 ? [] : yield* client.searchRead(
          "stock.move",
          D.and(D.isIn("sale_line_id", [...lineIds]), D.ne("state", "cancel")),
          {
            fields: {
              picking_id: OdooField.Many2one,
              sale_line_id: OdooField.Many2one,
              state: Schema.String,
              product_uom_qty: Schema.Number,
              [done]: Schema.Number
            }
          }
        )
        const share = new Map<number, number>()
        const stocked = new Set<number>()
        for (const m of moves) {
          const line = m.sale_line_id?.id
          if (line === undefined) continue
          stocked.add(line)
          if (m.picking_id?.id !== pickingId) continue
          const own = m.state === "done" ? m[done] as number : byDelivery.has(line) ? 0 : m.product_uom_qty
          share.set(line, (share.get(line) ?? 0) + own)
        }
        return { share, stocked }
      })

    /**
     * The commands that cut a draft invoice's lines down to one delivery's share. A draft the
     * wizard made a credit note (its lines negated, see `settle`) has its lines put back the
     * invoice's way up in the same write.
     */
    const trimCommands = (invoiceId: number, delivery: { readonly share: ReadonlyMap<number, number>; readonly stocked: ReadonlySet<number> }) =>
      Effect.gen(function*() {
        const move = (yield* client.read("account.move", [invoiceId], {
          fields: { move_type: Schema.String, invoice_line_ids: OdooField.X2many }
        }))[0]
        const ids = move?.invoice_line_ids ?? []
        const sign = move?.move_type === "out_refund" ? -1 : 1
        const lines = ids.length === 0 ? [] : yield* client.read("account.move.line", ids, {
          fields: { quantity: Schema.Number, sale_line_ids: OdooField.X2many }
        })
        const left = new Map(delivery.share)
        const commands: Array<ReadonlyArray<unknown>> = []
        for (const line of lines) {
          const own = line.sale_line_ids.filter((id) => delivery.stocked.has(id))
          if (own.length === 0) {
            // not shipped by any delivery: stays where Odoo put it (the right way up)
            if (sign < 0 && line.sale_line_ids.length > 0 && line.quantity !== 0) commands.push([1, line.id, { quantity: -line.quantity }])
            continue
          }
          const allowed = own.reduce((sum, id) => sum + (left.get(id) ?? 0), 0)
          const quantity = Math.max(0, Math.min(sign * line.quantity, allowed))
          let used = quantity
          for (const id of own) {
            const take = Math.min(used, left.get(id) ?? 0)
            left.set(id, (left.get(id) ?? 0) - take)
            used -= take
          }
          if (quantity <= 0) commands.push([2, line.id])
          else if (quantity !== line.quantity) commands.push([1, line.id, { quantity }])
        }
        return commands
      })

    const releaseInvoice: ErpPort.ErpPortShape["releaseInvoice"] = (request) =>
      Effect.gen(function*() {
        const pickingId = yield* refOf("releaseInvoice", request.shipment.refs, "stock.picking", `shipment ${request.shipment.id}`)
        let orderId = parseCanonical(request.shipment.orderId, "sale.order")
        if (orderId === undefined) {
          const rows = yield* client.read("stock.picking", [pickingId], { fields: { sale_id: OdooField.Many2one } })
          orderId = rows[0]?.sale_id?.id
          if (orderId === undefined) {
            return yield* Effect.fail(fail("releaseInvoice", "Invalid", `stock.picking ${pickingId} has no sale order to invoice`))
          }
        }
        const so = orderId
        const marker = keyMarker(request.key)
        const shipmentMark = shipmentMarker(request.shipment.id)
        return yield* locks.withLock(`sale.order:${so}`, Effect.gen(function*() {
          // A first call cannot have created an invoice for this key yet; later ones look it up.
          const mine = (yield* Dispatcher.Attempt.isFirst) ? [] : yield* client.searchRead(
            "account.move",
            D.and(invoiceOrDraftRefund, D.ne("state", "cancel"), D.ilike("ref", marker)),
            { fields: invoiceFields, limit: 1 }
          )
          if (mine[0] !== undefined) {
            return new ErpPort.InvoiceReleased({ invoice: yield* toInvoice(request, yield* posted(mine[0])), created: false })
          }
          const orders = yield* client.read("sale.order", [so], {
            fields: { name: Schema.String, state: Schema.String, client_order_ref: OdooField.Text, invoice_ids: OdooField.X2many }
          })
          const order = orders[0]
          if (order === undefined) return yield* Effect.fail(fail("releaseInvoice", "NotFound", `sale.order ${so} does not exist`))
          if (order.state === "cancel") {
            return yield* Effect.fail(fail("releaseInvoice", "Invalid", `${order.name} is cancelled in Odoo: no invoice is released`))
          }
          // The order's invoices, when it has any: one already marked as this shipment's (released
          // under another key) is its invoice; no second one is made for it.
          const existing = order.invoice_ids.length === 0 ? [] : yield* client.searchRead(
            "account.move",
            D.and(D.isIn("id", order.invoice_ids), invoiceOrDraftRefund, D.ne("state", "cancel")),
            { fields: invoiceFields, order: "id desc" }
          )
          const own = existing.find((m) => (m.ref ?? "").includes(shipmentMark))
          if (own !== undefined) {
            return new ErpPort.InvoiceReleased({ invoice: yield* toInvoice(request, yield* posted(own)), created: false })
          }
          const lines = yield* client.searchRead("sale.order.line", D.eq("order_id", so), {
            fields: {
              qty_to_invoice: Schema.Number,
              is_delivery: Schema.Boolean,
              display_type: OdooField.Text,
              product_id: OdooField.Many2one
            }
          })
          const productIds = [...new Set(lines.flatMap((l) => (l.product_id !== null ? [l.product_id.id] : [])))]
          const policies = new Map(
            productIds.length === 0 ? [] : (yield* client.read("product.product", productIds, {
              fields: { invoice_policy: OdooField.Text }
            })).map((p) => [p.id, p.invoice_policy] as const)
          )
          const byDelivery = new Set(
            lines.flatMap((l) => (l.product_id !== null && policies.get(l.product_id.id) === "delivery" ? [l.id] : []))
          )
          const delivery = yield* deliveryShare(pickingId, lines.map((l) => l.id), byDelivery)
          // Something of this delivery waits for an invoice (another delivery's goods do not count).
          const pending = lines.some((l) =>
            l.display_type === null && !l.is_delivery && l.qty_to_invoice > 0 && (delivery.share.get(l.id) ?? 0) > 0
          )
          const unmarked = existing.filter((m) => !(m.ref ?? "").includes("waybill-key:"))
          // An unmarked invoice is this delivery's only when it holds goods of this delivery (of an
          // order line it ships): one of another delivery's goods, or an accountant's draft credit
          // note of another delivery's invoice, never is. Adopted only when nothing of this delivery
          // is left to invoice: a draft holding an order line this delivery shares with another
          // (a backorder) may be either's, and only its marker could tell.
          const candidates = pending ? [] : unmarked
          const shipped = [...delivery.share].flatMap(([line, quantity]) => (quantity > 0 ? [line] : []))
          const holding = candidates.length === 0 || shipped.length === 0 ? [] : yield* client.searchRead(
            "account.move.line",
            D.and(D.isIn("move_id", candidates.map((m) => m.id)), D.isIn("sale_line_ids", shipped)),
            { fields: { move_id: OdooField.Many2one } }
          )
          const holders = new Set(holding.flatMap((l) => (l.move_id !== null ? [l.move_id.id] : [])))
          const adopted = candidates.find((m) => holders.has(m.id))
          if (!pending) {
            // Nothing left to invoice: an earlier attempt created the invoice and lost the answer
            // before marking it (or someone invoiced by hand). Adopt it, never create another. An
            // invoice marked for another shipment is that shipment's, never this one's.
            if (adopted === undefined) {
              return yield* Effect.fail(
                fail(
                  "releaseInvoice",
                  "Invalid",
                  `${order.name} has nothing to invoice for delivery stock.picking ${pickingId}: no delivered quantity of it waits for an invoice`
                )
              )
            }
            // A draft (the one a crash left before it was cut down and marked) holds no more than
            // this delivery; a posted invoice is taken as it is.
            const trim = adopted.state === "draft" ? yield* trimCommands(adopted.id, delivery) : []
            yield* client.write("account.move", [adopted.id], {
              ref: withMarker(adopted.ref, marker, shipmentMark),
              ...(trim.length > 0 ? { invoice_line_ids: trim } : {})
            })
            return new ErpPort.InvoiceReleased({ invoice: yield* toInvoice(request, yield* posted(adopted)), created: false })
          }
          // Another delivery's invoice left a draft by a lost answer (cut down and marked, not yet
          // settled) deducts every down payment still on the order: it is settled and posted now,
          // as its own retry would (which then finds it posted), so that what it does not deduct
          // stays on the order for the invoice made here.
          // One Odoo refuses to post (a lock date, a credit note on 16) stays for its own release
          // to report; this one goes on as before.
          // Never one that was posted before: an accountant reset it to draft to correct it.
          const unsettled = existing.filter((m) => m.state === "draft" && (m.ref ?? "").includes("waybill-key:"))
          for (const m of unsettled.filter((m) => !m.posted_before)) {
            yield* settle(m.id).pipe(
              Effect.catchIf((e) => e.reason === "Invalid", (e) =>
                Effect.logWarning(`account.move ${m.id} of ${order.name} is left a draft: ${e.description}`))
            )
          }
          const context = { active_model: "sale.order", active_ids: [so], active_id: so }
          const wizard = yield* client.create("sale.advance.payment.inv", { advance_payment_method: "delivered" }, { context })
          const action = yield* client.call("sale.advance.payment.inv", "create_invoices", { ids: [wizard], context })
          // Odoo 17+ answers with the new invoice (`res_id`); Odoo 16 answers `act_window_close`
          // (the invoice only with context `open_invoices`, and then every invoice of the order):
          // without `res_id`, the invoice is the one the order did not have before.
          const invoiceId = isRecord(action) && typeof action.res_id === "number" ? action.res_id : yield* Effect.gen(function*() {
            const after = (yield* client.read("sale.order", [so], { fields: { invoice_ids: OdooField.X2many } }))[0]
            const made = (after?.invoice_ids ?? []).filter((id) => !order.invoice_ids.includes(id))
            if (made.length !== 1) {
              // several: another process invoiced the order at the same time (a retry tells them
              // apart by their markers); none: Odoo made no invoice and said nothing
              return yield* Effect.fail(fail(
                "releaseInvoice",
                made.length > 1 ? "Conflict" : "Bug",
                `create_invoices made ${made.length} invoices of ${order.name}${made.length > 0 ? ` (account.move ${made.join(", ")})` : ""}, not one: ${
                  JSON.stringify(action)
                }`
              ))
            }
            return made[0]!
          })
          // Cut down to this delivery and marked in one write (one transaction).
          const trim = yield* trimCommands(invoiceId, delivery)
          yield* client.write("account.move", [invoiceId], {
            ref: withMarker(order.client_order_ref, marker, shipmentMark),
            ...(trim.length > 0 ? { invoice_line_ids: trim } : {})
          })
          // Just created, so a draft: settle and post it, then read it once.
          const created = yield* settle(invoiceId)
          return new ErpPort.InvoiceReleased({ invoice: yield* toInvoice(request, created), created: true })
        }))
      })

    const readPayment: ErpPort.ErpPortShape["readPayment"] = (request) =>
      Effect.gen(function*() {
        const id = yield* refOf("readPayment", request.invoice.refs, "account.move", `invoice ${request.invoice.id}`)
        const rows = yield* client.read("account.move", [id], { fields: { state: Schema.String, payment_state: Schema.String } })
        const row = rows[0]
        if (row === undefined) return yield* Effect.fail(fail("readPayment", "NotFound", `account.move ${id} does not exist`))
        // Odoo reads a cancelled invoice as `not_paid` (its payment state is only computed when
        // posted): it is owed by no one, so it has no payment state to report.
        if (row.state === "cancel") {
          return yield* Effect.fail(fail("readPayment", "Invalid", `account.move ${id} is cancelled in Odoo: nothing is owed on it`))
        }
        return yield* paymentStateOf(row.payment_state)
      })

    // -- service cases --------------------------------------------------------------------------

    const caseModelRef = yield* Ref.make(Option.none<"project.task" | "helpdesk.ticket">())
    const caseModel = Effect.flatMap(Ref.get(caseModelRef), (known) => {
      if (Option.isSome(known)) return Effect.succeed(known.value)
      const wanted = options.serviceCases?.model ?? "auto"
      const detect = wanted !== "auto"
        ? Effect.succeed(wanted)
        : client.searchCount("ir.model", D.eq("model", "helpdesk.ticket")).pipe(
          Effect.map((n): "project.task" | "helpdesk.ticket" => (n > 0 ? "helpdesk.ticket" : "project.task")),
          Effect.catchIf((e) => e.reason === "Forbidden", () => Effect.succeed("project.task" as const))
        )
      return Effect.tap(detect, (m) => Ref.set(caseModelRef, Option.some(m)))
    })

    /**
     * The Odoo company a shipment's case belongs in: the request's (a canonical `res.company` id
     * of this instance), else the company of its delivery (`stock.picking.company_id`), read when
     * the canonical ids are not Odoo's (a custom `companyId`). Undefined when neither is known:
     * the case then goes where it went before companies were considered.
     */
    const caseCompany = (request: { readonly companyId: string; readonly shipmentId: string }) =>
      Effect.gen(function*() {
        const given = parseCanonical(request.companyId, "res.company")
        if (given !== undefined) return given
        const picking = parseCanonical(request.shipmentId, "stock.picking")
        if (picking === undefined) return undefined
        const rows = yield* client.read("stock.picking", [picking], { fields: { company_id: OdooField.Many2one } })
        return rows[0]?.company_id?.id
      })

    /**
     * The project of a company's tasks, and the project's own company (`false`: shared). A
     * task's company follows its project's in Odoo (`project.task._compute_company_id`), and
     * support staff only see the tasks of their companies, so each company gets the project named
     * `projectName` of its own (or a shared one), created for it when missing. A configured
     * `projectId` is used for every company.
     */
    const projects = new Map<string, { readonly id: number; readonly company: number | false }>()
    /** Moves the tasks of a duplicate project to `into` and removes it (archives it where the API user may not delete projects). */
    const mergeProject = (duplicate: number, into: number) =>
      Effect.gen(function*() {
        const tasks = yield* client.search("project.task", D.eq("project_id", duplicate), { context: { active_test: false } })
        if (tasks.length > 0) yield* client.write("project.task", tasks, { project_id: into })
        yield* client.unlink("project.project", [duplicate]).pipe(
          Effect.catchIf((e) => e.reason === "Forbidden", () => client.write("project.project", [duplicate], { active: false }))
        )
      })
    const projectOf = (company: number | undefined) => {
      const cacheKey = String(company ?? "")
      return locks.withLock(`project.project:service-cases:${cacheKey}`, Effect.suspend(() => {
        const known = projects.get(cacheKey)
        if (known !== undefined) return Effect.succeed(known)
        return Effect.gen(function*() {
          const configured = options.serviceCases?.projectId
          let project: { readonly id: number; readonly company: number | false }
          if (configured !== undefined) {
            const rows = yield* client.read("project.project", [configured], { fields: { company_id: OdooField.Many2one } })
            project = { id: configured, company: rows[0]?.company_id?.id ?? false }
          } else {
            const name = options.serviceCases?.projectName ?? "Service cases"
            const find = Effect.map(
              client.searchRead(
                "project.project",
                D.and(D.eq("name", name), company !== undefined ? D.isIn("company_id", [company, false]) : D.all),
                { fields: { company_id: OdooField.Many2one }, order: "id asc" }
              ),
              // the company's own project first (the lowest id), else a shared one
              (rows) =>
                company !== undefined
                  ? rows.find((r) => r.company_id?.id === company) ?? rows.find((r) => r.company_id === null)
                  : rows[0]
            )
            const found = yield* find
            if (found !== undefined) project = { id: found.id, company: found.company_id?.id ?? false }
            else {
              const id = yield* client.create("project.project", { name, ...(company !== undefined ? { company_id: company } : {}) })
              // Another process may have created the company's project at the same time (the lock
              // above is per process). As for a case, the one with the lowest id is the company's
              // (the one every later lookup finds): a duplicate this call created is removed, its
              // tasks moved first (another process may have taken it for the company's already,
              // and unlinking a project unlinks its tasks).
              const first = yield* find
              if (first !== undefined && first.id !== id && (first.company_id?.id ?? undefined) === company) {
                yield* mergeProject(id, first.id)
                project = { id: first.id, company: first.company_id?.id ?? false }
              } else project = { id, company: company ?? false }
            }
          }
          projects.set(cacheKey, project)
          return project
        })
      }))
    }

    /**
     * The helpdesk team of a company's tickets: a ticket is in its team's company (Odoo:
     * `helpdesk.ticket.company_id` is `related='team_id.company_id'`). The configured
     * `helpdeskTeamId`, else the first team (by sequence) of the company, else Odoo's default team
     * (with a warning). A company without a team is looked up again next time.
     */
    const teams = new Map<number, number>()
    const teamOf = (company: number | undefined) =>
      Effect.gen(function*() {
        const configured = options.serviceCases?.helpdeskTeamId
        if (configured !== undefined || company === undefined) return configured
        const known = teams.get(company)
        if (known !== undefined) return known
        const rows = yield* client.searchRead("helpdesk.team", D.isIn("company_id", [company, false]), {
          fields: { company_id: OdooField.Many2one },
          order: "sequence asc, id asc"
        })
        const found = rows.find((r) => r.company_id?.id === company) ?? rows[0]
        if (found === undefined) {
          yield* Effect.logWarning(`res.company ${company} has no helpdesk team; the ticket goes to Odoo's default team`)
          return undefined
        }
        teams.set(company, found.id)
        return found.id
      })

    const contextHtml = (context: HelpdeskPort.CaseContext): string => {
      const items: Array<string> = []
      const add = (label: string, value: string | undefined) => {
        if (value !== undefined && value !== "") items.push(`<li>${label}: ${escapeHtml(value)}</li>`)
      }
      add("Status", context.progress !== undefined ? `${context.status} (progress: ${context.progress})` : context.status)
      add("Order", context.orderId)
      add("Carrier", context.carrier)
      add("Tracking number", context.trackingNumber)
      add(
        "Last scan",
        [context.lastCity, context.lastCountry].filter((x) => x !== undefined).join(", ") +
          (context.lastScanAt !== undefined ? ` at ${DateTime.formatIso(context.lastScanAt)}` : "")
      )
      for (const e of context.exceptions) {
        add("Exception", `${e.kind} (${e.open ? "open" : "resolved"}, ${e.code}) at ${DateTime.formatIso(e.at)}`)
      }
      if (context.invoiceExposure !== undefined) {
        add("Invoice exposure", Money.format(context.invoiceExposure))
      }
      add("Next action", context.nextAction)
      add("Customer", context.customerName)
      add("Customer email", context.customerEmail)
      add("Customer phone", context.customerPhone)
      add(
        "Ship to",
        [context.shipToStreet, [context.shipToPostalCode, context.shipToCity].filter((x) => x !== undefined).join(" "), context.shipToCountry]
          .filter((x) => x !== undefined && x !== "")
          .join(", ")
      )
      return items.length > 0 ? `<ul>${items.join("")}</ul>` : ""
    }

    const plainContext = (context: HelpdeskPort.CaseContext): string =>
      contextHtml(context).replace(/<li>/g, "\n- ").replace(/<[^>]+>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
        .replace(/&quot;/g, "\"").replace(/&amp;/g, "&")

    /** The cases matching `domain` (archived ones too), with what `reopen` needs. */
    const caseRows = (model: string, domain: D.Domain) =>
      Effect.flatMap(client.info, (server) =>
        client.searchRead(model, domain, {
          fields: {
            description: OdooField.Text,
            active: Schema.Boolean,
            // project.task.state exists from 17
            ...(model === "project.task" && server.major >= 17 ? { state: OdooField.Text } : {}),
            ...(model === "helpdesk.ticket" ? { stage_id: OdooField.Many2one, team_id: OdooField.Many2one } : {})
          },
          limit: 1,
          order: "id asc",
          context: { active_test: false }
        })).pipe(Effect.map((rows) => rows[0]))

    const findCase = (model: string, shipmentId: string) => caseRows(model, D.ilike("description", shipmentMarker(shipmentId)))

    const enrichCase = (model: string, row: { readonly id: number; readonly description: string | null }, key: string, note: string) =>
      (row.description ?? "").includes(keyMarker(key))
        ? Effect.succeed(false) // the call that created the case carried this note
        : postOnce(model, row.id, key, "", note)

    type TicketStage = { readonly stage_id: OdooField.Many2one; readonly team_id: OdooField.Many2one }

    /** A ticket's stage and team, read when not given. */
    const ticketStage = (
      id: number,
      given: { readonly stage_id?: OdooField.Many2one | undefined; readonly team_id?: OdooField.Many2one | undefined }
    ) =>
      given.stage_id !== undefined && given.team_id !== undefined
        ? Effect.succeed<TicketStage>({ stage_id: given.stage_id, team_id: given.team_id })
        : Effect.map(
          client.read("helpdesk.ticket", [id], { fields: { stage_id: OdooField.Many2one, team_id: OdooField.Many2one } }),
          (rows): TicketStage => rows[0] ?? { stage_id: null, team_id: null }
        )

    /** Whether a ticket sits in a folded (closed) stage. */
    const ticketFolded = (ticket: TicketStage) =>
      ticket.stage_id === null
        ? Effect.succeed(false)
        : Effect.map(
          client.read("helpdesk.stage", [ticket.stage_id.id], { fields: { fold: Schema.Boolean } }),
          (stages) => stages[0]?.fold === true
        )

    /**
     * The first stage (by sequence) that is folded or not, of the ticket's team: helpdesk stages
     * belong to teams (`helpdesk.stage.team_ids`). A ticket without a team takes the first such
     * stage of any team; a team without one leaves the ticket where it is (with a warning).
     */
    const teamStage = (id: number, ticket: TicketStage, fold: boolean) =>
      Effect.gen(function*() {
        const team = ticket.team_id
        const found = yield* client.search(
          "helpdesk.stage",
          team !== null ? D.and(D.eq("fold", fold), D.isIn("team_ids", [team.id])) : D.eq("fold", fold),
          { limit: 1, order: "sequence asc, id asc" }
        )
        if (found[0] === undefined) {
          yield* Effect.logWarning(
            `helpdesk.ticket ${id}: ${team !== null ? `its team ${team.name} (${team.id})` : "no team"} has no ${
              fold ? "folded" : "open"
            } stage; the ticket stays in its stage`
          )
        }
        return found[0]
      })

    const reopen = (
      model: string,
      row: {
        readonly id: number
        readonly active: boolean
        readonly state?: string | null
        readonly stage_id?: OdooField.Many2one | undefined
        readonly team_id?: OdooField.Many2one | undefined
      }
    ) =>
      Effect.gen(function*() {
        const server = yield* client.info
        const values: Record<string, unknown> = {}
        if (!row.active) values.active = true
        if (model === "project.task" && server.major >= 17 && (row.state === "1_done" || row.state === "1_canceled")) {
          values.state = "01_in_progress"
        }
        if (model === "helpdesk.ticket") {
          const ticket = yield* ticketStage(row.id, row)
          if (yield* ticketFolded(ticket)) {
            // solved or cancelled: back to the first stage of its team that is not folded
            const stage = yield* teamStage(row.id, ticket, false)
            if (stage !== undefined) values.stage_id = stage
          }
        }
        if (Object.keys(values).length > 0) yield* client.write(model, [row.id], values)
      })

    const closeCase = (model: string, id: number) =>
      Effect.gen(function*() {
        const server = yield* client.info
        if (model === "project.task") {
          if (server.major >= 17) yield* client.write(model, [id], { state: "1_done" })
          return
        }
        const stage = yield* teamStage(id, yield* ticketStage(id, {}), true)
        if (stage !== undefined) yield* client.write(model, [id], { stage_id: stage })
      })

    /**
     * Cases this process found or created, by shipment: a case, once it exists, keeps its id, so a
     * later first-attempt call reads it by id instead of searching; any failure forgets the entry
     * and the next call looks the case up again.
     */
    const knownCases = new LRUCache<string, { readonly id: number }>({ max: 10_000 })
    const rememberCase = (shipmentId: string, id: number) => {
      knownCases.set(shipmentId, { id })
    }
    const cachedCase = (shipmentId: string) =>
      Effect.map(Dispatcher.Attempt.isFirst, (first) => (first ? knownCases.get(shipmentId) : undefined))

    const openOrEnrich: HelpdeskPort.HelpdeskPortShape["openOrEnrich"] = (request) =>
      Effect.gen(function*() {
        const model = yield* caseModel
        return yield* locks.withLock(`case:${request.shipmentId}`, Effect.gen(function*() {
          const note = `${request.note}\n${plainContext(request.context)}`
          const known = yield* cachedCase(request.shipmentId)
          // A known id is read by id (cheaper than the marker search), not trusted as it was: an
          // agent may have solved or archived the case in Odoo since, and it is reopened.
          const byId = known !== undefined ? yield* caseRows(model, D.eq("id", known.id)) : undefined
          const existing = byId ?? (yield* findCase(model, request.shipmentId))
          if (existing !== undefined) {
            yield* reopen(model, existing)
            yield* enrichCase(model, existing, request.key, note)
            rememberCase(request.shipmentId, existing.id)
            return new HelpdeskPort.CaseRef({ externalId: `${model}:${existing.id}`, created: false })
          }
          const description = `<p>${escapeHtml(request.note)}</p>${contextHtml(request.context)}<p>waybill shipment ${
            escapeHtml(request.shipmentId)
          } · ${shipmentMarker(request.shipmentId)} · ${keyMarker(request.key)}</p>`
          const company = yield* caseCompany(request)
          let values: Record<string, unknown>
          if (model === "project.task") {
            const project = yield* projectOf(company)
            if (project.company !== false && company !== undefined && project.company !== company) {
              yield* Effect.logWarning(
                `shipment ${request.shipmentId} is of res.company ${company}, but its case goes to project.project ${project.id} of res.company ${project.company} (serviceCases.projectId): the task is in the project's company`
              )
            }
            // a task in a shared project has no company unless given one
            const taskCompany = project.company !== false ? project.company : company
            values = {
              name: request.subject,
              project_id: project.id,
              description,
              ...(taskCompany !== undefined ? { company_id: taskCompany } : {})
            }
          } else {
            const team = yield* teamOf(company)
            values = { name: request.subject, description, ...(team !== undefined ? { team_id: team } : {}) }
          }
          const id = yield* client.create(model, values).pipe(
            // the project may be gone (a duplicate another process merged away): look it up again next time
            Effect.tapError(() => Effect.sync(() => projects.delete(String(company ?? ""))))
          )
          // Another process may have opened the shipment's first case at the same time: the
          // dispatcher's lease is per action key (a first exception's and a second one's differ)
          // and the lock above is per process. The case with the lowest id is the shipment's (the
          // one `findCase` returns to every later call); a duplicate this call created is removed
          // and its note goes to that case.
          const first = yield* findCase(model, request.shipmentId)
          if (first !== undefined && first.id < id) {
            // (archived where the API user may not delete cases: `findCase` still prefers the first)
            yield* client.unlink(model, [id]).pipe(
              Effect.catchIf((e) => e.reason === "Forbidden", () => client.write(model, [id], { active: false }))
            )
            yield* reopen(model, first)
            yield* enrichCase(model, first, request.key, note)
            rememberCase(request.shipmentId, first.id)
            return new HelpdeskPort.CaseRef({ externalId: `${model}:${first.id}`, created: false })
          }
          rememberCase(request.shipmentId, id)
          return new HelpdeskPort.CaseRef({ externalId: `${model}:${id}`, created: true })
        }).pipe(Effect.tapError(() => Effect.sync(() => knownCases.delete(request.shipmentId)))))
      }).pipe(Effect.mapError(toHelpdeskError))

    const update: HelpdeskPort.HelpdeskPortShape["update"] = (request) =>
      Effect.gen(function*() {
        const model = yield* caseModel
        return yield* locks.withLock(`case:${request.shipmentId}`, Effect.gen(function*() {
          const note = `${request.note}\n${plainContext(request.context)}`
          const known = yield* cachedCase(request.shipmentId)
          const existing = known !== undefined ? undefined : yield* findCase(model, request.shipmentId)
          const id = known?.id ?? existing?.id
          if (id === undefined) {
            return yield* Effect.fail(fail("update", "NotFound", `shipment ${request.shipmentId} has no service case in ${model}`))
          }
          if (existing !== undefined) yield* enrichCase(model, existing, request.key, note)
          else yield* postOnce(model, id, request.key, "", note)
          if (request.resolve) yield* closeCase(model, id)
          rememberCase(request.shipmentId, id)
          return new HelpdeskPort.CaseRef({ externalId: `${model}:${id}`, created: false })
        }).pipe(Effect.tapError(() => Effect.sync(() => knownCases.delete(request.shipmentId)))))
      }).pipe(Effect.mapError(toHelpdeskError))

    return {
      fetchOrders,
      writeTracking,
      postNote,
      validateDelivery,
      releaseInvoice,
      readPayment,
      openOrEnrich,
      update,
      fetchIntake,
      intakeFromWebhook
    } satisfies OdooErpShape
  })

const splitKey = (key: string): [string, number] => {
  const i = key.lastIndexOf(":")
  return [key.slice(0, i), Number(key.slice(i + 1))]
}

/**
 * A layer providing `OdooErp`, and the generic `ErpPort` and `HelpdeskPort` tags.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<OdooErp | ErpPort.ErpPort | HelpdeskPort.HelpdeskPort, never, OdooClient.OdooClient> =>
  Layer.effectContext(
    Effect.map(make(options), (erp) =>
      Context.make(OdooErp, erp).pipe(
        Context.add(ErpPort.ErpPort, erp),
        Context.add(HelpdeskPort.HelpdeskPort, erp)
      ))
  )

/**
 * One polling round: reads the cursor from the store, fetches the next orders, hands them to
 * `handle`, and stores the new cursor only after `handle` succeeded (so a crash re-delivers,
 * never skips). Returns the number of intakes handled.
 *
 * @since 0.1.0
 */
export const poll = <E, R>(options: {
  readonly store: Pick<Store.StoreShape, "getCursor" | "setCursor">
  readonly handle: (intakes: ReadonlyArray<ErpPort.OrderIntake>) => Effect.Effect<void, E, R>
  /** Default `odoo:orders`. */
  readonly cursorName?: string | undefined
  /** Default 100. */
  readonly limit?: number | undefined
}): Effect.Effect<number, PortError.ErpError | PortError.StorageError | E, R | ErpPort.ErpPort> =>
  Effect.gen(function*() {
    const erp = yield* ErpPort.ErpPort
    const name = options.cursorName ?? "odoo:orders"
    const cursor = yield* options.store.getCursor(name)
    const batch = yield* erp.fetchOrders({ cursor, limit: options.limit ?? 100 })
    if (batch.intakes.length > 0) yield* options.handle(batch.intakes)
    if (batch.cursor !== undefined && batch.cursor !== cursor) yield* options.store.setCursor(name, batch.cursor)
    return batch.intakes.length
  })
