/**
 * What the Redis transport adds to the conformance suite: trimming that never drops what a group
 * still needs, a lagging second group, a group deleted under a running consumer, pending counts
 * when the stream's lag is unknown, and layers.
 */
import { describe, expect, it } from "@effect/vitest"
import { type PortError, Transport } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as RedisTransport from "../src/RedisTransport.js"
import { cleanupOnClose, freshPrefix, requireRedis, url } from "./helpers.js"

await requireRedis()

const fresh = (options: Partial<RedisTransport.Options> = {}) =>
  Effect.gen(function* () {
    const prefix = freshPrefix()
    const transport = yield* RedisTransport.make({ url, prefix, ...options })
    yield* cleanupOnClose(transport.client, prefix)
    return transport
  })

const receive = (extra: Partial<Transport.ReceiveOptions> = {}): Transport.ReceiveOptions => ({
  max: 1000,
  visibilityMillis: 10_000,
  waitMillis: 0,
  maxDeliveries: 5,
  ...extra
})

const messages = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 13}`, body: `${from + i}` }))

describe("RedisTransport", () => {
  it.live("trims delivered and acknowledged entries, never what a group still needs", () =>
    Effect.gen(function* () {
      const t = yield* fresh({ trimEvery: 200, partitions: 1 })
      const len = () => Effect.promise(() => t.client.xlen(t.streamKey("orders", 0)))
      // Two groups exist before anything is published; `slow` reads nothing for now.
      yield* t.receive("orders", "fast", "c", receive())
      yield* t.receive("orders", "slow", "c", receive())
      yield* t.publish("orders", messages(0, 3000))
      const first = yield* t.receive("orders", "fast", "c", receive({ max: 2500, visibilityMillis: 200 }))
      expect(first.length).toBe(2500)
      // The fast group acknowledges all but ten of them.
      const unacked = first.slice(100, 110)
      yield* t.ack("orders", "fast", first.filter((d) => !unacked.includes(d)).map((d) => d.id))
      yield* t.publish("orders", messages(3000, 1000))
      // The slow group holds everything back.
      expect(yield* len()).toBe(4000)
      const slow = yield* t.receive("orders", "slow", "c", receive({ max: 5000 }))
      expect(slow.map((d) => d.body)).toEqual(messages(0, 4000).map((m) => m.body))
      yield* t.ack("orders", "slow", slow.map((d) => d.id))
      const removed = yield* t.trim("orders")
      // Only entries below the fast group's oldest pending one may go.
      expect(removed).toBeGreaterThan(0)
      expect(removed).toBeLessThanOrEqual(100)
      expect(yield* len()).toBe(4000 - removed)
      // The unacknowledged ten come back after the visibility timeout, then the undelivered rest.
      yield* Effect.sleep("300 millis")
      const again = yield* t.receive("orders", "fast", "c2", receive({ max: 5000, visibilityMillis: 200 }))
      expect(again.slice(0, 10).map((d) => [d.body, d.deliveries])).toEqual(unacked.map((d) => [d.body, 2]))
      expect(again.slice(10).map((d) => d.body)).toEqual(messages(2500, 1500).map((m) => m.body))
      yield* t.ack("orders", "fast", again.map((d) => d.id))
      expect(yield* t.pending("orders", "fast")).toBe(0)
      expect(yield* t.pending("orders", "slow")).toBe(0)
      // Everything was acknowledged by both groups: publishing again trims the old entries away.
      yield* t.publish("orders", messages(4000, 200))
      expect(yield* len()).toBeLessThan(1000)
      expect(yield* t.pending("orders", "slow")).toBe(200)
    }).pipe(Effect.scoped))

  it.live("leaves a stream without groups alone", () =>
    Effect.gen(function* () {
      const t = yield* fresh({ trimEvery: 10, partitions: 4 })
      yield* t.publish("lonely", messages(0, 50))
      expect(yield* t.trim("lonely")).toBe(0)
      const lengths = yield* Effect.promise(() => Promise.all([0, 1, 2, 3].map((p) => t.client.xlen(t.streamKey("lonely", p)))))
      expect(lengths.reduce((a, b) => a + b, 0)).toBe(50)
      // A group created now still gets every message.
      expect((yield* t.receive("lonely", "late", "c", receive())).length).toBe(50)
    }).pipe(Effect.scoped))

  it.live("recreates a group deleted under a running consumer", () =>
    Effect.gen(function* () {
      const t = yield* fresh()
      yield* t.publish("jobs", messages(0, 5))
      expect((yield* t.receive("jobs", "g", "c", receive())).length).toBe(5)
      yield* Effect.promise(() =>
        Promise.all(Array.from({ length: t.partitions }, (_, p) => t.client.xgroup("DESTROY", t.streamKey("jobs", p), "g")))
      )
      // The group starts over from the beginning of the stream: nothing is lost.
      const again = yield* t.receive("jobs", "g", "c", receive())
      expect(again.map((d) => [d.body, d.deliveries])).toEqual(messages(0, 5).map((m) => [m.body, 1]))
    }).pipe(Effect.scoped))

  it.live("counts pending messages when the stream's lag is unknown", () =>
    Effect.gen(function* () {
      const t = yield* fresh({ partitions: 1 })
      const ids = yield* t.publish("events", messages(0, 10))
      expect(yield* t.pending("events", "g")).toBe(10)
      const got = yield* t.receive("events", "g", "c", receive({ max: 3 }))
      yield* t.ack("events", "g", got.map((d) => d.id))
      // Deleting an undelivered entry makes Redis unsure of the lag.
      yield* Effect.promise(() => t.client.xdel(t.streamKey("events", 0), ids[5]!))
      expect(yield* t.pending("events", "g")).toBe(6)
      const rest = yield* t.receive("events", "g", "c", receive())
      expect(rest.length).toBe(6)
    }).pipe(Effect.scoped))

  it.live("waits for messages published while a receive is waiting", () =>
    Effect.gen(function* () {
      const t = yield* fresh()
      yield* t.receive("late", "g", "c", receive())
      const fiber = yield* Effect.fork(t.receive("late", "g", "c", receive({ waitMillis: 2000 })))
      yield* Effect.sleep("100 millis")
      yield* t.publish("late", [{ key: "k", body: "hello" }])
      const got = yield* Fiber.join(fiber)
      expect(got.map((d) => d.body)).toEqual(["hello"])
    }).pipe(Effect.scoped))

  it.live("keeps each key's messages with one consumer while the members stay the same", () =>
    Effect.gen(function* () {
      const t = yield* fresh()
      for (const c of ["c1", "c2", "c3"]) expect(yield* t.receive("work", "g", c, receive())).toEqual([])
      const published = Array.from({ length: 300 }, (_, i) => ({ key: `shp-${i % 40}`, body: `${i}` }))
      yield* t.publish("work", published)
      const owner = new Map<string, Set<string>>()
      const bodies: Array<string> = []
      let idle = 0
      for (let round = 0; idle < 3; round++) {
        const consumer = ["c1", "c2", "c3"][round % 3]!
        const got = yield* t.receive("work", "g", consumer, receive({ max: 9 }))
        idle = got.length === 0 ? idle + 1 : 0
        for (const d of got) {
          owner.set(d.key, new Set([...(owner.get(d.key) ?? []), consumer]))
          bodies.push(d.body)
        }
        yield* t.ack("work", "g", got.map((d) => d.id))
      }
      expect(bodies.length).toBe(300)
      expect(new Set(bodies).size).toBe(300)
      expect([...owner.values()].every((s) => s.size === 1)).toBe(true)
      // The keys are spread: every consumer owns some.
      expect(new Set([...owner.values()].map((s) => [...s][0])).size).toBe(3)
      // Within a key, publish order.
      const perKey = new Map<string, Array<number>>()
      for (const b of bodies) perKey.set(`shp-${Number(b) % 40}`, [...(perKey.get(`shp-${Number(b) % 40}`) ?? []), Number(b)])
      for (const list of perKey.values()) expect(list).toEqual([...list].sort((a, b) => a - b))
    }).pipe(Effect.scoped))

  it.live("hands a silent consumer's partitions to the others after the member timeout", () =>
    Effect.gen(function* () {
      const t = yield* fresh({ memberTimeoutMillis: 300 })
      expect(yield* t.receive("work", "g", "c1", receive())).toEqual([])
      expect(yield* t.receive("work", "g", "c2", receive())).toEqual([])
      yield* t.publish("work", Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, body: `${i}` })))
      // c2 says nothing more; c1 gets its own share only.
      const own = yield* t.receive("work", "g", "c1", receive())
      expect(own.length).toBeGreaterThan(0)
      expect(own.length).toBeLessThan(60)
      expect(yield* t.receive("work", "g", "c1", receive())).toEqual([])
      yield* Effect.sleep("400 millis")
      const rest = yield* t.receive("work", "g", "c1", receive())
      expect(own.length + rest.length).toBe(60)
      expect(new Set([...own, ...rest].map((d) => d.body)).size).toBe(60)
    }).pipe(Effect.scoped))

  it.live("forgets the consumers that left a group once nothing is pending for them", () =>
    Effect.gen(function* () {
      const t = yield* fresh({ partitions: 4, memberTimeoutMillis: 200, trimEvery: 0 })
      const consumers = () =>
        Effect.promise(async () => {
          const names = new Set<string>()
          for (let p = 0; p < t.partitions; p++) {
            const rows = (await t.client.call("XINFO", "CONSUMERS", t.streamKey("work", p), "g")) as Array<Array<unknown>>
            for (const row of rows) names.add(String(row[row.indexOf("name") + 1]))
          }
          return [...names].sort()
        })
      yield* t.publish("work", messages(0, 40))
      // Processes come and go (a deploy gives each a new name); the last one dies holding messages.
      for (const c of ["w1", "w2", "w3"]) {
        const got = yield* t.receive("work", "g", c, receive({ max: 5, visibilityMillis: 200 }))
        expect(got.length).toBe(5)
        if (c !== "w3") yield* t.ack("work", "g", got.map((d) => d.id))
      }
      yield* Effect.sleep("300 millis")
      const rest = yield* t.receive("work", "g", "w4", receive({ visibilityMillis: 200 }))
      expect(rest.length).toBe(30)
      yield* t.ack("work", "g", rest.map((d) => d.id))
      expect(yield* t.pending("work", "g")).toBe(0)
      yield* t.trim("work")
      expect(yield* consumers()).toEqual(["w4"])
    }).pipe(Effect.scoped))

  it.live("refuses a topic created with another partition count, instead of never reading its other streams", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const wide = yield* RedisTransport.make({ url, prefix, partitions: 16 })
      yield* cleanupOnClose(wide.client, prefix)
      const narrow = yield* RedisTransport.make({ url, prefix, partitions: 4 })
      // An ingress with the default 16 streams publishes; a worker set to 4 would read only
      // streams 0..3: the messages on 4..15 were never delivered, and not counted as pending.
      yield* wide.publish("events", messages(0, 60))
      const attempts: ReadonlyArray<Effect.Effect<unknown, PortError.StorageError>> = [
        narrow.receive("events", "g", "c", receive()),
        narrow.pending("events", "g"),
        narrow.publish("events", messages(60, 1)),
        narrow.trim("events")
      ]
      for (const attempt of attempts) {
        const error = yield* Effect.flip(attempt)
        expect([error._tag, error.reason]).toEqual(["StorageError", "Invalid"])
        expect(error.description).toMatch(/16 partitions.*configured with 4/)
      }
      // The topic's own count reads everything.
      expect((yield* wide.receive("events", "g", "c", receive())).length).toBe(60)
      // Another topic is free to have its own count.
      yield* narrow.publish("other", messages(0, 5))
      expect((yield* narrow.receive("other", "g", "c", receive())).length).toBe(5)
    }).pipe(Effect.scoped))

  it.scoped("refuses a member timeout, trim interval or poll pause it cannot use", () =>
    Effect.gen(function* () {
      // An infinite member timeout kept a dead consumer's partitions with it for good (their new
      // messages were never delivered); a negative or NaN trim interval silently never trimmed.
      const bad: ReadonlyArray<Partial<RedisTransport.Options>> = [
        { memberTimeoutMillis: Number.POSITIVE_INFINITY },
        { memberTimeoutMillis: Number.NaN },
        { memberTimeoutMillis: 0 },
        { memberTimeoutMillis: 1.5 },
        { trimEvery: -1 },
        { trimEvery: Number.NaN },
        { trimEvery: 0.5 },
        { pollMillis: Number.NaN },
        { pollMillis: -5 }
      ]
      for (const options of bad) {
        const made = RedisTransport.make({ url, prefix: freshPrefix(), ...options })
        const error = yield* Effect.flip(Effect.scoped(Effect.as(made, `started with ${JSON.stringify(options)}`)))
        expect([error.reason, error.method]).toEqual(["Invalid", "make"])
        expect(error.description).toMatch(/memberTimeoutMillis|trimEvery|pollMillis/)
      }
      // 0 means never trim; a member timeout and a poll pause in whole milliseconds are fine.
      const t = yield* fresh({ trimEvery: 0, memberTimeoutMillis: 5_000, pollMillis: 0 })
      yield* t.publish("jobs", messages(0, 3))
      expect((yield* t.receive("jobs", "g", "c", receive())).length).toBe(3)
    }))

  it.scoped("provides the generic Transport", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const ok = yield* Effect.scoped(
        Effect.gen(function* () {
          const transport = yield* Transport.Transport
          const redis = yield* RedisTransport.RedisTransport
          // Making a transport writes nothing: there is nothing to clean up.
          return transport === redis && redis.streamKey("t", 3) === `{${prefix}:t:t}:s:3`
        }).pipe(Effect.provide(RedisTransport.layer({ url, prefix })))
      )
      expect(ok).toBe(true)
    }))
})
