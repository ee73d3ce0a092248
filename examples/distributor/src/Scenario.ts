/**
 * The world the demo runs in: the distributor's Odoo (the embedded `OdooFake`, or a real server
 * when `ODOO_URL` is set), its catalogue, stock and customers, the sale orders confirmed over the
 * scenario's first two days, and the EasyPost account (the embedded EasyPost fake).
 *
 * With the fake, the world is seeded through `fake.admin`, which does not count as Odoo calls:
 * the calls the report shows are waybill's own. A real Odoo is seeded through the JSON-RPC /
 * JSON-2 client; the demo's orders carry a customer reference of their own (`WB-DEMO-…`) and
 * waybill's intake is restricted to them, so other orders in that database are left alone.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { EasyPostFake } from "@waybill/carrier-easypost/testing"
import { OdooClient, OdooDomain as D, OdooField } from "@waybill/odoo"
import { OdooFake } from "@waybill/odoo/testing"
import { PortError, type Shipment } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stories from "./Stories.js"

/**
 * Where the scenario's Odoo is.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly seed: number
  /** Version of the embedded fake. Default 17. */
  readonly odooVersion?: OdooFake.Version | undefined
  /** A real Odoo (a test database: the demo creates orders, validates deliveries and posts invoices). */
  readonly odoo?: OdooClient.Options | undefined
}

/**
 * An order of the scenario, confirmed in Odoo.
 *
 * @since 0.1.0
 */
export interface ConfirmedOrder {
  readonly story: Stories.Story
  readonly orderId: number
  readonly pickingId: number
  /** The delivery's reference in Odoo (`WH/OUT/00042`): what the warehouse calls it. */
  readonly reference: string
}

/**
 * A shipment released to its carrier: registered with waybill, with its carrier and tracking
 * number.
 *
 * @since 0.1.0
 */
export interface Released {
  readonly story: Stories.Story
  readonly order: ConfirmedOrder
  readonly shipment: Shipment.Shipment
}

/**
 * The world.
 *
 * @since 0.1.0
 */
export interface World {
  readonly odoo: {
    readonly kind: "fake" | "real"
    readonly label: string
    /** How waybill connects to it. */
    readonly clientOptions: OdooClient.Options
    /** The embedded fake (for its call log and fault injection). */
    readonly fake: OdooFake.OdooFake | undefined
    /** The canonical instance prefix (`<instance>:stock.picking:<id>`). */
    readonly instance: string
  }
  readonly easypost: EasyPostFake.EasyPostFake
  /** Only the demo's orders are taken in. */
  readonly intakeDomain: D.Domain
  /** Creates and confirms a story's order in Odoo (its delivery is created and reserved). */
  readonly confirm: (story: Stories.Story) => Effect.Effect<ConfirmedOrder, PortError.ErpError>
  /** Confirmed orders by Odoo `sale.order` id. */
  readonly orders: ReadonlyMap<number, ConfirmedOrder>
}

/** Names of the delivery methods the distributor uses. @since 0.1.0 */
export const carrierNames = { easypost: "USPS", swift: "Swift Courier" } as const

const STOCK = 100_000

