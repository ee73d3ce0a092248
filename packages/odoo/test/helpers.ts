/**
 * Shared setup of the Odoo tests: a fake with a customer, a product in stock and a confirmed
 * order, and the client / adapter wired to it.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { ErpPort, type PortError } from "@waybill/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as OdooClient from "../src/OdooClient.js"
import * as OdooErp from "../src/OdooErp.js"
import { OdooFake } from "../src/testing/index.js"

export const FetchLayer = FetchHttpClient.layer

/** A client and an adapter on `fake`. */
export const connect = (
  fake: OdooFake.OdooFake,
  clientOverrides: Partial<OdooClient.Options> = {},
  options: OdooErp.Options = {}
): Effect.Effect<
  { readonly client: OdooClient.OdooClientShape; readonly erp: OdooErp.OdooErpShape },
  never,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const client = yield* OdooClient.make(fake.clientOptions(clientOverrides))
    const erp = yield* OdooErp.make(options).pipe(Effect.provideService(OdooClient.OdooClient, client))
    return { client, erp }
  })

/** A customer, a storable widget (2.5 kg, 40.00) with `stock` on hand, and a confirmed order for `quantity`. */
export const seedOrder = (
  fake: OdooFake.OdooFake,
  options: { readonly stock?: number; readonly quantity?: number; readonly code?: string } = {}
) => {
  const partner = fake.admin.createPartner()
  const product = fake.admin.createProduct({
    name: "Waybill Widget",
    code: options.code ?? "WB-WIDGET",
    weightKg: 2.5,
    price: 40
  })
  if ((options.stock ?? 100) > 0) fake.admin.setStock(product, options.stock ?? 100)
  const { orderId, pickingIds } = fake.admin.createOrder({
    partnerId: partner,
    lines: [{ productId: product, quantity: options.quantity ?? 3, price: 40 }],
    carrierId: 1,
    clientRef: "WB-REF-0001"
  })
  return { partner, product, orderId, pickingId: pickingIds[0]! }
}

/** The intake of `orderId`, through the adapter. */
export const intakeOf = (erp: OdooErp.OdooErpShape, orderId: number): Effect.Effect<ErpPort.OrderIntake, PortError.ErpError> =>
  Effect.flatMap(erp.fetchIntake(orderId), (found) =>
    found._tag === "Some" ? Effect.succeed(found.value) : Effect.dieMessage(`no intake for sale.order ${orderId}`))

export const key = (s: string): ErpPort.IdempotencyKey => ErpPort.IdempotencyKey.make(s)

export { ErpPort }
