/**
 * A minimal host without Effect: the Promise facade (`Waybill.create`), quoted in
 * `docs/getting-started.md` (a test checks that the guide and this file agree;
 * `tsc -b examples/distributor` checks that it compiles).
 *
 *   ODOO_URL=… ODOO_DB=… ODOO_LOGIN=… ODOO_API_KEY=… EASYPOST_API_KEY=… EASYPOST_WEBHOOK_SECRET=… \
 *     npx tsx --conditions=source examples/distributor/src/snippets/PromiseHost.ts
 *
 * @since 0.1.0
 */
// #region promise
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { EasyPostCarrier, EasyPostWebhook } from "@waybill/carrier-easypost"
import { CarrierPort, ErpPort, Flows, PortError, Shipment, Waybill } from "@waybill/core"
import { OdooClient, OdooErp } from "@waybill/odoo"
import { Config, Layer, ManagedRuntime } from "effect"
import * as Http from "node:http"

// The adapters are built once from the environment (ODOO_URL, ODOO_DB, ODOO_LOGIN, ODOO_API_KEY,
// EASYPOST_API_KEY, EASYPOST_WEBHOOK_SECRET) and live as long as the runtime.
const adapters = ManagedRuntime.make(
  Layer.mergeAll(
    OdooErp.layer().pipe(Layer.provide(OdooClient.layerConfig(OdooClient.config("ODOO_")))),
    EasyPostCarrier.layerConfig({
      apiKey: Config.redacted("EASYPOST_API_KEY"),
      webhookSecret: Config.redacted("EASYPOST_WEBHOOK_SECRET"),
      fromAddress: Config.succeed({ company: "Acme Supply", street1: "400 Delancy St", city: "Newark", state: "NJ", zip: "07105", country: "US" })
    })
  ).pipe(Layer.provide(FetchHttpClient.layer))
)

const main = async () => {
  const erp = await adapters.runPromise(OdooErp.OdooErp)
  const easypost = await adapters.runPromise(EasyPostCarrier.EasyPostCarrier)
  const waybill = await Waybill.create({
    erp,
    helpdesk: erp, // service cases as Odoo project tasks (or helpdesk tickets)
    carriers: [easypost],
    flows: new Flows.FlowConfig({ targets: { helpdesk: true, notifier: false, finance: false } }) // no notifier wired
  })
  await waybill.start() // ingest workers and the outbox dispatcher, in the background

  // Confirmed orders from Odoo, every minute: each delivery without a tracking number gets a
  // label, then the order is registered (keep the cursor somewhere durable in production).
  let cursor: string | undefined
  const poll = async () => {
    const batch = await adapters.runPromise(erp.fetchOrders({ cursor, limit: 100 }))
    for (const intake of batch.intakes) {
      const shipments: Array<Shipment.Shipment> = []
      for (const shipment of intake.shipments) {
        if (shipment.trackingNumber !== undefined) shipments.push(shipment)
        else {
          const key = ErpPort.IdempotencyKey.make(`${shipment.id}:label`)
          const label = await adapters.runPromise(easypost.buyLabel(new CarrierPort.BuyLabel({ key, shipment })))
          shipments.push(new Shipment.Shipment({ ...shipment, carrier: label.carrier, trackingNumber: label.trackingNumber }))
        }
      }
      await waybill.registerOrder(new ErpPort.OrderIntake({ order: intake.order, shipments }))
    }
    // Orders Odoo holds that do not map (no address, …): report them to whoever fixes them in Odoo.
    for (const r of batch.rejected) console.error(`order ${r.name} (${r.ref}) not taken in: ${r.reason}`)
    cursor = batch.cursor ?? cursor
  }
  await poll()
  setInterval(() => poll().catch((error: unknown) => console.error("order poll failed", error)), 60_000)

  // Carrier webhooks: 202 once durably enqueued; a worker verifies the signature and applies them.
  // A refusal for good (Invalid, e.g. a body over the 1 MiB the EasyPost adapter accepts) is 413,
  // read no further; 503 with retry-after only when trying again can help (the store is down, …).
  const refuse = (res: Http.ServerResponse, reason: PortError.Reason) => {
    if (reason === "Invalid") res.writeHead(413).end()
    else if (PortError.isRetryable(reason)) res.writeHead(503, { "retry-after": "5" }).end() // the sender retries
    else res.writeHead(500).end()
  }
  Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= EasyPostWebhook.defaultMaxBodyBytes) chunks.push(chunk)
      else if (!res.writableEnded) res.writeHead(413, { connection: "close" }).end() // stops reading
    })
    req.on("end", () => {
      if (size > EasyPostWebhook.defaultMaxBodyBytes) return // answered 413
      // Headers as Node gives them: the facade joins a repeated header's values with ", ".
      waybill.webhook("easypost", req.headers, new Uint8Array(Buffer.concat(chunks))).then(
        () => res.writeHead(202).end(),
        (error: unknown) => refuse(res, error instanceof PortError.StorageError ? error.reason : "Bug") // the typed error, else a defect
      )
    })
  }).listen(8080)

  // Dead letters, with the reason each failed; replay after fixing the cause.
  setInterval(async () => {
    const letters = await waybill.deadLetters({ kind: "inbound", reason: "NotFound" })
    if (letters.length > 0) console.log(await waybill.replay({ kind: "inbound", reason: "NotFound" }, "poller"))
  }, 3_600_000)
}
// #endregion promise

if (process.argv[1]?.endsWith("PromiseHost.ts") === true) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
