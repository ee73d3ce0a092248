/**
 * A minimal Effect host, quoted region by region in `docs/getting-started.md` (a test checks
 * that the guide and this file agree; `tsc -b examples/distributor` checks that it compiles).
 *
 * Run against your own Odoo and EasyPost accounts:
 *
 *   ODOO_URL=… ODOO_DB=… ODOO_LOGIN=… ODOO_API_KEY=… EASYPOST_API_KEY=… EASYPOST_WEBHOOK_SECRET=… \
 *     npx tsx --conditions=source examples/distributor/src/snippets/EffectHost.ts
 *
 * @since 0.1.0
 */
// #region layers
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { EasyPostCarrier } from "@waybill/carrier-easypost"
import { Flows, MemoryStore, MemoryTransport, Pipeline } from "@waybill/core"
import { OdooClient, OdooErp } from "@waybill/odoo"
import { Config, Effect, Layer } from "effect"

// Odoo is the ERP (orders, deliveries, invoices) and the helpdesk (one case per shipment).
// OdooClient.config reads ODOO_URL, ODOO_DB, ODOO_LOGIN and ODOO_API_KEY (or ODOO_PASSWORD).
const OdooLive = OdooErp.layer({ serviceCases: { projectName: "Delivery issues" } }).pipe(
  Layer.provideMerge(OdooClient.layerConfig(OdooClient.config("ODOO_"))),
  Layer.provide(FetchHttpClient.layer)
)

// A carrier: labels through its API, tracking through its signed webhooks.
const EasyPostLive = EasyPostCarrier.layerConfig({
  apiKey: Config.redacted("EASYPOST_API_KEY"),
  webhookSecret: Config.redacted("EASYPOST_WEBHOOK_SECRET"),
  fromAddress: Config.succeed({ company: "Acme Supply", street1: "400 Delancy St", city: "Newark", state: "NJ", zip: "07105", country: "US" })
}).pipe(Layer.provide(FetchHttpClient.layer))

// The store and the transport: in memory here; RedisStore.layer / RedisTransport.layer from
// @waybill/store-redis to survive restarts and run several processes.
const StorageLive = Layer.mergeAll(MemoryStore.layer, MemoryTransport.layer)

// The pipeline, with the billing policy and the carriers whose webhooks it verifies.
const PipelineLive = Layer.effect(
  Pipeline.Pipeline,
  Effect.gen(function* () {
    const easypost = yield* EasyPostCarrier.EasyPostCarrier
    return yield* Pipeline.make({
      flows: new Flows.FlowConfig({
        billing: new Flows.BillingPolicy({ trigger: "delivered", weightTolerancePerMille: 100, holdOnDamage: true }),
        // The far sides this host wires (no customer notifier here, so no notifications are planned).
        targets: { helpdesk: true, notifier: false, finance: false }
      }),
      carriers: [easypost]
    })
  })
)

const WaybillLive = PipelineLive.pipe(Layer.provideMerge(Layer.mergeAll(StorageLive, OdooLive, EasyPostLive)))
// #endregion layers

// #region release
import { CarrierPort, ErpPort, Shipment, Store } from "@waybill/core"

// Order release: a confirmed order's deliveries get a label (unless Odoo or the warehouse
// already set a tracking number) and are registered with waybill, which then routes carrier
// webhooks to them by tracking number.
const release = (intake: ErpPort.OrderIntake) =>
  Effect.gen(function* () {
    const easypost = yield* EasyPostCarrier.EasyPostCarrier
    const pipeline = yield* Pipeline.Pipeline
    const shipments = yield* Effect.forEach(intake.shipments, (shipment) =>
      shipment.trackingNumber !== undefined
        ? Effect.succeed(shipment)
        : Effect.map(
            easypost.buyLabel(new CarrierPort.BuyLabel({ key: ErpPort.IdempotencyKey.make(`${shipment.id}:label`), shipment })),
            (label) => new Shipment.Shipment({ ...shipment, carrier: label.carrier, trackingNumber: label.trackingNumber })
          )
    )
    yield* pipeline.register(new ErpPort.OrderIntake({ order: intake.order, shipments }))
  })

