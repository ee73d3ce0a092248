/**
 * bench/pipeline: events per second through the full in-memory pipeline, beside a baseline
 * measured in the same run on the same events.
 *
 *   pnpm --filter @waybill/bench pipeline [shipments=50000] [rounds=3]
 *
 * It measures the built packages (`pnpm build` first; `./built.ts` refuses a stale build).
 *
 * Each event arrives as a signed carrier webhook body (HMAC-SHA256 hex over the raw bytes),
 * handed to the pipeline in batches of 256 messages the way a Worker takes them off the transport
 * (`BENCH_BATCH=1` measures one message at a time). `BENCH_PROFILE=out.cpuprofile` writes a CPU
 * profile of the measured part only (`out.heapprofile`: an allocation profile instead);
 * `BENCH_CACHE=n` sets the pipeline's record cache size. Each round also prints CPU time per
 * event (`process.cpuUsage`, all threads): on a shared host it moves far less than wall time.
 * The pipeline verifies the signature, decodes the body (`EventCodec`: Schema's rules and
 * results), routes it by tracking number, dedupes, applies it to the state machine, and commits
 * state + event + audit entry + outbox actions to the in-memory store. The baseline is `JSON.parse` of the same bodies plus a
 * `Map` update per shipment. Figures are medians of the rounds; the ratio is pipeline/baseline.
 */
import "./built.js"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createHmac, timingSafeEqual } from "node:crypto"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import {
  Audit,
  CarrierPort,
  EventCodec,
  Flows,
  Instant,
  MemoryStore,
  Order,
  Pipeline,
  PortError,
  ShipmentEvent,
  ShipmentRecord,
  ShipmentState,
  Store
} from "@waybill/core"
import { Histories } from "@waybill/core/simulation"

const SHIPMENTS = Number(process.argv[2] ?? 50_000)
const ROUNDS = Number(process.argv[3] ?? 3)
const EVENTS_PER_SHIPMENT = 5
const BATCH = Number(process.env.BENCH_BATCH ?? 256)
const SECRET = "bench-secret"

// --- a realistic workload: each shipment's first arrivals of a messy history ---------------------

const encodeDraft = Schema.encodeSync(ShipmentEvent.Draft)
interface Delivery {
  readonly body: Uint8Array
  readonly signature: string
}
// The histories themselves (~240 MB of event objects at 50,000 shipments) are dropped once the
// deliveries are built: a host does not hold them, and kept alive they would make every major
// collection during the measured part mark them again.
const { deliveries, intakes } = (() => {
  const histories = Array.from({ length: SHIPMENTS }, (_, i) => Histories.generate(i * 7919 + 1, {}, i))
  const intakes = histories.map((h, i) => Histories.intake(h, i))
  const deliveries: Array<Delivery> = []
  for (const [i, h] of histories.entries()) {
    const tracking = intakes[i]!.shipments[0]!.trackingNumber!
    for (const event of h.events.slice(0, EVENTS_PER_SHIPMENT)) {
      const { shipmentId: _s, companyId: _c, ...draft } = event
      const body = Buffer.from(JSON.stringify({ trackingNumber: tracking, event: encodeDraft(draft as ShipmentEvent.Draft) }))
      deliveries.push({ body, signature: createHmac("sha256", SECRET).update(body).digest("hex") })
    }
  }
  return { deliveries, intakes }
})()
// Interleave shipments the way a real stream arrives.
let seed = 7
for (let i = deliveries.length - 1; i > 0; i--) {
  seed = (seed * 1103515245 + 12345) >>> 0
  const j = seed % (i + 1)
  ;[deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!]
}

// --- a signed-webhook carrier -------------------------------------------------------------------

/** A body's text, read in place (no copy); the baseline reads it the same way. */
const text = (body: Uint8Array) => Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8")

/** The carrier posts canonical observations: `EventCodec` decodes them (Schema's results, ~3× faster). */
const decodeObservationJson = Schema.decodeUnknownEither(Schema.parseJson(CarrierPort.Observation))
const decodeObservation = (json: string) => {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    return decodeObservationJson(json)
  }
  return EventCodec.decodeObservation(parsed)
}
const carrierError = (reason: PortError.Reason, description: string) =>
  new PortError.CarrierError({ reason, module: "bench", method: "verify", description })
