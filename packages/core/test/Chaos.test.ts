/**
 * The chaos test: thousands of shipments' realistic histories, shuffled and duplicated, fed
 * through several concurrent workers and dispatchers while the far sides fail at random
 * (timeouts, 429 with Retry-After, 500, crash after acting) and a dispatcher is killed and
 * restarted. Afterwards: every state equals the batch-fold oracle, every business effect
 * happened exactly once at the far side, nothing was lost, the dead letters hold exactly the
 * permanent failures, and replay after the fault is removed drains them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schema from "effect/Schema"
import {
  Audit,
  DeadLetters,
  Dispatcher,
  MemoryStore,
  MemoryTransport,
  Pipeline,
  ShipmentState,
  Store,
  Transport,
  Worker
} from "../src/index.js"
import { FakePorts, Histories } from "../src/testing/index.js"

const SHIPMENTS = 2000
const WORKERS = 4
const DISPATCHERS = 3

const encodeView = Schema.encodeSync(ShipmentState.ShipmentView)
const canonicalView = (s: ShipmentState.ShipmentState) => JSON.stringify(encodeView(s.view))

/** Cases of every 40th shipment are rejected for good by the helpdesk. */
const permanentlyRejected = (key: string) => {
  if (!key.includes(":helpdesk.openOrEnrich:")) return false
  const match = /^shp-(\d+)-/.exec(key)
  return match !== null && Number(match[1]) % 40 === 0
}

