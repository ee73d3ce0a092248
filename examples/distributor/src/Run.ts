/**
 * Runs the distributor scenario end to end and reports on it.
 *
 * The host wiring is the one a real distributor would deploy:
 *
 * - a `Store` and a `Transport` (in memory, or Redis when `REDIS_URL` is set);
 * - the `Pipeline` with three inbound sources: EasyPost, the warehouse (`GenericWarehouse`
 *   config) and Swift Courier (its own mapping config);
 * - ingest `Worker`s on the transport and an outbox `Dispatcher`;
 * - `OdooErp` as the ERP and the helpdesk (service cases as project tasks or helpdesk tickets),
 *   and an in-memory customer `Notifier`;
 * - an order poller (`OdooErp.poll`, hourly) that releases each new delivery: it buys an EasyPost
 *   label (or takes a Swift Courier number), registers the shipment with `Pipeline.register`, and
 *   replays dead letters of events that arrived before their order.
 *
 * The scenario's clock advances an hour at a time: orders are confirmed in Odoo, the webhooks
 * due in that hour are published to the ingest topic as raw `Request`s (late, repeated and out
 * of order as the sources send them), the workers ingest them, and the poller runs. The
 * dispatcher works in the background throughout. At the end an operator approves one damaged
 * delivery's invoice, everything drains, and the run checks its invariants against the oracle
 * (`Oracle`) and against what Odoo holds (`OdooState`).
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { EasyPostCarrier } from "@waybill/carrier-easypost"
import { MappingCarrier, MappingConfig } from "@waybill/carrier-mapping"
import {
  CarrierPort,
  DeadLetters,
  Dispatcher,
  ErpPort,
  ExternalRefs,
  Flows,
  HelpdeskPort,
  MemoryStore,
  MemoryTransport,
  Metrics,
  Notifier,
  Pipeline,
  Shipment,
  type ShipmentRecord,
  Store,
  Transport,
  Worker
} from "@waybill/core"
import { OdooClient, OdooErp } from "@waybill/odoo"
import { OdooFake } from "@waybill/odoo/testing"
import { RedisStore, RedisTransport } from "@waybill/store-redis"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import * as Invariants from "./Invariants.js"
import * as Oracle from "./Oracle.js"
import * as OdooState from "./OdooState.js"
import type * as Report from "./Report.js"
import * as Scenario from "./Scenario.js"
import * as Sources from "./Sources.js"
import * as Stories from "./Stories.js"
import * as SwiftCourier from "./SwiftCourier.js"

/**
 * Options of a run.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Sale orders in the scenario (one delivery each). */
  readonly orders: number
  readonly seed: number
  /** Version of the embedded Odoo fake (default 17). */
  readonly odooVersion?: OdooFake.Version | undefined
  /** Progress lines while the run goes (default: none). */
  readonly log?: ((line: string) => void) | undefined
  /** A real Odoo instead of the embedded fake (a test database). */
  readonly odoo?: OdooClient.Options | undefined
  /** Redis for the store and the transport instead of memory (keys under a prefix of their own, removed afterwards). */
  readonly redisUrl?: string | undefined
  /** Ingest workers (default 3). */
  readonly workers?: number | undefined
}

/**
 * The run could not complete (as opposed to completing with failed invariants).
 *
 * @since 0.1.0
 */