const carrier: CarrierPort.CarrierPortShape = {
  source: "bench",
  verify: (request) =>
    Effect.suspend(() => {
      const expected = Buffer.from(createHmac("sha256", SECRET).update(request.body).digest("hex"))
      const given = Buffer.from(request.headers["x-signature"] ?? "")
      return given.length === expected.length && timingSafeEqual(given, expected)
        ? Effect.void
        : Effect.fail(carrierError("Unauthorized", "bad signature"))
    }),
  parse: (request) =>
    Effect.suspend(() => {
      const decoded = decodeObservation(text(request.body))
      return decoded._tag === "Right" ? Effect.succeed([decoded.right]) : Effect.fail(carrierError("Invalid", decoded.left.message))
    }),
  createTracker: () => Effect.fail(carrierError("Invalid", "not supported")),
  buyLabel: () => Effect.fail(carrierError("Invalid", "not supported"))
}

// --- a full garbage collection before each heap reading (without it the figure is noise) -------

setFlagsFromString("--expose-gc")
const collectGarbage = runInNewContext("gc") as () => void

// --- an optional CPU profile of the measured part only (BENCH_PROFILE=out.cpuprofile) ------------

const startProfile = async (): Promise<{ readonly stop: () => Promise<void> }> => {
  const file = process.env.BENCH_PROFILE
  if (file === undefined || file === "") return { stop: async () => {} }
  const { Session } = await import("node:inspector/promises")
  const { writeFile } = await import("node:fs/promises")
  const session = new Session()
  session.connect()
  // BENCH_PROFILE=x.heapprofile samples allocations instead of CPU.
  if (file.endsWith(".heapprofile")) {
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    return {
      stop: async () => {
        const { profile } = await session.post("HeapProfiler.stopSampling")
        await writeFile(file, JSON.stringify(profile))
        session.disconnect()
      }
    }
  }
  await session.post("Profiler.enable")
  await session.post("Profiler.start")
  return {
    stop: async () => {
      const { profile } = await session.post("Profiler.stop")
      await writeFile(file, JSON.stringify(profile))
      session.disconnect()
    }
  }
}

// --- runs --------------------------------------------------------------------------------------

/** CPU time (user + system, all threads) per event since `from`, in µs: unlike wall time, blind to a busy host. */
const cpuPerEvent = (from: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(from)
  return (used.user + used.system) / deliveries.length
}

const baseline = (): { readonly rate: number; readonly cpu: number } => {
  const start = performance.now()
  const cpu = process.cpuUsage()
  const byShipment = new Map<string, Array<unknown>>()
  for (const d of deliveries) {
    const parsed = JSON.parse(text(d.body)) as { trackingNumber: string; event: unknown }
    const list = byShipment.get(parsed.trackingNumber)
    if (list === undefined) byShipment.set(parsed.trackingNumber, [parsed.event])
    else list.push(parsed.event)
  }
  return { rate: deliveries.length / ((performance.now() - start) / 1000), cpu: cpuPerEvent(cpu) }
}

const pipelineRun = () =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline.Pipeline
    const store = yield* Store.Store
    for (const intake of intakes) yield* pipeline.register(intake)
    collectGarbage()
    const before = process.memoryUsage()
    const receivedAt = Instant.fromMillis(Date.now())
    const profiler = yield* Effect.promise(() => startProfile())
    const start = performance.now()
    const cpu = process.cpuUsage()
    let accepted = 0
    // In batches of BATCH messages, as a Worker hands them over from the transport.
    for (let i = 0; i < deliveries.length; i += BATCH) {
      const { results } = yield* pipeline.receiveMany(
        deliveries.slice(i, i + BATCH).map((d) => ({
          _tag: "Request" as const,
          source: "bench",
          headers: { "x-signature": d.signature },
          body: d.body,
          receivedAt
        }))
      )
      accepted += results.length
    }
    const seconds = (performance.now() - start) / 1000
    yield* Effect.promise(() => profiler.stop())
    collectGarbage()
    const after = process.memoryUsage()
    return {
      rate: deliveries.length / seconds,
      cpu: cpuPerEvent(cpu),
      accepted,
      outbox: yield* store.outboxSize(),
      bytesPerShipment: (after.heapUsed - before.heapUsed) / SHIPMENTS,
      // MemoryStore keeps event logs and audit trails in Buffers, outside the heap.
      offHeapPerShipment: (after.arrayBuffers - before.arrayBuffers) / SHIPMENTS,
      rss: process.memoryUsage().rss
    }
  }).pipe(Effect.provide(Layer.provideMerge(Pipeline.layer({ carriers: [carrier], ...(process.env.BENCH_CACHE ? { cacheSize: Number(process.env.BENCH_CACHE) } : {}) }), MemoryStore.layer)))