describe("chaos", () => {
  it.live(
    `${SHIPMENTS} shipments through ${WORKERS} workers and ${DISPATCHERS} dispatchers with failing far sides`,
    () =>
      Effect.gen(function* () {
        const histories = Array.from({ length: SHIPMENTS }, (_, i) => Histories.generate(i * 7919 + 1, {}, i))
        const fakes = FakePorts.make({
          rate: 0.2,
          kinds: ["timeout", "rate-limited", "server-error", "crash-after-act"],
          retryAfterMillis: 5,
          permanent: permanentlyRejected,
          seed: 7
        })
        const store = yield* MemoryStore.make
        const transport = yield* MemoryTransport.make
        const base = Layer.mergeAll(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport), fakes.layer)
        const layer = Layer.provideMerge(Pipeline.layer(), base)

        yield* Effect.gen(function* () {
          const pipeline = yield* Pipeline.Pipeline
          for (const [i, h] of histories.entries()) yield* pipeline.register(Histories.intake(h, i))

          // Every event of every history, shuffled across shipments, duplicates included.
          const messages = histories.flatMap((h) => h.events.map((event) => ({ _tag: "Event" as const, event })))
          let seed = 99
          for (let i = messages.length - 1; i > 0; i--) {
            seed = (seed * 1103515245 + 12345) >>> 0
            const j = seed % (i + 1)
            ;[messages[i], messages[j]] = [messages[j]!, messages[i]!]
          }
          yield* Worker.publish(messages)
          const duplicates = messages.length - new Set(messages.map((m) => Pipeline.idempotencyKey(m.event))).size
          expect(duplicates / messages.length).toBeGreaterThan(0.15)

          const retry = { base: "1 millis", cap: "20 millis", maxAttempts: 40, attemptsPerClaim: 3 } as const
          const workers = yield* Effect.forEach(Array.from({ length: WORKERS }), (_, i) =>
            Effect.flatMap(Worker.make({ consumer: `w${i}`, batch: 50, waitMillis: 5, concurrency: i % 2 === 0 ? 2 : 1 }), (w) =>
              Effect.fork(w.run)
            )
          )
          const startDispatcher = (i: number) =>
            Effect.flatMap(
              Dispatcher.make({ owner: `d${i}`, concurrency: 16, batch: 32, leaseMillis: 300, idleMillis: 5, retry }),
              (d) => Effect.fork(d.run)
            )
          const dispatchers = yield* Effect.forEach([0, 1, 2], startDispatcher)

          // Kill a dispatcher mid-run (its leased actions are reclaimed after the lease) and start another.
          yield* Effect.sleep("300 millis")
          yield* Fiber.interrupt(dispatchers[0]!)
          dispatchers[0] = yield* startDispatcher(3)

          // Wait until all messages are consumed and every action is done or dead.
          const deadline = Date.now() + 90_000
          while (true) {
            const pending = yield* transport.pending(Worker.TOPIC, Worker.GROUP)
            const outbox = yield* store.outboxSize()
            const waiting = [...store.internals.outbox.values()].filter(
              (e) => e.action.after !== undefined && store.internals.dead.has(e.action.after)
            ).length
            if (pending === 0 && outbox === waiting) break
            if (Date.now() > deadline) throw new Error(`not drained: pending ${pending}, outbox ${outbox}`)
            yield* Effect.sleep("20 millis")
          }

          // 1. Every final state equals the batch-fold oracle, and nothing was lost.
          let mismatches = 0
          for (const h of histories) {
            const record = yield* pipeline.record(h.shipmentId)
            const oracle = ShipmentState.fold(h.shipmentId, h.companyId, h.events)
            if (record === undefined || !ShipmentState.sameFacts(record.state, oracle)) mismatches++
            // The view, the part every reader sees, is identical byte for byte.
            if (record !== undefined && canonicalView(record.state) !== canonicalView(oracle)) mismatches++
            const ids = new Set([...record!.state.events, ...record!.state.variants].map((e) => e.id))
            for (const e of h.events) if (!ids.has(e.id)) mismatches++
          }
          expect(mismatches).toBe(0)

          // 2. Every business effect happened exactly once at the far side.
          const perKey = new Map<string, number>()
          for (const e of fakes.effects) perKey.set(e.key, (perKey.get(e.key) ?? 0) + 1)
          expect([...perKey.values()].filter((n) => n !== 1)).toEqual([])
          expect([...fakes.invoices.values()].every((n) => n === 1)).toBe(true)
          const released = histories.filter((h) => store.internals.done.has(`${h.shipmentId}:erp.releaseInvoice`))
          expect(fakes.invoices.size).toBe(released.length)
          expect(released.length).toBeGreaterThan(SHIPMENTS / 2)
          // The faults did happen.
          const totalCalls = [...fakes.calls.values()].reduce((a, b) => a + b, 0)
          expect(totalCalls).toBeGreaterThan(fakes.effects.length * 1.2)

          // 3. The dead letters hold exactly the permanent failures.
          const dead = yield* DeadLetters.list()
          expect(dead.map((d) => d.id).sort()).toEqual([...fakes.rejected.keys()].sort())
          expect(dead.length).toBeGreaterThan(0)
          expect(dead.every((d) => JSON.parse(d.error).reason === "Invalid")).toBe(true)

          // 4. Remove the fault and replay: the dead letters drain and their effects happen once.
          fakes.setFaults({ rate: 0, kinds: [] })
          const report = yield* DeadLetters.replay({}, "chaos-test")
          expect(report.requeued).toBe(dead.length)
          const drainer = yield* Dispatcher.make({ owner: "drainer", retry })
          yield* drainer.drain({ maxIdleMillis: 200 })
          expect(yield* DeadLetters.list()).toEqual([])
          expect(yield* store.outboxSize()).toBe(0)
          const after = new Map<string, number>()
          for (const e of fakes.effects) after.set(e.key, (after.get(e.key) ?? 0) + 1)
          for (const d of dead) expect(after.get(d.id)).toBe(1)
          expect([...after.values()].every((n) => n === 1)).toBe(true)

          // 5. The audit trail is intact.
          const audit = yield* Audit.verify
          expect(audit.problems).toEqual([])
          expect(audit.streams).toBeGreaterThanOrEqual(SHIPMENTS)

          yield* Effect.forEach([...workers, ...dispatchers], Fiber.interrupt, { discard: true })
        }).pipe(Effect.provide(layer), Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error))
      }),
    180_000
  )
})
