/**
 * The conformance suite every `Store` driver must pass. It registers vitest tests; a driver
 * package runs it from one of its own test files:
 *
 * ```ts
 * import { StoreSuite } from "@waybill/core/testing"
 * import * as RedisStore from "../src/RedisStore.js"
 * StoreSuite.run("RedisStore", RedisStore.make({ url, prefix: `test:${crypto.randomUUID()}` }))
 * ```
 *
 * `make` is run once per test (in the test's scope), so every test gets a fresh, empty store.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Audit from "../Audit.js"
import type * as Store from "../Store.js"

const action = (key: string, shipmentId: string, extra: Partial<Store.OutboxAction> = {}): Store.OutboxAction => ({
  key,
  shipmentId,
  target: "erp",
  kind: "erp.postNote",
  payload: JSON.stringify({ key }),
  createdAt: 1000,
  availableAt: 1000,
  attempts: 0,
  ...extra
})

const commit = (
  shipmentId: string,
  expectedVersion: number,
  extra: Partial<Store.Commit> = {}
): Store.Commit => ({
  shipmentId,
  expectedVersion,
  body: JSON.stringify({ v: expectedVersion + 1 }),
  idempotencyKeys: [],
  events: [],
  audit: [],
  outbox: [],
  ...extra
})

/**
 * Registers the suite.
 *
 * @since 0.1.0
 */
