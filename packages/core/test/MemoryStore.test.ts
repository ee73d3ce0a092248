/**
 * What MemoryStore does beyond the Store port: it keeps committed values for the runtime, encodes
 * a record's body only when someone reads it, and keeps event logs and audit trails off the heap
 * without changing a byte of them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Audit from "../src/Audit.js"
import * as MemoryStore from "../src/MemoryStore.js"
import * as Store from "../src/Store.js"

const commit = (overrides: Partial<Store.Commit> & Pick<Store.Commit, "expectedVersion" | "body">): Store.Commit => ({
  shipmentId: "shp-1",
  idempotencyKeys: [],
  events: [],
  audit: [],
  outbox: [],
  ...overrides
})

describe("MemoryStore", () => {
  it.effect("encodes a kept value's body only when it is read, once", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      let encoded = 0
      const value = { state: "v1" }
      const encodeBody = () => {
        encoded++
        return JSON.stringify(value)
      }
      // Written out: spreading would read the accessor.
      const lazy: Store.Commit = {
        shipmentId: "shp-1",
        expectedVersion: 0,
        get body() {
          return encodeBody()
        },
        value,
        encodeBody,
        idempotencyKeys: [],
        events: [],
        audit: [],
        outbox: []
      }
      expect(yield* store.commit(lazy)).toEqual({ _tag: "Committed", version: 1, enqueued: [] })
      expect(encoded).toBe(0)

      // The runtime gets its value back and never reads the body.
      const [loaded] = yield* store.loadMany([{ shipmentId: "shp-1" }])
      expect(loaded?.value).toBe(value)
      expect(loaded?.version).toBe(1)
      expect(Object.keys(loaded!).sort()).toEqual(["shipmentId", "value", "version"])
      expect(encoded).toBe(0)
      // Anyone who reads it gets the JSON, encoded once.
      expect(loaded?.body).toBe('{"state":"v1"}')
      expect((yield* store.load("shp-1"))?.body).toBe('{"state":"v1"}')
      expect(encoded).toBe(1)
      // A known version comes back without a body.
      const [same] = yield* store.loadMany([{ shipmentId: "shp-1", knownVersion: 1 }])
      expect(same).toEqual({ shipmentId: "shp-1", version: 1, value })

      // A commit without `encodeBody` keeps its body as given.
      yield* store.commit(commit({ expectedVersion: 1, body: '{"state":"v2"}', value: { state: "v2" } }))
      expect((yield* store.load("shp-1"))?.body).toBe('{"state":"v2"}')
      // One without a value drops the kept one.
      yield* store.commit(commit({ expectedVersion: 2, body: '{"state":"v3"}' }))
      const [plain] = yield* store.loadMany([{ shipmentId: "shp-1" }])
      expect(plain).toEqual({ shipmentId: "shp-1", version: 3, body: '{"state":"v3"}' })
    })
  )

  it.effect("keeps event logs and audit trails off the heap, byte for byte", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      const events = [
        { id: "carrier|e1|ab", body: '{"status":"picked","where":"Zürich"}' },
        { id: "carrier|e\ud8002|cd", body: "" }
      ]
      const audit = Audit.chain("shp-1", undefined, [
        { at: 1, kind: "event", body: '{"note":"😀"}' },
        { at: 2, kind: "command\nwith a newline", body: "{}" }
      ])
      const before = store.internals.offHeapBytes()
      yield* store.commit(commit({ expectedVersion: 0, body: "{}", events, audit }))
      expect(store.internals.offHeapBytes()).toBeGreaterThan(before)
      expect(yield* store.events("shp-1")).toEqual(events)
      expect(yield* store.readAudit("shp-1", 1, 10)).toEqual(audit)
      expect(yield* store.readAudit("shp-1", 2, 10)).toEqual([audit[1]])
      expect(yield* store.readAudit("shp-1", 1, 1)).toEqual([audit[0]])
      expect(store.internals.audit.read("shp-1")).toEqual(audit)
      expect((yield* Audit.verify.pipe(Effect.provideService(Store.Store, store))).ok).toBe(true)
    })
  )

  it.effect("keeps an event committed with encodeBody as given and encodes it when the log is read", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      let encoded = 0
      // A lazy entry: the store must call `encodeBody` as a method and never read `body`.
      class Lazy implements Store.CommitEvent {
        constructor(
          readonly id: string,
          readonly json: string
        ) {}
        get body(): string {
          throw new Error("the store read body")
        }
        encodeBody(): string {
          encoded++
          return this.json
        }
      }
      yield* store.commit(commit({ expectedVersion: 0, body: "{}", events: [{ id: "k1", body: '{"n":1}' }] }))
      const off = store.internals.offHeapBytes()
      yield* store.commit(commit({ expectedVersion: 1, body: "{}", events: [new Lazy("k2", '{"n":2}'), new Lazy("k3", '{"n":3}')] }))
      expect(encoded).toBe(0)
      expect(store.internals.offHeapBytes()).toBe(off)
      // An eager event after a lazy one keeps its place in the log.
      yield* store.commit(commit({ expectedVersion: 2, body: "{}", events: [{ id: "k4", body: '{"n":4}' }, new Lazy("k5", '{"n":5}')] }))
      const log = [1, 2, 3, 4, 5].map((n) => ({ id: `k${n}`, body: `{"n":${n}}` }))
      expect(yield* store.events("shp-1")).toEqual(log)
      expect(encoded).toBe(3)
      // Encoded again on each read: the store keeps no copy of the text.
      expect(yield* store.events("shp-1")).toEqual(log)
      expect(encoded).toBe(6)
    })
  )
  it.effect("requeue leaves an action letter whose payload is not an action where it is, and requeues the others", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      const letter = (id: string, payload: string): Store.DeadLetter => ({
        id,
        kind: "action",
        target: "erp",
        shipmentId: "shp-1",
        failedAt: 1,
        attempts: 1,
        error: JSON.stringify({ reason: "Invalid" }),
        payload
      })
      const action: Store.OutboxAction = {
        key: "shp-1:erp.postNote:x",
        shipmentId: "shp-1",
        target: "erp",
        kind: "erp.postNote",
        payload: "{}",
        createdAt: 0,
        availableAt: 0,
        attempts: 3
      }
      // Kept by a host by hand (`putDeadLetter`), or written by an older version.
      yield* store.putDeadLetter(letter("bad-json", "{not json"))
      yield* store.putDeadLetter(letter("no-key", JSON.stringify({ shipmentId: "shp-1" })))
      yield* store.putDeadLetter(letter(action.key, JSON.stringify(action)))
      expect(yield* store.requeue(["bad-json", "no-key", action.key], 10)).toBe(1)
      expect((yield* store.deadLetters({ limit: 10 })).map((l) => l.id)).toEqual(["bad-json", "no-key"])
      const claimed = yield* store.claim({ now: 10, leaseMillis: 1000, limit: 10, owner: "w" })
      expect(claimed.map((a) => [a.key, a.attempts])).toEqual([[action.key, 0]])
    }))
})