/**
 * Builds the world for the lifetime of the scope.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options
): Effect.Effect<World, PortError.ErpError, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const easypost = yield* EasyPostFake.make()
    const runTag = `WB-DEMO-${options.seed}-${Date.now().toString(36).toUpperCase()}`
    const orders = new Map<number, ConfirmedOrder>()
    const intakeDomain = D.ilike("client_order_ref", `${runTag}-`)
    const remember = (order: ConfirmedOrder) => {
      orders.set(order.orderId, order)
      return order
    }

    if (options.odoo === undefined) {
      const fake = yield* OdooFake.make({ version: options.odooVersion ?? 17 })
      const admin = fake.admin
      for (const name of Object.values(carrierNames)) admin.create("delivery.carrier", { name, delivery_type: "fixed", fixed_price: 0 })
      const products = Stories.catalogue.map((p) => {
        const id = admin.createProduct({ name: p.name, code: p.code, weightKg: p.weightKg, price: p.price })
        admin.setStock(id, STOCK)
        return id
      })
      const confirm = (story: Stories.Story) =>
        Effect.sync(() => {
          const partnerId = admin.createPartner(partnerValues(story, 233))
          const { orderId, pickingIds } = admin.createOrder({
            partnerId,
            lines: story.lines.map((l) => ({ productId: products[l.product]!, quantity: l.quantity })),
            clientRef: `${runTag}-${story.index}`
          })
          const pickingId = pickingIds[0]!
          const reference = String(admin.read("stock.picking", [pickingId], ["name"])[0]?.name)
          return remember({ story, orderId, pickingId, reference })
        })
      return {
        odoo: { kind: "fake", label: `Odoo ${fake.version} (embedded fake)`, clientOptions: fake.clientOptions(), fake, instance: fake.database },
        easypost,
        intakeDomain,
        confirm,
        orders
      } satisfies World
    }

    // A real Odoo: seed through the API.
    const client = yield* OdooClient.make(options.odoo)
    const info = yield* client.info
    const features = OdooClient.features(info.major)
    const country = (yield* client.search("res.country", D.eq("code", "US"), { limit: 1 }))[0]
    const warehouse = (yield* client.searchRead("stock.warehouse", D.all, {
      fields: { lot_stock_id: OdooField.Many2one },
      limit: 1,
      order: "id asc"
    }))[0]
    const stockLocation = warehouse?.lot_stock_id?.id
    if (stockLocation === undefined) {
      return yield* new PortError.ErpError({
        reason: "Invalid",
        module: "Scenario",
        method: "make",
        description: "the Odoo database has no warehouse (install Inventory)"
      })
    }
    const products: Array<number> = []
    for (const p of Stories.catalogue) {
      const found = yield* client.search("product.product", D.eq("default_code", p.code), { limit: 1 })
      const id =
        found[0] ??
        (yield* client.create("product.product", {
          name: p.name,
          default_code: p.code,
          ...features.storableProduct,
          weight: p.weightKg,
          list_price: p.price,
          invoice_policy: "delivery"
        }))
      const quant = yield* client.create(
        "stock.quant",
        { product_id: id, location_id: stockLocation, inventory_quantity: STOCK },
        { context: { inventory_mode: true } }
      )
      yield* client.call("stock.quant", "action_apply_inventory", { ids: [quant] })
      products.push(id)
    }
    const confirm = (story: Stories.Story) =>
      Effect.gen(function* () {
        const partnerId = yield* client.create("res.partner", partnerValues(story, country))
        const orderId = yield* client.create("sale.order", {
          partner_id: partnerId,
          client_order_ref: `${runTag}-${story.index}`,
          order_line: story.lines.map((l) => [0, 0, { product_id: products[l.product]!, product_uom_qty: l.quantity }])
        })
        yield* client.call("sale.order", "action_confirm", { ids: [orderId] })
        const pickings = yield* client.searchRead(
          "stock.picking",
          D.and(D.eq("sale_id", orderId), D.eq("picking_type_code", "outgoing")),
          { fields: { name: Schema.String }, order: "id asc", limit: 1 }
        )
        const picking = pickings[0]
        if (picking === undefined) {
          return yield* new PortError.ErpError({
            reason: "Invalid",
            module: "Scenario",
            method: "confirm",
            description: `sale.order ${orderId} has no outgoing delivery after confirmation (are the products storable?)`
          })
        }
        return remember({ story, orderId, pickingId: picking.id, reference: picking.name })
      })
    return {
      odoo: {
        kind: "real",
        label: `Odoo ${info.version} at ${options.odoo.url}`,
        clientOptions: options.odoo,
        fake: undefined,
        instance: options.odoo.database
      },
      easypost,
      intakeDomain,
      confirm,
      orders
    } satisfies World
  })

const partnerValues = (story: Stories.Story, country: number | undefined): Record<string, unknown> => ({
  name: story.customer.name,
  is_company: true,
  email: story.customer.email,
  phone: story.customer.phone,
  street: story.customer.street,
  city: story.customer.city,
  zip: story.customer.zip,
  ...(country !== undefined ? { country_id: country } : {})
})
