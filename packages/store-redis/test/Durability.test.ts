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
import * as Fiber from "effect/Fiber"
import { Redis } from "ioredis"
import { type AddressInfo, connect, createServer, type Socket } from "node:net"
import * as Internal from "../src/internal/redis.js"
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

  it.live("a version this process saw confirmed, committed again with another body, is loaded behind the barrier", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const a = yield* store({ prefix, durability: { replicas: 1, timeoutMillis: 1000 } })
      const b = yield* store({ prefix, durability: { replicas: 1, timeoutMillis: 1000 } })
      expect((yield* a.commit({ ...commit("y"), body: "A1" }))._tag).toBe("Committed")
      // The confirmed version is lost (a failover to the replica that did not acknowledge it, a
      // restore of an older dump: played by removing the record), and b commits version 1 again,
      // on the master only.
      yield* Effect.promise(() => a.client.del(recordKey(a, "y")))
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const failed = yield* Effect.either(b.commit({ ...commit("y"), body: "B1" }))
          expect(Either.isLeft(failed) && failed.left.reason).toBe("Unavailable")
          // a must not hand out b's body before the replica holds it.
          const loaded = yield* Effect.either(a.load("y"))
          expect(Either.isLeft(loaded) && loaded.left.reason).toBe("Unavailable")
        })
      )
      expect(yield* a.load("y")).toEqual({ shipmentId: "y", version: 1, body: "B1" })
    }).pipe(Effect.scoped))

  it.live("a WAIT answered by the new master after a failover confirms nothing about the write the old one took", () =>
    Effect.gen(function* () {
      // The store reaches Redis through a proxy, as a Sentinel client reaches the current master:
      // first this file's master (its replica frozen), then, after the "failover", the master of
      // another pair, whose replica is healthy and which never saw the commit.
      const other = yield* Effect.acquireRelease(Effect.promise(() => startReplicated()), (p) => Effect.promise(() => p.stop()))
      let target = pair.master.port
      const sockets = new Set<Socket>()
      const proxy = createServer((inbound) => {
        const outbound = connect(target, "127.0.0.1")
        sockets.add(inbound).add(outbound)
        inbound.pipe(outbound).pipe(inbound)
        const close = () => (inbound.destroy(), outbound.destroy())
        inbound.on("error", close).on("close", close)
        outbound.on("error", close).on("close", close)
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void proxy.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => (proxy.close(), sockets.forEach((s) => s.destroy())))
      )
      const port = (proxy.address() as AddressInfo).port
      const durable = yield* store({ url: `redis://127.0.0.1:${port}`, durability: { replicas: 1, timeoutMillis: 5000 } })
      yield* durable.commit(commit("warm"))
      const admin = new Redis(pair.master.url, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => admin.disconnect()))
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(Effect.either(durable.commit(commit("c"))))
          // The commit is on the old master, its WAIT blocks there; then the failover.
          while ((yield* Effect.promise(() => admin.info("clients"))).includes("blocked_clients:0")) yield* Effect.sleep("20 millis")
          target = other.master.port
          sockets.forEach((s) => s.destroy())
          const result = yield* Fiber.join(fiber)
          expect(Either.isLeft(result) && result.left.reason).toBe("Unavailable")
        })
      )
    }).pipe(Effect.scoped))

  it.live("a WAIT cut short because its master became a replica is Unavailable, not a bug", () =>
    Effect.gen(function* () {
      // A pair of its own: its master is demoted.
      const own = yield* Effect.acquireRelease(Effect.promise(() => startReplicated()), (p) => Effect.promise(() => p.stop()))
      const prefix = freshPrefix()
      // Two replicas wanted, one there: the WAIT blocks until the master is demoted under it.
      const durable = yield* RedisStore.make({ url: own.master.url, prefix, durability: { replicas: 2, timeoutMillis: 10_000 } })
      const admin = new Redis(own.master.url, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => admin.disconnect()))
      const fiber = yield* Effect.fork(Effect.either(durable.commit(commit("d"))))
      while ((yield* Effect.promise(() => admin.info("clients"))).includes("blocked_clients:0")) yield* Effect.sleep("20 millis")
      // A failover: the old master follows another node (here one that does not answer).
      yield* Effect.promise(() => admin.call("REPLICAOF", "127.0.0.1", "1"))
      const result = yield* Fiber.join(fiber)
      expect(Either.isLeft(result) && result.left.message).toMatch(/UNBLOCKED/)
      expect(Either.isLeft(result) && result.left.reason).toBe("Unavailable")
    }).pipe(Effect.scoped))

  it.live("a WAIT that reaches a replica (its master was demoted before the client noticed) is Unavailable, not a bug", () =>
    Effect.gen(function* () {
      const replica = yield* replicaClient
      const error = yield* Effect.promise(() => replica.call("WAIT", 1, 10).then(() => undefined, (e: unknown) => e))
      expect(error instanceof Error && error.message).toMatch(/^ERR WAIT cannot be used with replica instances/)
      expect(Internal.reasonOf(error)).toBe("Unavailable")
    }).pipe(Effect.scoped))

  it.live("hands out a claim, and renews a lease, only once the replica holds it: a lost claim count would tell the next claimer it is the first", () =>
    Effect.gen(function* () {
      // A handler skips its "did I already do this?" lookup on a first claim (`claims` 1). A
      // claim the replica never got is lost in a failover: the far side was called, yet the next
      // claimer was told it was the first, skipped the lookup and did it again (a second invoice).
      const durable = yield* store({ durability: DURABLE, leaseClock: "caller", partitions: 1 })
      const action: Store.OutboxAction = {
        key: "c:a", shipmentId: "c", target: "erp", kind: "erp.postNote", payload: "{}", createdAt: 1, availableAt: 1, attempts: 0
      }
      yield* durable.commit({ ...commit("c"), outbox: [action] })
      const replica = yield* replicaClient
      const claims = () => Effect.promise(() => replica.hget(`{${durable.prefix}:p0}:o:c:a`, "c"))
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const failed = yield* Effect.either(durable.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" }))
          expect(Either.isLeft(failed) && failed.left.reason).toBe("Unavailable")
        })
      )
      // Not handed out, yet counted and leased until the lease runs out: the next claim is the second.
      const [held] = yield* durable.claim({ now: 3001, leaseMillis: 1000, limit: 10, owner: "w" })
      expect(held?.claims).toBe(2)
      expect(yield* claims()).toBe("2")
      // A renewal the replica never got would let another worker take the action early.
      yield* whileReplicaFrozen(
        Effect.gen(function* () {
          const renewed = yield* Effect.either(durable.extend("c:a", held!.leaseToken, { now: 3500, leaseMillis: 1000 }))
          expect(Either.isLeft(renewed) && renewed.left.reason).toBe("Unavailable")
        })
      )
      expect(yield* durable.extend("c:a", held!.leaseToken, { now: 3600, leaseMillis: 1000 })).toBe(true)
      expect(yield* durable.ack("c:a", held!.leaseToken)).toBe(true)
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
  it.live("never hands out a message id twice, even when a failover lost the last publishes: a late ack of the lost one does not acknowledge another", () =>
    Effect.gen(function* () {
      // A pair of its own: its master is killed and its replica promoted.
      const own = yield* Effect.acquireRelease(Effect.promise(() => startReplicated()), (p) => Effect.promise(() => p.stop()))
      const prefix = freshPrefix()
      const options = { prefix, partitions: 1 }
      const receive = { max: 10, visibilityMillis: 60_000, waitMillis: 0, maxDeliveries: 5 }
      const old = yield* RedisTransport.make({
        url: own.master.url,
        ...options,
        redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null }
      })
      yield* old.publish("t", [{ key: "k", body: "warm" }])
      yield* old.ack("t", "g", (yield* old.receive("t", "g", "c", receive)).map((d) => d.id))
      yield* Effect.promise(() => replicasCaughtUp(own.master))
      // The failover: the replica is promoted while the old master still takes writes from the
      // clients that have not noticed (one more message, which the consumer reads); then the old
      // master dies with that message.
      const admin = new Redis(own.replica.url, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => admin.disconnect()))
      yield* Effect.promise(() => admin.call("REPLICAOF", "NO", "ONE"))
      const [lost] = yield* old.publish("t", [{ key: "k", body: "lost" }])
      const held = yield* old.receive("t", "g", "c", receive)
      expect(held.map((d) => d.body)).toEqual(["lost"])
      own.master.process.kill("SIGKILL")
      const promoted = yield* RedisTransport.make({ url: own.replica.url, ...options })
      yield* cleanupOnClose(promoted.client, prefix)
      const [kept] = yield* promoted.publish("t", [{ key: "k", body: "kept" }])
      expect((yield* promoted.receive("t", "g", "c", receive)).map((d) => d.body)).toEqual(["kept"])
      // The consumer is done with the lost message and acknowledges it, now on the new master: the
      // new message stays pending (it was acknowledged, and never handled, when it got the same id).
      yield* promoted.ack("t", "g", held.map((d) => d.id))
      expect(yield* promoted.pending("t", "g")).toBe(1)
      expect(kept).not.toBe(lost)
    }).pipe(Effect.scoped))

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