export const run = <E>(name: string, make: Effect.Effect<Store.StoreShape, E, Scope.Scope>): void => {
  const test = (title: string, body: (store: Store.StoreShape) => Effect.Effect<void, unknown>) =>
    it.scoped(title, () => Effect.flatMap(make, body).pipe(Effect.orDie))

  describe(`${name} conforms to Store`, () => {
    test("loads nothing for an unknown shipment", (store) =>
      Effect.gen(function* () {
        expect(yield* store.load("nope")).toBeUndefined()
        expect(yield* store.seen(["a", "b"])).toEqual([false, false])
      }))

    test("commits atomically under a version check", (store) =>
      Effect.gen(function* () {
        const audit1 = Audit.chain("s1", undefined, [{ at: 1, kind: "event", body: "{}" }])
        const first = yield* store.commit(
          commit("s1", 0, {
            idempotencyKeys: ["src|e1"],
            events: [{ id: "src|e1", body: "{\"e\":1}" }],
            audit: audit1,
            outbox: [action("s1:a", "s1")]
          })
        )
        expect(first).toEqual({ _tag: "Committed", version: 1, enqueued: ["s1:a"] })
        expect((yield* store.load("s1"))?.version).toBe(1)
        // A stale writer changes nothing at all.
        const audit2 = Audit.chain("s1", { seq: 1, hash: audit1[0]!.hash }, [{ at: 2, kind: "event", body: "{}" }])
        const stale = yield* store.commit(
          commit("s1", 0, {
            body: "stale",
            idempotencyKeys: ["src|e2"],
            events: [{ id: "src|e2", body: "{}" }],
            audit: audit2,
            outbox: [action("s1:b", "s1")]
          })
        )
        expect(stale).toEqual({ _tag: "Conflict", version: 1 })
        expect((yield* store.load("s1"))?.body).toBe(JSON.stringify({ v: 1 }))
        expect(yield* store.seen(["src|e1", "src|e2"])).toEqual([true, false])
        expect((yield* store.events("s1")).map((e) => e.id)).toEqual(["src|e1"])
        expect((yield* store.auditHead("s1"))?.seq).toBe(1)
        expect(yield* store.outboxSize()).toBe(1)
        const second = yield* store.commit(commit("s1", 1, { audit: audit2, events: [{ id: "src|e2", body: "{}" }] }))
        expect(second._tag).toBe("Committed")
        expect((yield* store.events("s1")).map((e) => e.id)).toEqual(["src|e1", "src|e2"])
      }))

    test("gives back the event log and record as committed, whether given as text or encoded on demand", (store) =>
      Effect.gen(function* () {
        // The runtime's form: `body` an accessor, `encodeBody` a method; a store either reads
        // `body` (and stores the text) or keeps the entry and calls `encodeBody` when read.
        class OnDemand implements Store.CommitEvent {
          constructor(
            readonly id: string,
            readonly value: unknown
          ) {}
          get body(): string {
            return JSON.stringify(this.value)
          }
          encodeBody(): string {
            return JSON.stringify(this.value)
          }
        }
        const value = { state: "v1" }
        yield* store.commit(commit("s1", 0, { events: [{ id: "src|e1", body: "{\"e\":1}" }] }))
        yield* store.commit({
          shipmentId: "s1",
          expectedVersion: 1,
          get body() {
            return JSON.stringify(value)
          },
          value,
          encodeBody: () => JSON.stringify(value),
          idempotencyKeys: [],
          events: [new OnDemand("src|e2", { e: 2 }), { id: "src|e3", body: "{\"e\":3}" }],
          audit: [],
          outbox: []
        })
        expect((yield* store.load("s1"))?.body).toBe(JSON.stringify(value))
        yield* store.commit(commit("s1", 2, { events: [new OnDemand("src|e4", { e: "é\n" })] }))
        expect(yield* store.events("s1")).toEqual([
          { id: "src|e1", body: "{\"e\":1}" },
          { id: "src|e2", body: "{\"e\":2}" },
          { id: "src|e3", body: "{\"e\":3}" },
          { id: "src|e4", body: JSON.stringify({ e: "é\n" }) }
        ])
        expect((yield* store.load("s1"))?.version).toBe(3)
      }))

    test("commits many at once, each on its own version check, results in order", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("b", 0))
        const results = yield* store.commitMany([
          commit("a", 0, {
            idempotencyKeys: ["src|a1"],
            events: [{ id: "src|a1", body: "{}" }],
            audit: Audit.chain("a", undefined, [{ at: 1, kind: "event", body: "{}" }]),
            outbox: [action("a:k", "a")]
          }),
          commit("b", 0, { idempotencyKeys: ["src|b-stale"], outbox: [action("b:stale", "b")] }),
          commit("c", 0, { outbox: [action("c:k", "c")] }),
          // A second commit of one shipment in the same call sees the first.
          commit("c", 1, { outbox: [action("c:k", "c"), action("c:k2", "c")] })
        ])
        expect(results).toEqual([
          { _tag: "Committed", version: 1, enqueued: ["a:k"] },
          { _tag: "Conflict", version: 1 },
          { _tag: "Committed", version: 1, enqueued: ["c:k"] },
          { _tag: "Committed", version: 2, enqueued: ["c:k2"] }
        ])
        // The conflicting commit wrote nothing; the others are whole.
        expect(yield* store.seen(["src|a1", "src|b-stale"])).toEqual([true, false])
        expect(yield* store.isDone("b:stale")).toBe(false)
        expect((yield* store.events("a")).map((e) => e.id)).toEqual(["src|a1"])
        expect((yield* store.auditHead("a"))?.seq).toBe(1)
        expect(yield* store.outboxSize()).toBe(3)
        expect(yield* store.commitMany([])).toEqual([])
      }))

    test("loads many at once, leaving out bodies the caller already holds", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("a", 0, { body: "A1" }))
        yield* store.commit(commit("b", 0, { body: "B1" }))
        yield* store.commit(commit("b", 1, { body: "B2" }))
        const loaded = yield* store.loadMany([
          { shipmentId: "a", knownVersion: 1 },
          { shipmentId: "b", knownVersion: 1 },
          { shipmentId: "nope" },
          { shipmentId: "a" }
        ])
        expect(loaded[0]).toMatchObject({ shipmentId: "a", version: 1 })
        expect(loaded[0]?.body).toBeUndefined()
        expect(loaded[1]).toEqual({ shipmentId: "b", version: 2, body: "B2" })
        expect(loaded[2]).toBeUndefined()
        expect(loaded[3]).toEqual({ shipmentId: "a", version: 1, body: "A1" })
        expect(yield* store.loadMany([])).toEqual([])
      }))

    test("lets exactly one of many concurrent writers win each version", (store) =>
      Effect.gen(function* () {
        let wins = 0
        const writer = (n: number) =>
          Effect.gen(function* () {
            while (true) {
              const current = (yield* store.load("hot"))?.version ?? 0
              const result = yield* store.commit(commit("hot", current, { body: `writer ${n}` }))
              if (result._tag === "Committed") {
                wins++
                return
              }
            }
          })
        yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], writer, { concurrency: "unbounded", discard: true })
        expect(wins).toBe(10)
        expect((yield* store.load("hot"))?.version).toBe(10)
      }))

    test("enqueues an action key at most once, ever", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("s1", 0, { outbox: [action("k1", "s1")] }))
        const again = yield* store.commit(commit("s1", 1, { outbox: [action("k1", "s1"), action("k2", "s1")] }))
        expect(again._tag === "Committed" && again.enqueued).toEqual(["k2"])
        const [a, b] = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect([a?.key, b?.key]).toEqual(["k1", "k2"])
        expect(yield* store.ack("k1", a!.leaseToken)).toBe(true)
        expect(yield* store.isDone("k1")).toBe(true)
        const third = yield* store.commit(commit("s1", 2, { outbox: [action("k1", "s1")] }))
        expect(third._tag === "Committed" && third.enqueued).toEqual([])
        expect(yield* store.deadLetter("k2", b!.leaseToken, letter("k2", "s1"))).toBe(true)
        const fourth = yield* store.commit(commit("s1", 3, { outbox: [action("k2", "s1")] }))
        expect(fourth._tag === "Committed" && fourth.enqueued).toEqual([])
      }))

    test("claims due actions in order, with leases that expire", (store) =>
      Effect.gen(function* () {
        // Real time, with a short lease: a driver may judge leases by its own clock (one clock
        // for every worker, like RedisStore's server clock) or by the caller's `now`.
        const t0 = Date.now()
        yield* store.commit(
          commit("s1", 0, {
            outbox: [action("a", "s1"), action("b", "s1", { availableAt: t0 + 60_000 }), action("c", "s1")]
          })
        )
        const first = yield* store.claim({ now: t0, leaseMillis: 200, limit: 10, owner: "w1" })
        expect(first.map((x) => x.key)).toEqual(["a", "c"])
        // The holder's deadline is in the caller's clock.
        expect(first[0]!.leaseExpiresAt).toBe(t0 + 200)
        // Leased: nobody else gets them until the lease expires.
        expect(yield* store.claim({ now: t0 + 100, leaseMillis: 200, limit: 10, owner: "w2" })).toEqual([])
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
        const reclaimed = yield* store.claim({ now: Date.now(), leaseMillis: 60_000, limit: 1, owner: "w2" })
        expect(reclaimed.map((x) => x.key)).toEqual(["a"])
        expect(reclaimed[0]!.leaseToken).not.toBe(first[0]!.leaseToken)
        // The old owner lost its lease: its ack is refused, the new owner's is taken.
        expect(yield* store.ack("a", first[0]!.leaseToken)).toBe(false)
        expect(yield* store.ack("a", reclaimed[0]!.leaseToken)).toBe(true)
        // Due later ("c"'s lease ran out with "a"'s).
        const late = yield* store.claim({ now: t0 + 60_000, leaseMillis: 1000, limit: 10, owner: "w3" })
        expect(late.map((x) => x.key)).toEqual(["b", "c"])
        // Claims are counted: "a" was claimed twice, "b" once, "c" twice.
        expect(first.map((x) => x.claims)).toEqual([1, 1])
        expect(reclaimed[0]!.claims).toBe(2)
        expect(late.map((x) => x.claims)).toEqual([1, 2])
        expect(yield* store.outboxSize()).toBe(2)
      }))

    test("a held lease can be renewed; a lost one cannot", (store) =>
      Effect.gen(function* () {
        const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
        yield* store.commit(commit("s1", 0, { outbox: [action("a", "s1")] }))
        const [first] = yield* store.claim({ now: Date.now(), leaseMillis: 200, limit: 1, owner: "w1" })
        expect(yield* store.extend("a", first!.leaseToken, { now: Date.now(), leaseMillis: 60_000 })).toBe(true)
        yield* sleep(300)
        // Renewed: still held past the lease it was claimed with.
        expect(yield* store.claim({ now: Date.now(), leaseMillis: 1000, limit: 1, owner: "w2" })).toEqual([])
        expect(yield* store.extend("a", first!.leaseToken, { now: Date.now(), leaseMillis: 100 })).toBe(true)
        yield* sleep(250)
        const [again] = yield* store.claim({ now: Date.now(), leaseMillis: 60_000, limit: 1, owner: "w2" })
        expect(again?.key).toBe("a")
        // The old holder lost it: its renewal is refused and changes nothing.
        expect(yield* store.extend("a", first!.leaseToken, { now: Date.now(), leaseMillis: 60_000 })).toBe(false)
        expect(yield* store.extend("missing", again!.leaseToken, { now: Date.now(), leaseMillis: 60_000 })).toBe(false)
        expect(yield* store.ack("a", again!.leaseToken)).toBe(true)
        expect(yield* store.extend("a", again!.leaseToken, { now: Date.now(), leaseMillis: 60_000 })).toBe(false)
      }))

    test("retries go to the back of the queue and keep attempts and the last error", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("s1", 0, { outbox: [action("a", "s1"), action("b", "s1")] }))
        const [a] = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 1, owner: "w" })
        expect(yield* store.retry("a", a!.leaseToken, { availableAt: 2000, attempts: 1, lastError: "{\"reason\":\"Timeout\"}" })).toBe(true)
        expect(yield* store.retry("a", "stolen", { availableAt: 2000, attempts: 9, lastError: "" })).toBe(false)
        const next = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect(next.map((x) => x.key)).toEqual(["b", "a"])
        expect(next.map((x) => x.claims)).toEqual([1, 2])
        expect(next[1]!.attempts).toBe(1)
        expect(next[1]!.lastError).toBe("{\"reason\":\"Timeout\"}")
      }))

    test("an action waits for the action it comes after", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("s1", 0, { outbox: [action("validate", "s1"), action("invoice", "s1", { after: "validate" })] }))
        const first = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect(first.map((x) => x.key)).toEqual(["validate"])
        expect(yield* store.ack("validate", first[0]!.leaseToken)).toBe(true)
        const second = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect(second.map((x) => x.key)).toEqual(["invoice"])
      }))

    test("an action waits while its predecessor is dead-lettered; removing that dead letter releases it", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("s1", 0, { outbox: [action("a", "s1"), action("b", "s1", { after: "a" })] }))
        const [a] = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect(a?.key).toBe("a")
        expect(yield* store.deadLetter("a", a!.leaseToken, letter("a", "s1"))).toBe(true)
        expect(yield* store.claim({ now: 9000, leaseMillis: 1000, limit: 10, owner: "w" })).toEqual([])
        // Given up for good: the predecessor will never be done and holds nothing back any more.
        expect(yield* store.removeDeadLetters(["a"])).toBe(1)
        const released = yield* store.claim({ now: 9000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect(released.map((x) => x.key)).toEqual(["b"])
      }))

    test("keeps dead letters, lists them in pages and requeues actions", (store) =>
      Effect.gen(function* () {
        yield* store.commit(commit("s1", 0, { outbox: [action("a", "s1"), action("b", "s1")] }))
        const claimed = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        for (const c of claimed) {
          const { leaseToken: _t, leaseExpiresAt: _e, ...stored } = c
          expect(yield* store.deadLetter(c.key, c.leaseToken, { ...letter(c.key, "s1"), payload: JSON.stringify({ ...stored, attempts: 3 }) })).toBe(true)
        }
        yield* store.putDeadLetter({ ...letter("inbound:1", "s1"), kind: "inbound", payload: "{\"raw\":true}" })
        yield* store.putDeadLetter({ ...letter("inbound:1", "s1"), kind: "inbound", payload: "{\"raw\":2}" })
        expect(yield* store.outboxSize()).toBe(0)
        const page1 = yield* store.deadLetters({ limit: 2 })
        expect(page1.map((d) => d.id)).toEqual(["a", "b"])
        const page2 = yield* store.deadLetters({ after: "b", limit: 2 })
        expect(page2.map((d) => [d.id, d.payload])).toEqual([["inbound:1", "{\"raw\":2}"]])
        expect(yield* store.requeue(["a", "inbound:1", "missing"], 3000)).toBe(1)
        const again = yield* store.claim({ now: 3000, leaseMillis: 1000, limit: 10, owner: "w" })
        // Requeued: attempts start again, but the claim count remembers it ran before.
        expect(again.map((x) => [x.key, x.attempts, x.claims])).toEqual([["a", 0, 2]])
        expect(yield* store.removeDeadLetters(["inbound:1", "nope"])).toBe(1)
        expect((yield* store.deadLetters({ limit: 10 })).map((d) => d.id)).toEqual(["b"])
      }))

    test("requeues no letter whose action is in the outbox: the running claim keeps its lease", (store) =>
      Effect.gen(function* () {
        // A host dead-lettered the action by hand while it was pending, then a worker claimed it.
        yield* store.commit(commit("s1", 0, { outbox: [action("a", "s1")] }))
        yield* store.putDeadLetter(letter("a", "s1"))
        const [a] = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
        expect(a?.key).toBe("a")
        expect(yield* store.requeue(["a"], 2000)).toBe(0)
        // Nobody else gets it while the lease runs, and its holder can still ack it.
        expect(yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "v" })).toEqual([])
        expect(yield* store.ack("a", a!.leaseToken)).toBe(true)
        expect((yield* store.deadLetters({ limit: 10 })).map((d) => d.id)).toEqual(["a"])
      }))

    test("an inbound letter kept again replaces the one kept before, whichever shipment each names", (store) =>
      Effect.gen(function* () {
        // A message kept before it could be routed (no shipment), then again by a replay that got
        // further (its shipment known), then under another shipment: one letter, the last.
        const inbound = (shipmentId: string | undefined, attempts: number): Store.DeadLetter => {
          const { shipmentId: _s, ...rest } = letter("inbound:same", "s1")
          return { ...rest, ...(shipmentId !== undefined ? { shipmentId } : {}), kind: "inbound", attempts, payload: "{}" }
        }
        yield* store.putDeadLetter(inbound(undefined, 1))
        yield* store.putDeadLetter(inbound("s1", 2))
        yield* store.putDeadLetter(inbound("s2", 3))
        const kept = yield* store.deadLetters({ limit: 10 })
        expect(kept.map((d) => [d.id, d.shipmentId, d.attempts])).toEqual([["inbound:same", "s2", 3]])
        expect(yield* store.removeDeadLetters(["inbound:same"])).toBe(1)
        expect(yield* store.deadLetters({ limit: 10 })).toEqual([])
      }))

    test("audit streams are append-only chains with a separate head", (store) =>
      Effect.gen(function* () {
        const [e1, e2] = Audit.chain("ops", undefined, [
          { at: 1, kind: "replay", body: "{}" },
          { at: 2, kind: "replay", body: "{}" }
        ])
        expect(yield* store.appendAudit(e2!)).toBe(false)
        expect(yield* store.appendAudit(e1!)).toBe(true)
        expect(yield* store.appendAudit(e1!)).toBe(false)
        expect(yield* store.appendAudit(e2!)).toBe(true)
        expect(yield* store.auditHead("ops")).toEqual({ seq: 2, hash: e2!.hash })
        expect((yield* store.readAudit("ops", 2, 10)).map((e) => e.hash)).toEqual([e2!.hash])
        yield* store.commit(commit("s1", 0, { audit: Audit.chain("s1", undefined, [{ at: 3, kind: "event", body: "{}" }]) }))
        const streams: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* store.auditStreams(cursor, 1)
          streams.push(...page.streams)
          cursor = page.cursor
        } while (cursor !== undefined)
        expect(streams.sort()).toEqual(["ops", "s1"])
      }))

    test("keeps reference data, the tracking index, cursors and lists shipments", (store) =>
      Effect.gen(function* () {
        yield* store.putShipment("s1", "TRK1", "{\"s\":1}")
        yield* store.putShipment("s2", undefined, "{\"s\":2}")
        expect(yield* store.getShipment("s1")).toBe("{\"s\":1}")
        expect(yield* store.findByTracking("TRK1")).toBe("s1")
        expect(yield* store.findByTracking("TRK2")).toBeUndefined()
        expect(yield* store.findManyByTracking(["TRK2", "TRK1"])).toEqual([undefined, "s1"])
        expect(yield* store.getShipments(["s2", "s3", "s1"])).toEqual(["{\"s\":2}", undefined, "{\"s\":1}"])
        expect(yield* store.findManyByTracking([])).toEqual([])
        expect(yield* store.getCursor("odoo")).toBeUndefined()
        yield* store.setCursor("odoo", "2024-07-31 10:00:00|42")
        expect(yield* store.getCursor("odoo")).toBe("2024-07-31 10:00:00|42")
        for (const id of ["x1", "x2", "x3"]) yield* store.commit(commit(id, 0))
        const ids: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* store.shipments(cursor, 2)
          ids.push(...page.ids)
          cursor = page.cursor
        } while (cursor !== undefined)
        expect(ids.sort()).toEqual(["x1", "x2", "x3"])
      }))

    test("swaps reference data only while it is what the caller read, and indexes its tracking numbers", (store) =>
      Effect.gen(function* () {
        // None stored: only a swap expecting none writes.
        expect(yield* store.swapShipment("s1", "{\"s\":0}", "{\"s\":1}", ["TRK1"])).toBe(false)
        expect(yield* store.getShipment("s1")).toBeUndefined()
        expect(yield* store.findByTracking("TRK1")).toBeUndefined()
        expect(yield* store.swapShipment("s1", undefined, "{\"s\":1}", ["TRK1", "PKG1"])).toBe(true)
        expect(yield* store.getShipment("s1")).toBe("{\"s\":1}")
        expect(yield* store.findManyByTracking(["TRK1", "PKG1"])).toEqual(["s1", "s1"])
        // Two writers read the same body: the first swap wins, the second writes nothing.
        expect(yield* store.swapShipment("s1", "{\"s\":1}", "{\"s\":2}", ["TRK2"])).toBe(true)
        expect(yield* store.swapShipment("s1", "{\"s\":1}", "{\"s\":3}", ["TRK3"])).toBe(false)
        expect(yield* store.getShipment("s1")).toBe("{\"s\":2}")
        expect(yield* store.findManyByTracking(["TRK2", "TRK3"])).toEqual(["s1", undefined])
        // Expecting none while one is stored is a conflict too; the same body again is not.
        expect(yield* store.swapShipment("s1", undefined, "{\"s\":4}", [])).toBe(false)
        expect(yield* store.swapShipment("s1", "{\"s\":2}", "{\"s\":2}", [])).toBe(true)
        // A body that merely looks like the flag an implementation might use is compared as is.
        expect(yield* store.swapShipment("s2", "-", "{\"s\":5}", [])).toBe(false)
        expect(yield* store.getShipment("s2")).toBeUndefined()
        // putShipment stays last-writer-wins, and a swap sees what it wrote.
        yield* store.putShipment("s1", undefined, "{\"s\":6}")
        expect(yield* store.swapShipment("s1", "{\"s\":2}", "{\"s\":7}", [])).toBe(false)
        expect(yield* store.swapShipment("s1", "{\"s\":6}", "{\"s\":7}", [])).toBe(true)
        expect(yield* store.getShipment("s1")).toBe("{\"s\":7}")
      }))

    test("a page of limit 0 lists nothing and ends the listing, from the start or from a cursor", (store) =>
      Effect.gen(function* () {
        for (const id of ["x1", "x2", "x3"]) {
          yield* store.commit(commit(id, 0, { audit: Audit.chain(id, undefined, [{ at: 1, kind: "event", body: "{}" }]) }))
        }
        expect(yield* store.shipments(undefined, 0)).toEqual({ ids: [], cursor: undefined })
        expect(yield* store.auditStreams(undefined, 0)).toEqual({ streams: [], cursor: undefined })
        const first = yield* store.shipments(undefined, 1)
        expect(first.cursor).toBeDefined()
        expect(yield* store.shipments(first.cursor, 0)).toEqual({ ids: [], cursor: undefined })
        const firstStream = yield* store.auditStreams(undefined, 1)
        expect(firstStream.cursor).toBeDefined()
        expect(yield* store.auditStreams(firstStream.cursor, 0)).toEqual({ streams: [], cursor: undefined })
        expect(yield* store.deadLetters({ limit: 0 })).toEqual([])
      }))
  })
}

const letter = (id: string, shipmentId: string): Store.DeadLetter => ({
  id,
  kind: "action",
  target: "erp",
  shipmentId,
  failedAt: 2000,
  attempts: 3,
  error: "{\"reason\":\"Invalid\"}",
  payload: JSON.stringify(action(id, shipmentId))
})