// Polls Odoo for confirmed orders; the cursor is stored only after the intakes are registered.
const pollOrders = Effect.gen(function* () {
  const store = yield* Store.Store
  return yield* OdooErp.poll({ store, handle: (intakes) => Effect.forEach(intakes, release, { discard: true }) })
})
// #endregion release

// #region webhook
import { EasyPostWebhook } from "@waybill/carrier-easypost"
import { Instant, PortError, type Transport, Worker } from "@waybill/core"
import { Either, Runtime } from "effect"
import * as Http from "node:http"

// A refusal for good (Invalid, e.g. a body over the 1 MiB the EasyPost adapter accepts) is 413,
// read no further; 503 with retry-after only when trying again can help (the transport is down, …).
const refuse = (res: Http.ServerResponse, reason: PortError.Reason) => {
  if (reason === "Invalid") res.writeHead(413).end()
  else if (PortError.isRetryable(reason)) res.writeHead(503, { "retry-after": "5" }).end() // the sender retries
  else res.writeHead(500).end()
}

// POST /webhooks/easypost: the raw body and headers go to the ingest topic as they arrived; the
// answer is 202 once they are durably enqueued (a worker verifies, parses and applies them).
const serveWebhooks = (port: number) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<Transport.Transport>()
    const server = Http.createServer((req, res) => {
      if (req.method !== "POST" || req.url !== "/webhooks/easypost") return void res.writeHead(404).end()
      const chunks: Array<Buffer> = []
      let size = 0
      req.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size <= EasyPostWebhook.defaultMaxBodyBytes) chunks.push(chunk)
        else if (!res.writableEnded) res.writeHead(413, { connection: "close" }).end() // stops reading
      })
      req.on("end", () => {
        if (size > EasyPostWebhook.defaultMaxBodyBytes) return // answered 413
        // Every header with one value; an array (only set-cookie comes as one) is left out, not joined.
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers[name] = value
        const message = {
          _tag: "Request",
          source: "easypost",
          headers,
          body: new Uint8Array(Buffer.concat(chunks)),
          receivedAt: Instant.fromMillis(Date.now())
        } as const
        Runtime.runPromise(runtime, Effect.either(Worker.publish([message]))).then(
          (result) => (Either.isRight(result) ? res.writeHead(202).end() : refuse(res, result.left.reason)),
          () => refuse(res, "Bug") // a defect
        )
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(port, () => resume(Effect.void))),
      () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
    )
  })
// #endregion webhook

// #region dead-letters
import { DeadLetters } from "@waybill/core"

// What failed for good, with the reason. Replay after fixing the cause; events that arrived
// before their order was registered (NotFound) replay cleanly once the poller caught up.
const reviewDeadLetters = Effect.gen(function* () {
  for (const letter of yield* DeadLetters.list({ kind: "inbound", reason: "NotFound" })) {
    yield* Effect.log(`${letter.id} from ${letter.target}: ${letter.error}`)
  }
  const report = yield* DeadLetters.replay({ kind: "inbound", reason: "NotFound" }, "jane@ops")
  yield* Effect.log(`re-ingested ${report.reingested}, failed again ${report.failedAgain}`)
})
// #endregion dead-letters

// #region run
import { Dispatcher } from "@waybill/core"
import { Schedule } from "effect"

const main = Effect.gen(function* () {
  // Ingest workers consume the topic; the dispatcher carries out the outbox (notes, validation,
  // invoices, cases) with retries, a breaker and a rate limit per far side.
  const worker = yield* Worker.make()
  const dispatcher = yield* Dispatcher.make({ rateLimits: { erp: { limit: 50, interval: "1 second" } } })
  yield* Effect.forkScoped(worker.run)
  yield* Effect.forkScoped(dispatcher.run)
  yield* Effect.forkScoped(pollOrders.pipe(Effect.catchAllCause(Effect.logWarning), Effect.repeat(Schedule.spaced("1 minute"))))
  yield* Effect.forkScoped(reviewDeadLetters.pipe(Effect.catchAllCause(Effect.logWarning), Effect.repeat(Schedule.spaced("1 hour"))))
  yield* serveWebhooks(8080)
  yield* Effect.log("waybill is running: webhooks on http://localhost:8080/webhooks/easypost")
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(WaybillLive))
// #endregion run

// Runs when executed directly (importing the file runs nothing).
if (process.argv[1]?.endsWith("EffectHost.ts") === true) Effect.runFork(main)
