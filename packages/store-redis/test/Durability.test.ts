/**
 * `durability`: a write the store or transport reports done is on the master's replicas.
 *
 * A standalone master with one replica is started by this file (`startReplicated`, from
 * `redis-server`; it never skips). The replica is frozen with SIGSTOP to play a replica that
 * has fallen behind: without `durability` a commit is reported done while only the master holds
 * it (what a failover loses); with it, the commit, the publish and the registration fail with
 * `Unavailable` until the replica has them, and a retry that finds its event already applied
 * waits for the replica before it answers.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Pipeline, PortError, Store } from "@waybill/core"
import { StoreSuite, TransportSuite } from "@waybill/core/testing"
import { Histories } from "@waybill/core/simulation"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Redis } from "ioredis"
import * as RedisStore from "../src/RedisStore.js"
import * as RedisTransport from "../src/RedisTransport.js"
import { replicasCaughtUp, startReplicated } from "../src/testing/RedisServers.js"
import { cleanupOnClose, freshPrefix } from "./helpers.js"

const pair = await startReplicated()
afterAll(() => pair.stop())

const DURABLE = { replicas: 1, timeoutMillis: 300 } as const

/** A connection to the replica, closed with the scope. */
const replicaClient = Effect.acquireRelease(
  Effect.sync(() => new Redis(pair.replica.url, { maxRetriesPerRequest: 1 })),
  (client) => Effect.sync(() => client.disconnect())
)

/** Runs `f` while the replica is frozen (SIGSTOP), then thaws it and waits until it caught up, whatever happens. */
const whileReplicaFrozen = <A, E, R>(f: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => pair.replica.process.kill("SIGSTOP")),
    () => f,
    () =>
      Effect.zipRight(
        Effect.sync(() => pair.replica.process.kill("SIGCONT")),
        Effect.promise(() => replicasCaughtUp(pair.master))
      )
  )

const store = (options: Partial<RedisStore.Options> = {}) =>
  Effect.gen(function* () {
    const prefix = freshPrefix()
    const store = yield* RedisStore.make({ url: pair.master.url, prefix, ...options })
    yield* cleanupOnClose(store.client, prefix)
    return store
  })

const commit = (shipmentId: string, expectedVersion = 0): Store.Commit => ({
  shipmentId,
  expectedVersion,
  body: JSON.stringify({ v: expectedVersion + 1 }),
  idempotencyKeys: [`k:${shipmentId}:${expectedVersion}`],
  events: [{ id: `e${expectedVersion}`, body: "{}" }],
  audit: [],
  outbox: []
})

/** The record key of a shipment (the store's layout: `{<prefix>:p<n>}:r:<id>`). */
const recordKey = (s: RedisStore.RedisStoreShape, shipmentId: string) => `{${s.prefix}:p${s.partitionOf(shipmentId)}}:r:${shipmentId}`

// Every promise of the ports holds with durability on too (seen marks after the commit, loads
// behind a barrier, every write confirmed on the replica).
StoreSuite.run("RedisStore with durability (a master and a replica)", store({ durability: { replicas: 1 } }))
TransportSuite.run(
  "RedisTransport with durability (a master and a replica)",
  Effect.gen(function* () {
    const prefix = freshPrefix()
    const transport = yield* RedisTransport.make({ url: pair.master.url, prefix, durability: { replicas: 1 } })
    yield* cleanupOnClose(transport.client, prefix)
    return transport
  })
)

