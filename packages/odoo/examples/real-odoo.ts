/**
 * Runs the adapter against a real Odoo 16–19 server. Run by hand:
 *
 *   ODOO_URL=https://acme.odoo.com ODOO_DB=acme ODOO_LOGIN=admin ODOO_API_KEY=... \
 *     npx tsx packages/odoo/examples/real-odoo.ts
 *
 * It only reads: the server version and transport, then the first page of confirmed orders and
 * their deliveries as canonical `OrderIntake`s. (Writes — tracking, validation, invoices — go
 * through the same `OdooErp` service; try them on a test database.)
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { DateTime, Effect, Layer } from "effect"
import { OdooClient, OdooErp } from "@waybill/odoo"

const program = Effect.gen(function*() {
  const client = yield* OdooClient.OdooClient
  const info = yield* client.info
  yield* Effect.log(`Odoo ${info.version} (major ${info.major}) over ${info.transport}`)

  const erp = yield* OdooErp.OdooErp
  const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 5 })
  for (const { order, shipments } of batch.intakes) {
    yield* Effect.log(
      `${order.id} confirmed ${DateTime.formatIso(order.confirmedAt)}: ${order.lines.length} line(s), ` +
        `${shipments.length} delivery(ies): ${shipments.map((s) => `${s.id} ${s.trackingNumber ?? "-"}`).join(", ")}`
    )
  }
  yield* Effect.log(`next cursor: ${batch.cursor ?? "(none)"}`)
})

const OdooLive = OdooErp.layer().pipe(
  Layer.provideMerge(OdooClient.layerConfig(OdooClient.config("ODOO_"))),
  Layer.provide(FetchHttpClient.layer)
)

program.pipe(Effect.provide(OdooLive), Effect.runPromise).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