export class RunError extends Data.TaggedError("RunError")<{
  readonly step: string
  readonly description: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.step}: ${this.description}`
  }
}

const fail = (step: string) => (cause: unknown) =>
  new RunError({
    step,
    description: cause instanceof Error ? cause.message : typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : String(cause),
    cause
  })

/** The billing policy of the scenario. @since 0.1.0 */
export const billingPolicy = new Flows.BillingPolicy({
  trigger: "delivered",
  weightTolerancePerMille: 100,
  holdOnDamage: true
})

/** Who approves the damaged delivery's invoice at the end. @since 0.1.0 */
export const approver = "ops@distributor.example"

const HOUR = 3_600_000
const WAVE = HOUR

/**
 * Runs the scenario and returns the report (whose `checks` say whether every invariant held).
 *
 * @since 0.1.0
 */
export const run = (options: Options): Effect.Effect<Report.Report, RunError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const started = Date.now()
      const log = options.log ?? (() => {})
      const seed = options.seed
      const stories = yield* Effect.try({ try: () => Stories.generate(seed, options.orders), catch: fail("stories") })

      // -- the world ------------------------------------------------------------------------
      const world = yield* Scenario.make({ seed, odooVersion: options.odooVersion, odoo: options.odoo }).pipe(
        Effect.mapError(fail("scenario"))
      )
      const http = yield* HttpClient.HttpClient
      const counter = () => {
        const c = { calls: 0 }
        return { c, client: HttpClient.tapRequest(http, () => Effect.sync(() => void c.calls++)) }
      }
      const intakeHttp = counter()
      const effectsHttp = counter()
      const intakeClient = yield* OdooClient.make(world.odoo.clientOptions).pipe(
        Effect.provideService(HttpClient.HttpClient, intakeHttp.client)
      )
      const effectsClient = yield* OdooClient.make({ ...world.odoo.clientOptions, maxConcurrency: 8 }).pipe(
        Effect.provideService(HttpClient.HttpClient, effectsHttp.client)
      )
      const intakeErp = yield* OdooErp.make({ intakeDomain: world.intakeDomain }).pipe(
        Effect.provideService(OdooClient.OdooClient, intakeClient)
      )
      const erp = yield* OdooErp.make({ serviceCases: { projectName: "Delivery issues" } }).pipe(
        Effect.provideService(OdooClient.OdooClient, effectsClient)
      )

      // -- storage --------------------------------------------------------------------------
      const storage = yield* (options.redisUrl !== undefined ? redis(options.redisUrl) : memory).pipe(
        Effect.mapError(fail("storage"))
      )
      const { store, transport } = storage

      // -- carriers and sources -------------------------------------------------------------
      const easypost = yield* EasyPostCarrier.make({
        apiKey: Redacted.make(world.easypost.apiKey),
        webhookSecret: Redacted.make(Sources.secrets.easypost),
        baseUrl: world.easypost.url,
        fromAddress: {
          company: "Northeast Heating Supply (c/o NWK-1 Logistics)",
          street1: "400 Delancy St",
          city: "Newark",
          state: "NJ",
          zip: "07105",
          country: "US"
        }
      })
      const swiftConfig = MappingConfig.withSecret(
        yield* SwiftCourier.config.pipe(Effect.mapError(fail("swift config"))),
        Sources.secrets.swift
      )
      const swift = yield* MappingCarrier.make(swiftConfig).pipe(Effect.mapError(fail("swift carrier")))
      const warehouse = yield* MappingCarrier.make(Sources.warehouseConfig).pipe(Effect.mapError(fail("warehouse")))
      const carriers = new Map<string, CarrierPort.CarrierPortShape>([
        [Sources.EASYPOST, easypost],
        [Sources.WAREHOUSE, warehouse],
        [Sources.SWIFT, swift]
      ])

      // -- the runtime ----------------------------------------------------------------------
      const flows = new Flows.FlowConfig({ billing: billingPolicy })
      const pipeline = yield* Pipeline.make({ flows, carriers: [...carriers.values()] }).pipe(
        Effect.provideService(Store.Store, store)
      )
      const notified = new Map<string, { count: number; template: string }>()
      const notifier: Notifier.NotifierShape = {
        notify: (request) =>
          Effect.sync(() => {
            const seen = notified.get(request.key)
            if (seen !== undefined) seen.count++
            else notified.set(request.key, { count: 1, template: request.template })
          })
      }
      const services = Context.empty().pipe(
        Context.add(Store.Store, store),
        Context.add(Transport.Transport, transport),
        Context.add(Pipeline.Pipeline, pipeline),
        Context.add(ErpPort.ErpPort, erp),
        Context.add(HelpdeskPort.HelpdeskPort, erp),
        Context.add(Notifier.Notifier, notifier)
      )
      for (let i = 0; i < (options.workers ?? 3); i++) {
        const worker = yield* Worker.make({ consumer: `worker-${i + 1}`, waitMillis: 20 }).pipe(Effect.provide(services))
        yield* Effect.forkScoped(worker.run)
      }
      const dispatcher = yield* Dispatcher.make({
        owner: "dispatcher-1",
        concurrency: 16,
        retry: { base: "25 millis", cap: "2 seconds", maxAttempts: 12 }
      }).pipe(Effect.provide(services))
      const dispatching = yield* Effect.forkScoped(dispatcher.run)

      // -- a little chaos at Odoo (embedded fake only) -----------------------------------------
      const faults: Array<string> = []
      if (world.odoo.fake !== undefined) {
        const fake = world.odoo.fake
        fake.failNext({ model: "sale.advance.payment.inv", method: "create_invoices" }, OdooFake.actThenDrop)
        faults.push("an invoice created but its answer lost")
        fake.failNext({ model: "stock.picking", method: "button_validate" }, OdooFake.serializationFailure, 2)
        faults.push("2 serialization failures on validation")
        fake.failNext({ method: "message_post" }, OdooFake.http(503), 3)
        faults.push("3 × HTTP 503 on chatter posts")
        fake.failNext({ model: "project.task", method: "create" }, OdooFake.http(429, { headers: { "retry-after": "1" } }))
        faults.push("1 × HTTP 429 (Retry-After 1 s) on a case")
      }

      const metricsBefore = yield* readMetrics

      // -- release: poll Odoo, buy labels, register ----------------------------------------------
      const queue: Array<Sources.Outbound> = []
      const sent: Array<Sources.Outbound> = []
      const released = new Map<string, Scenario.Released>()
      const byTracking = new Map<string, string>()
      let forgedQueued = false

      const release = (intakes: ReadonlyArray<ErpPort.OrderIntake>) =>
        Effect.gen(function* () {
          let fresh = 0
          for (const intake of intakes) {
            const odooId = intake.order.refs.odoo?.id
            const order = odooId === undefined ? undefined : world.orders.get(odooId)
            if (order === undefined || intake.shipments.every((s) => released.has(s.id))) continue
            const story = order.story
            const shipments: Array<Shipment.Shipment> = []
            const created: Array<{ shipment: Shipment.Shipment; messages: () => Array<Sources.Outbound> }> = []
            for (const s of intake.shipments) {
              const known = released.get(s.id)
              if (known !== undefined) {
                shipments.push(known.shipment)
                continue
              }
              if (story.carrier === "easypost") {
                const label = yield* easypost.buyLabel(
                  new CarrierPort.BuyLabel({ key: ErpPort.IdempotencyKey.make(`${s.id}:label`), shipment: s })
                )
                // (simulation only: the scans to come are recorded on the fake's tracker for this label)
                const trackerId = (world.easypost.shipment(label.externalId)?.["tracker"] as { readonly id?: string } | undefined)?.id
                if (trackerId === undefined) return yield* Effect.fail(fail("release")(`no tracker for ${label.externalId}`))
                const shipment = new Shipment.Shipment({
                  ...s,
                  carrier: label.carrier,
                  ...(label.service !== undefined ? { service: label.service } : {}),
                  trackingNumber: label.trackingNumber,
                  refs: new ExternalRefs.ExternalRefs({ ...s.refs, carrier: label.externalId, wms: order.reference })
                })
                shipments.push(shipment)
                created.push({ shipment, messages: () => Sources.easyPostMessages(story, world.easypost, trackerId, seed) })
              } else {
                const awb = Sources.swiftAwb(seed, story)
                const shipment = new Shipment.Shipment({
                  ...s,
                  carrier: Scenario.carrierNames.swift,
                  trackingNumber: awb,
                  refs: new ExternalRefs.ExternalRefs({ ...s.refs, carrier: awb, wms: order.reference })
                })
                shipments.push(shipment)
                created.push({ shipment, messages: () => Sources.swiftMessages(story, awb, seed) })
              }
            }
            yield* pipeline.register(new ErpPort.OrderIntake({ order: intake.order, shipments }))
            for (const { shipment, messages } of created) {
              released.set(shipment.id, { story, order, shipment })
              byTracking.set(shipment.trackingNumber!, shipment.id)
              byTracking.set(order.reference, shipment.id)
              const outbound = messages()
              queue.push(...outbound)
              if (!forgedQueued && story.carrier === "easypost" && outbound[0] !== undefined) {
                forgedQueued = true
                queue.push(Sources.forged(outbound[0], Stories.START + 30 * HOUR))
              }
              fresh++
            }
          }
          return fresh
        })

      let replayed = { reingested: 0, failedAgain: 0 }
      const pollOdoo = Effect.gen(function* () {
        let fresh = 0
        while (true) {
          const n = yield* OdooErp.poll({
            store,
            limit: 100,
            handle: (intakes) => Effect.map(release(intakes), (k) => void (fresh += k))
          }).pipe(Effect.provideService(ErpPort.ErpPort, intakeErp))
          if (n < 100) break
        }
        if (fresh > 0) {
          // Events that reached waybill before their order did wait as NotFound dead letters:
          // now that the poller registered new orders, try them again.
          const waiting = yield* DeadLetters.list({ kind: "inbound", reason: "NotFound" })
          if (waiting.length > 0) {
            const r = yield* DeadLetters.replay({ kind: "inbound", reason: "NotFound" }, "order-poller")
            replayed = { reingested: replayed.reingested + r.reingested, failedAgain: replayed.failedAgain + r.failedAgain }
          }
        }
        return fresh
      }).pipe(Effect.provide(services))

      const awaitIngested = Effect.gen(function* () {
        const since = Date.now()
        while ((yield* transport.pending(Worker.TOPIC, Worker.GROUP)) > 0) {
          if (Date.now() - since > 120_000) return yield* Effect.fail(fail("ingest")("the ingest topic did not drain in 120 s"))
          yield* Effect.sleep("2 millis")
        }
      })

      // A parcel that is not ours, tracked on the same EasyPost account, reports late in the week.
      const strangerTracker = yield* easypost.createTracker(
        new CarrierPort.CreateTracker({ key: ErpPort.IdempotencyKey.make("stranger"), trackingNumber: "EZ2000000002" })
      )
      queue.push(Sources.stranger(world.easypost, strangerTracker.externalId, Stories.START + 5 * 24 * HOUR))

      // -- the week, an hour at a time ------------------------------------------------------------
      const toConfirm = [...stories].sort((a, b) => a.confirmAt - b.confirmAt)
      let confirmed = 0
      let clock = Stories.START
      let lastProgress = 0
      const progress = (force: boolean) =>
        Effect.gen(function* () {
          const now = Date.now()
          if (!force && now - lastProgress < 1000) return
          lastProgress = now
          const m = yield* readMetrics
          const outbox = yield* store.outboxSize()
          log(
            `[${((now - started) / 1000).toFixed(1).padStart(5)} s] ${clockLabel(clock)} · orders ${confirmed}/${stories.length} confirmed, ${released.size} released` +
              ` · webhooks ${sent.length.toLocaleString("en-US")} · events applied ${(m.applied - metricsBefore.applied).toLocaleString("en-US")}` +
              ` · outbox ${outbox} · Odoo calls ${(intakeHttp.c.calls + effectsHttp.c.calls).toLocaleString("en-US")}`
          )
        })

      while (confirmed < toConfirm.length || queue.length > 0) {
        const end = clock + WAVE
        while (confirmed < toConfirm.length && toConfirm[confirmed]!.confirmAt < end) {
          const story = toConfirm[confirmed]!
          const order = yield* world.confirm(story).pipe(Effect.mapError(fail("confirm order")))
          queue.push(...Sources.warehouseMessages({ reference: order.reference, story }, seed))
          confirmed++
        }
        const due = takeDue(queue, end)
        if (due.length > 0) {
          yield* Worker.publish(due.map((m) => Sources.toMessage(m, swiftConfig))).pipe(Effect.provide(services))
          sent.push(...due)
          yield* awaitIngested
        }
        yield* pollOdoo
        clock = end
        yield* progress(false)
      }

      // -- the end of the week -----------------------------------------------------------------------
      yield* awaitIngested
      const approvals: Array<{ shipmentId: string; reference: string; approval: ShipmentRecord.Approval; by: string }> = []
      for (const r of released.values()) {
        if (r.story.profile !== "damaged_on_delivery") continue
        const record = yield* pipeline.record(r.shipment.id)
        if (record?.billing.holds.includes("open_damage") === true) {
          yield* pipeline.approve(r.shipment.id, "damage", approver)
          approvals.push({ shipmentId: r.shipment.id, reference: r.order.reference, approval: "damage", by: approver })
          break
        }
      }
      const drainedSince = Date.now()
      while ((yield* store.outboxSize()) > 0 || (yield* transport.pending(Worker.TOPIC, Worker.GROUP)) > 0) {
        if (Date.now() - drainedSince > 90_000) break
        yield* Effect.sleep("10 millis")
      }
      yield* Fiber.interrupt(dispatching)
      yield* progress(true)
      const callLog = world.odoo.fake?.callLog()

      // -- what happened ------------------------------------------------------------------------------
      const metricsAfter = yield* readMetrics
      const oracle = yield* Oracle.build(
        sent,
        (out) => {
          const m = Sources.toMessage(out, swiftConfig)
          return { headers: m.headers, body: m.body, receivedAt: m.receivedAt }
        },
        carriers,
        (trackingNumber) => {
          const id = byTracking.get(trackingNumber)
          const r = id === undefined ? undefined : released.get(id)
          return r === undefined ? undefined : { shipmentId: r.shipment.id, companyId: r.shipment.companyId }
        }
      ).pipe(Effect.mapError(fail("oracle")))
      const inspector = yield* OdooClient.make(world.odoo.clientOptions)
      const all = [...released.values()]
      const odoo = yield* OdooState.read(
        inspector,
        all.map((r) => r.order.orderId),
        all.map((r) => r.order.pickingId)
      ).pipe(Effect.mapError(fail("read Odoo")))

      return yield* Invariants.evaluate({
        settings: {
          orders: options.orders,
          seed,
          odoo: world.odoo.label,
          store: storage.label,
          sources: ["EasyPost (webhooks, labels)", `warehouse ${Sources.WAREHOUSE} (GenericWarehouse)`, "Swift Courier (mapping config)"],
          billingPolicy: `invoice on delivery; hold when the packed weight is off by more than ${
            (billingPolicy.weightTolerancePerMille ?? 0) / 10
          } % or a damage is not cleared`
        },
        started,
        stories,
        released: all,
        pipeline,
        oracle,
        odoo,
        sent,
        notified,
        approvals,
        replayed,
        calls: {
          intake: intakeHttp.c.calls,
          effects: effectsHttp.c.calls,
          log: callLog,
          faults,
          retries: metricsAfter.retries - metricsBefore.retries
        },
        outcomes: diffOutcomes(metricsBefore, metricsAfter)
      }).pipe(Effect.provide(services), Effect.mapError(fail("invariants")))
    })
  ).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.mapError((e) => (e instanceof RunError ? e : fail("run")(e))),
    // The pipeline logs each dead letter as a warning; the report lists them instead.
    Logger.withMinimumLogLevel(LogLevel.Error)
  )

const takeDue = (queue: Array<Sources.Outbound>, before: number): Array<Sources.Outbound> => {
  const due: Array<Sources.Outbound> = []
  let keep = 0
  for (const m of queue) {
    if (m.arrivalAt < before) due.push(m)
    else queue[keep++] = m
  }
  queue.length = keep
  return due.sort((a, b) => a.arrivalAt - b.arrivalAt)
}

const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const clockLabel = (ms: number): string => {
  const local = new Date(ms + Stories.LOCAL_OFFSET_MINUTES * 60_000)
  return `${days[local.getUTCDay()]} ${local.toISOString().slice(5, 10)} ${local.toISOString().slice(11, 16)}`
}

const outcomeNames = ["Accepted", "Stale", "Anomaly", "Duplicate"] as const

interface MetricsSnapshot {
  readonly outcomes: Readonly<Record<(typeof outcomeNames)[number], number>>
  readonly applied: number
  readonly retries: number
}

const readMetrics: Effect.Effect<MetricsSnapshot> = Effect.gen(function* () {
  const outcomes = {} as Record<(typeof outcomeNames)[number], number>
  for (const o of outcomeNames) outcomes[o] = (yield* Metric.value(Metric.tagged(Metrics.events, "outcome", o))).count
  let retries = 0
  for (const target of ["erp", "helpdesk", "notifier", "finance"]) {
    retries += (yield* Metric.value(Metric.tagged(Metrics.retries, "target", target))).count
  }
  return { outcomes, applied: outcomes.Accepted + outcomes.Stale + outcomes.Anomaly, retries }
})

const diffOutcomes = (before: MetricsSnapshot, after: MetricsSnapshot) =>
  outcomeNames.map((outcome) => ({ outcome, count: after.outcomes[outcome] - before.outcomes[outcome] }))

const memory = Effect.gen(function* () {
  return {
    store: (yield* MemoryStore.make) as Store.StoreShape,
    transport: (yield* MemoryTransport.make) as Transport.TransportShape,
    label: "memory store"
  }
})

const redis = (url: string) =>
  Effect.gen(function* () {
    const prefix = `waybill-demo-${Date.now().toString(36)}`
    // The demo's keys are its own: remove them when the run ends (after the store and the
    // transport stopped using them: finalizers run in reverse order).
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
        try {
          await client.connect()
          const keys: Array<string> = []
          for await (const batch of client.scanStream({ match: `{${prefix}:*`, count: 1000 }) as AsyncIterable<Array<string>>) {
            keys.push(...batch)
          }
          for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500))
        } finally {
          client.disconnect()
        }
      }).pipe(Effect.catchAllDefect(() => Effect.void))
    )
    const store = yield* RedisStore.make({ url, prefix })
    const transport = yield* RedisTransport.make({ url, prefix })
    return {
      store: store as Store.StoreShape,
      transport: transport as Transport.TransportShape,
      label: `Redis store and transport (keys {${prefix}:…, removed afterwards)`
    }
  })