describe("RedisStore durability", () => {
  it.live("reports a commit done before the replica has it without durability; with it, only once the replica has it", () =>
    Effect.gen(function* () {
      const plain = yield* store()
      const durable = yield* store({ durability: DURABLE })
      const replica = yield* replicaClient
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          // Asynchronous replication: done, while only the master holds it.
          expect((yield* plain.commit(commit("a")))._tag).toBe("Committed")
          const failed = yield* Effect.either(durable.commit(commit("b")))
          expect(Either.isLeft(failed)).toBe(true)
          const error = (failed as Either.Left<PortError.StorageError, unknown>).left
          expect(error.reason).toBe("Unavailable")
          expect(error.message).toContain("only 0 of 1 replicas acknowledged it within 300 ms")
        })
      )
      // The write stayed on the master: a retry of the same commit loses the version CAS.
      expect((yield* durable.commit(commit("b")))._tag).toBe("Conflict")
      // Once the replica answers, commits return with the replica holding them, every one.
      const shipments = Array.from({ length: 100 }, (_, i) => `s${i}`)
      const results = yield* durable.commitMany(shipments.map((id) => commit(id)))
      expect(results.every((r) => r._tag === "Committed")).toBe(true)
      const onReplica = yield* Effect.promise(() => Promise.all(shipments.map((id) => replica.hget(recordKey(durable, id), "v"))))
      expect(onReplica).toEqual(shipments.map(() => "1"))
    }).pipe(Effect.scoped))

  it.live("a retry that finds its event applied answers Duplicate only once the replica holds the commit", () =>
    Effect.gen(function* () {
      const durable = yield* store({ durability: DURABLE })
      const pipeline = yield* Pipeline.make().pipe(Effect.provideService(Store.Store, durable))
      const history = Histories.generate(77, { duplicates: false }, 3)
      yield* pipeline.register(Histories.intake(history, 3))
      const [first, second] = history.events
      expect((yield* pipeline.ingest(first!)).outcome).toBe("Accepted")
      const replica = yield* replicaClient
      const events = `{${durable.prefix}:p${durable.partitionOf(history.shipmentId)}}:e:${history.shipmentId}`
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const failed = yield* Effect.either(pipeline.ingest(second!))
          expect(Either.isLeft(failed) && failed.left.reason).toBe("Unavailable")
          // Not marked seen: the mark waits for the replicas' confirmation.
          expect(yield* durable.seen([Pipeline.idempotencyKey(second!)])).toEqual([false])
          // And a retry while the replica is still behind is refused too: the load waits for it.
          const again = yield* Effect.either(pipeline.ingest(second!))
          expect(Either.isLeft(again) && again.left.reason).toBe("Unavailable")
        })
      )
      // The replica is back: the retry finds the event applied (the record), and by the time
      // it answers the replica holds it.
      expect((yield* pipeline.ingest(second!)).outcome).toBe("Duplicate")
      expect(yield* Effect.promise(() => replica.llen(events))).toBe(2)
    }).pipe(Effect.scoped))

  it.live("keeps no body of a commit the replica never confirmed: a failover may give its version to another writer", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const durable = yield* store({ prefix, durability: DURABLE })
      const other = yield* store({ prefix, durability: DURABLE })
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const failed = yield* Effect.either(durable.commit({ ...commit("x"), body: "lost" }))
          expect(Either.isLeft(failed) && failed.left.reason).toBe("Unavailable")
        })
      )
      // A failover to a replica that never got the write loses it (played here by removing it),
      // and another writer commits the same version.
      yield* Effect.promise(() => durable.client.del(recordKey(durable, "x")))
      expect((yield* other.commit({ ...commit("x"), body: "kept" }))._tag).toBe("Committed")
      expect(yield* durable.load("x")).toEqual({ shipmentId: "x", version: 1, body: "kept" })
    }).pipe(Effect.scoped))

  it.live("waits for the replica on registrations and inbound dead letters", () =>
    Effect.gen(function* () {
      const durable = yield* store({ durability: DURABLE })
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const put = yield* Effect.either(durable.putShipment("s1", "TN1", "{}"))
          expect(Either.isLeft(put) && put.left.reason).toBe("Unavailable")
          const letter = yield* Effect.either(
            durable.putDeadLetter({ id: "inbound:x", kind: "inbound", target: "t", failedAt: 1, attempts: 1, error: "{}", payload: "{}" })
          )
          expect(Either.isLeft(letter) && letter.left.reason).toBe("Unavailable")
        })
      )
      yield* durable.putShipment("s2", "TN2", "{}")
      const replica = yield* replicaClient
      expect(yield* Effect.promise(() => replica.get(`{${durable.prefix}:p${durable.partitionOf("TN2")}}:trk:TN2`))).toBe("s2")
    }).pipe(Effect.scoped))

  it.effect("refuses a durability setting that is not one", () =>
    Effect.gen(function* () {
      for (const durability of [{ replicas: -1 }, { replicas: 1.5 }, { replicas: 1, timeoutMillis: 0 }]) {
        const made = yield* Effect.either(Effect.scoped(RedisStore.make({ url: pair.master.url, prefix: freshPrefix(), durability })))
        expect(Either.isLeft(made) && made.left.reason).toBe("Invalid")
        expect(Either.isLeft(made) && made.left.message).toMatch(/durability\.(replicas|timeoutMillis)/)
      }
    }))
})

describe("RedisTransport durability", () => {
  it.live("publish returns once the replica holds the messages, and fails while it does not", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const transport = yield* RedisTransport.make({ url: pair.master.url, prefix, partitions: 1, durability: DURABLE })
      yield* cleanupOnClose(transport.client, prefix)
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const failed = yield* Effect.either(transport.publish("t", [{ key: "k", body: "x" }]))
          expect(Either.isLeft(failed) && failed.left.reason).toBe("Unavailable")
        })
      )
      yield* transport.publish("t", Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, body: `m${i}` })))
      const replica = yield* replicaClient
      // The one whose WAIT fell short stayed on the master (a publisher retry publishes it again).
      expect(yield* Effect.promise(() => replica.xlen(transport.streamKey("t", 0)))).toBe(51)
    }).pipe(Effect.scoped))
})