// --- where the time goes: each stage alone, on the same events ------------------------------------

const stageEvents = deliveries.slice(0, Math.min(deliveries.length, 60_000))
const rate = (n: number, f: () => void) => {
  const start = performance.now()
  f()
  return n / ((performance.now() - start) / 1000)
}
/** Reference data per tracking number, as `register` stores it (for the routing and flow stages). */
const infos = new Map(
  intakes.flatMap((intake) =>
    intake.shipments.map((shipment) => [
      shipment.trackingNumber!,
      new ShipmentRecord.ShipmentInfo({ shipment, customer: intake.order.customer, orderTotal: Order.total(intake.order) })
    ] as const)
  )
)
const flows = new Flows.FlowConfig({})
const stages = () => {
  const decoded: Array<CarrierPort.Observation> = []
  const verify = rate(stageEvents.length, () => {
    for (const d of stageEvents) {
      const expected = Buffer.from(createHmac("sha256", SECRET).update(d.body).digest("hex"))
      timingSafeEqual(expected, Buffer.from(d.signature))
    }
  })
  const decode = rate(stageEvents.length, () => {
    for (const d of stageEvents) {
      const r = decodeObservation(text(d.body))
      if (r._tag === "Right") decoded.push(r.right)
    }
  })
  const events: Array<{ readonly event: ShipmentEvent.ShipmentEvent; readonly info: ShipmentRecord.ShipmentInfo }> = []
  const route = rate(decoded.length, () => {
    for (const o of decoded) {
      const info = infos.get(o.trackingNumber)!
      events.push({ event: ShipmentEvent.fromDraft(o.event, info.shipment.id, info.shipment.companyId), info })
    }
  })
  const key = rate(events.length, () => {
    for (const { event } of events) Pipeline.idempotencyKey(event)
  })
  const states = new Map<string, ShipmentState.ShipmentState>()
  const outcomes: Array<ShipmentState.Outcome> = []
  const apply = rate(events.length, () => {
    for (const { event } of events) {
      const outcome = ShipmentState.apply(states.get(event.shipmentId) ?? ShipmentState.empty(event.shipmentId, event.companyId), event)
      outcomes.push(outcome)
      states.set(event.shipmentId, outcome.state)
    }
  })
  const records = new Map<string, ShipmentRecord.ShipmentRecord>()
  const now = Instant.fromMillis(Date.now())
  const plan = rate(outcomes.length, () => {
    outcomes.forEach((outcome, i) => {
      const { info } = events[i]!
      const record =
        records.get(info.shipment.id) ??
        new ShipmentRecord.ShipmentRecord({ state: outcome.state, billing: ShipmentRecord.Billing.initial, audit: { seq: 0, hash: "" } }, true)
      const moved = outcome._tag === "Accepted" || outcome._tag === "Anomaly"
      const planned = Flows.plan({
        config: flows,
        info,
        record,
        state: outcome.state,
        reached: moved ? outcome.reached : [],
        retracted: moved ? outcome.retracted : [],
        now
      })
      records.set(info.shipment.id, planned.record)
    })
  })
  const eventJson = rate(events.length, () => {
    for (const { event } of events) ShipmentRecord.eventJson(event)
  })
  const serialize = rate(outcomes.length, () => {
    for (const o of outcomes) {
      ShipmentRecord.toJson(new ShipmentRecord.ShipmentRecord({ state: o.state, billing: ShipmentRecord.Billing.initial, audit: { seq: 1, hash: "" } }, true))
    }
  })
  const audit = rate(outcomes.length, () => {
    for (const o of outcomes) Audit.chain(o.state.shipmentId, undefined, [{ at: 0, kind: "event", body: `{"outcome":"${o._tag}"}` }])
  })
  return { verify, decode, route, key, apply, plan, eventJson, serialize, audit }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

const main = async () => {
  console.log(
    `bench/pipeline: ${fmt(deliveries.length)} events over ${fmt(SHIPMENTS)} shipments, batches of ${BATCH}, ${ROUNDS} rounds, node ${process.version}`
  )
  const base: Array<number> = []
  const full: Array<number> = []
  let last: Awaited<ReturnType<typeof runOnce>> | undefined
  const runOnce = () => Effect.runPromise(pipelineRun())
  let peakRss = 0
  const stageRuns: Array<ReturnType<typeof stages>> = []
  for (let r = 0; r < ROUNDS; r++) {
    const measured = baseline()
    base.push(measured.rate)
    stageRuns.push(stages())
    last = await runOnce()
    full.push(last.rate)
    peakRss = Math.max(peakRss, last.rss)
    console.log(
      `  round ${r + 1}: baseline ${fmt(base[r]!)} ev/s (${measured.cpu.toFixed(1)} µs CPU/event), pipeline ${fmt(full[r]!)} ev/s (${last.cpu.toFixed(1)} µs CPU/event, GC threads included)`
    )
  }
  const b = median(base), p = median(full)
  console.log(`baseline (JSON.parse + Map update): ${fmt(b)} events/s (median)`)
  console.log(`pipeline (verify, decode, route, dedupe, apply, commit, audit, outbox): ${fmt(p)} events/s (median)`)
  console.log(`ratio pipeline/baseline: ${(p / b).toFixed(3)} (target >= 0.200)`)
  console.log("where the time goes (each stage alone on the same events; µs per event, share of the pipeline's time):")
  const perEvent = 1e6 / p
  const stage = (label: string, pick: (s: ReturnType<typeof stages>) => number) => {
    const us = 1e6 / median(stageRuns.map(pick))
    console.log(`  ${label.padEnd(44)} ${us.toFixed(1).padStart(7)} µs  ${((us / perEvent) * 100).toFixed(0).padStart(3)}%`)
    return us
  }
  const verify = stage("verify (HMAC-SHA256 over the raw body)", (s) => s.verify)
  const decode = stage("decode (EventCodec, JSON → Observation)", (s) => s.decode)
  const route = stage("route (draft → event of its shipment)", (s) => s.route)
  const key = stage("idempotency key (content key, SHA-256)", (s) => s.key)
  const apply = stage("apply (state machine, derive view)", (s) => s.apply)
  const plan = stage("flows (plan effects, payloads, billing)", (s) => s.plan)
  const audit = stage("audit entry (SHA-256 chain)", (s) => s.audit)
  const known = verify + decode + route + key + apply + plan + audit
  // Not on this path: MemoryStore keeps the committed value and the event objects and encodes
  // them only when read (`Store.Commit.encodeBody`, `Store.CommitEvent.encodeBody`); a store
  // that serializes (Redis) pays both per commit.
  stage("(not here) event JSON (the event log entry)", (s) => s.eventJson)
  stage("(not here) serialize the record head", (s) => s.serialize)
  console.log(`  ${"the rest: batching, locks, store, GC, Effect".padEnd(44)} ${(perEvent - known).toFixed(1).padStart(7)} µs  ${(((perEvent - known) / perEvent) * 100).toFixed(0).padStart(3)}%`)
  console.log(`  ${"pipeline, all in".padEnd(44)} ${perEvent.toFixed(1).padStart(7)} µs`)
  // The target's budget, and how much of it the stages that hash or parse take before any of
  // the product's own logic runs.
  const budget = 1e6 / b / 0.2
  const hashParse = verify + decode + key + audit
  console.log(
    `budget at the target (5 x the baseline's ${(1e6 / b).toFixed(1)} µs per event): ${budget.toFixed(1)} µs; ` +
      `verify + decode + idempotency key + audit hash alone take ${hashParse.toFixed(1)} µs of it (${((hashParse / budget) * 100).toFixed(0)}%), ` +
      `leaving ${(budget - hashParse).toFixed(1)} µs for route, apply, flows, commit, outbox and the rest (now ${(perEvent - hashParse).toFixed(1)} µs)`
  )
  console.log(`events ingested in the last round: ${fmt(last!.accepted)}, outbox actions enqueued: ${fmt(last!.outbox)}`)
  console.log(`memory: peak RSS ${fmt(peakRss / 1048576)} MiB, ${fmt(last!.bytesPerShipment)} bytes of heap + ${fmt(last!.offHeapPerShipment)} bytes off the heap per tracked shipment (records, events, audit, outbox, indexes)`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
