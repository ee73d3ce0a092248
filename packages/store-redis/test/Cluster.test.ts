/**
 * The Redis store and transport on a real Redis Cluster (3 masters, 1 replica each), started by
 * this file from `redis-server` (see `src/testing/RedisServers.ts`; it never skips: no `redis-server`, no pass).
 *
 * - The core conformance suites, as `Conformance.test.ts` runs them on standalone Redis, over a
 *   host-owned Cluster client (the store picks seen marks "after" the commit script itself).
 * - The partitions really spread over the masters, and each shipment's keys share one slot.
 * - End to end in one process: a few hundred shipments' shuffled, duplicated histories published
 *   to the transport, ingested by workers through the pipeline, their actions dispatched to
 *   in-memory far sides with transient faults; then every state equals the batch-fold oracle,
 *   every action is done with its effect exactly once, nothing is pending, the audit verifies.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Audit, Dispatcher, Pipeline, PortError, Store, Transport, Worker } from "@waybill/core"
import { FakePorts, Histories, Random } from "@waybill/core/simulation"
import { StoreSuite, TransportSuite } from "@waybill/core/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import calculateSlot from "cluster-key-slot"
import * as Either from "effect/Either"
import { type Cluster, Redis } from "ioredis"
import * as Internal from "../src/internal/redis.js"
import * as RedisStore from "../src/RedisStore.js"
import * as RedisTransport from "../src/RedisTransport.js"
import * as RedisServers from "../src/testing/RedisServers.js"
import { replicasCaughtUp, startCluster } from "../src/testing/RedisServers.js"
import { deleteKeys, doneKeys, effectMismatches, freshPrefix, oracleMismatches } from "./helpers.js"

const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 })
afterAll(() => cluster.stop())

/** A Cluster client the test owns: the store and transport leave a host's client open, so the scope closes it. */
const clusterClient: Effect.Effect<Cluster, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => cluster.client()),
  (client) => Effect.promise(() => client.quit().then(() => undefined, () => client.disconnect()))
)

/** Every key of a prefix, per master (by port). */
const keysPerMaster = async (client: Cluster, prefix: string): Promise<Map<number, Array<string>>> => {
  const out = new Map<number, Array<string>>()
  for (const node of client.nodes("master")) {
    const keys: Array<string> = []
    let cursor = "0"
    do {
      const [next, page] = await node.scan(cursor, "MATCH", `{${Internal.globEscape(prefix)}:*`, "COUNT", 1000)
      cursor = next
      keys.push(...page)
    } while (cursor !== "0")
    out.set(node.options.port!, keys)
  }
  return out
}

/** A client, a fresh prefix, and the prefix's keys deleted before the client closes. */
const scopedPrefix = Effect.gen(function* () {
  const client = yield* clusterClient
  const prefix = freshPrefix()
  yield* Effect.addFinalizer(() => Effect.promise(() => deleteKeys(client, prefix)))
  return { client, prefix }
})

describe("the test cluster", () => {
  it("has 3 masters serving every slot, each with a replica", () => {
    expect(cluster.masters.length).toBe(3)
    expect(cluster.replicas.length).toBe(3)
    const ranges = cluster.masters.map((m) => m.slots!).sort((a, b) => a[0] - b[0])
    expect(ranges[0]![0]).toBe(0)
    expect(ranges[ranges.length - 1]![1]).toBe(16383)
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1)
    expect(new Set(cluster.replicas.map((r) => r.masterId))).toEqual(new Set(cluster.masters.map((m) => m.id)))
  })
})

StoreSuite.run(
  "RedisStore on a Cluster",
  Effect.gen(function* () {
    const { client, prefix } = yield* scopedPrefix
    return yield* RedisStore.make({ client, prefix })
  })
)

TransportSuite.run(
  "RedisTransport on a Cluster",
  Effect.gen(function* () {
    const { client, prefix } = yield* scopedPrefix
    return yield* RedisTransport.make({ client, prefix })
  })
)

describe("RedisStore on a Cluster", () => {
  it.live("spreads the partitions over every master and keeps each shipment's keys in one slot", () =>
    Effect.gen(function* () {
      const { client, prefix } = yield* scopedPrefix
      const store = yield* RedisStore.make({ client, prefix })
      expect(store.client).toBe(client)
      const SHIPMENTS = 200
      const ids = Array.from({ length: SHIPMENTS }, (_, i) => `shp-${i}`)
      const commits = ids.map(
        (id): Store.Commit => ({
          shipmentId: id,
          expectedVersion: 0,
          body: JSON.stringify({ id }),
          idempotencyKeys: [`src|${id}`],
          events: [{ id: `src|${id}`, body: "{}" }],
          audit: Audit.chain(id, undefined, [{ at: 1, kind: "event", body: "{}" }]),
          outbox: [
            {
              key: `${id}:erp.postNote:x`,
              shipmentId: id,
              target: "erp",
              kind: "erp.postNote",
              payload: "{}",
              createdAt: 1,
              availableAt: 1,
              attempts: 0
            }
          ]
        })
      )
      const results = yield* store.commitMany(commits)
      expect(results.map((r) => r._tag)).toEqual(ids.map(() => "Committed"))
      // Seen marks (written after the script, in their own partitions) and loads work across nodes.
      expect(yield* store.seen(ids.map((id) => `src|${id}`))).toEqual(ids.map(() => true))
      expect((yield* store.loadMany(ids.map((shipmentId) => ({ shipmentId })))).map((r) => r?.version)).toEqual(ids.map(() => 1))
      expect(yield* store.outboxSize()).toBe(SHIPMENTS)

      // Every master holds keys, of several partitions; all partitions are used.
      const perMaster = yield* Effect.promise(() => keysPerMaster(client, prefix))
      expect(perMaster.size).toBe(cluster.masters.length)
      const partitionOf = (key: string) => /^\{[^}]*:p(\d+)\}:/.exec(key)?.[1]
      const partitionsPerMaster = [...perMaster.values()].map(
        (keys) => new Set(keys.map(partitionOf).filter((p) => p !== undefined))
      )
      for (const partitions of partitionsPerMaster) expect(partitions.size).toBeGreaterThan(0)
      expect(new Set(partitionsPerMaster.flatMap((s) => [...s])).size).toBe(store.partitions)
      // A partition lives on exactly one master.
      expect(partitionsPerMaster.reduce((n, s) => n + s.size, 0)).toBe(store.partitions)
      const recordKeys = [...perMaster.values()].flat().filter((k) => /\}:r:/.test(k))
      expect(recordKeys.length).toBe(SHIPMENTS)
      expect(Math.min(...[...perMaster.values()].map((keys) => keys.filter((k) => /\}:r:/.test(k)).length))).toBeGreaterThan(0)

      // Every key a master holds is in that master's slot range (CLUSTER KEYSLOT, asked of the node).
      const nodeByPort = new Map(client.nodes("master").map((n) => [n.options.port!, n]))
      for (const [port, keys] of perMaster) {
        const master = cluster.masters.find((m) => m.port === port)!
        const node = nodeByPort.get(port)!
        const slots = yield* Effect.promise(() => Promise.all(keys.map((k) => node.call("CLUSTER", "KEYSLOT", k) as Promise<number>)))
        expect(slots.filter((s) => s < master.slots![0] || s > master.slots![1])).toEqual([])
      }

      // Every key of one shipment (record, events, audit, head, its outbox action, its partition's
      // queue, sequence, indexes) is in one slot: the slot of the partition's hash tag.
      const any = client.nodes("master")[0]!
      for (const id of ["shp-0", "shp-77", "shp-199"]) {
        const all = [...perMaster.values()].flat()
        const own = all.filter((k) => k.endsWith(`}:r:${id}`) || k.endsWith(`}:e:${id}`) || k.endsWith(`}:a:${id}`) || k.endsWith(`}:h:${id}`) || k.includes(`}:o:${id}:`))
        expect(own.length).toBe(5)
        const base = `{${prefix}:p${store.partitionOf(id)}}:`
        const shared = ["ships", "streams", "q", "seq", "n"].map((s) => `${base}${s}`)
        for (const k of shared) expect(all).toContain(k)
        const keys = [...own, ...shared]
        expect(keys.every((k) => k.startsWith(base))).toBe(true)
        const slots = yield* Effect.promise(() => Promise.all([base.slice(0, -1), ...keys].map((k) => any.call("CLUSTER", "KEYSLOT", k) as Promise<number>)))
        expect(new Set(slots).size).toBe(1)
      }

      // The outbox is claimed across all masters.
      const claimed = yield* store.claim({ leaseMillis: 10_000, limit: SHIPMENTS, now: 2, owner: "t" })
      expect(new Set(claimed.map((a) => a.shipmentId)).size).toBe(SHIPMENTS)
      const acked = yield* Effect.forEach(claimed, (a) => store.ack(a.key, a.leaseToken), { concurrency: "unbounded" })
      expect(acked.every((ok) => ok)).toBe(true)
      expect(yield* store.outboxSize()).toBe(0)
      expect(yield* store.isDone("shp-5:erp.postNote:x")).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("refuses seen marks inside the commit script: they live in other slots, and the script failed after writing the record", () =>
    Effect.gen(function* () {
      const { client, prefix } = yield* scopedPrefix
      // Before, the store took the option: every commit with an idempotency key then wrote the
      // record (version 1), failed at the first mark of another slot, and left its events and
      // outbox actions unwritten behind a committed version.
      const made = RedisStore.make({ client, prefix, seenMarks: "inline" })
      const error = yield* Effect.flip(Effect.as(made, "started with seenMarks inline"))
      expect([error.reason, error.method]).toEqual(["Invalid", "make"])
      expect(error.description).toContain("seenMarks")
      // The default on a Cluster client ("after") commits whole.
      const store = yield* RedisStore.make({ client, prefix })
      const outbox = [{ key: "s1:a", shipmentId: "s1", target: "erp", kind: "x", payload: "{}", createdAt: 1, availableAt: 1, attempts: 0 }]
      const result = yield* store.commit({
        shipmentId: "s1",
        expectedVersion: 0,
        body: "{}",
        idempotencyKeys: ["src|e1", "src|e2"],
        events: [{ id: "src|e1", body: "{}" }],
        audit: [],
        outbox
      })
      expect(result).toEqual({ _tag: "Committed", version: 1, enqueued: ["s1:a"] })
      expect((yield* store.events("s1")).map((e) => e.id)).toEqual(["src|e1"])
      expect(yield* store.seen(["src|e1", "src|e2"])).toEqual([true, true])
    }).pipe(Effect.scoped)
  )

  it.live("on a slot being migrated, store scripts fail before they write (Unavailable) and run whole once the slot is stable", () =>
    Effect.gen(function* () {
      const { client, prefix } = yield* scopedPrefix
      const store = yield* RedisStore.make({ client, prefix, partitions: 4 })
      const id = "shp-migrating"
      const base = `{${prefix}:p${store.partitionOf(id)}}:`
      const action = (key: string): Store.OutboxAction => ({
        key, shipmentId: id, target: "erp", kind: "x", payload: "{}", createdAt: 1, availableAt: 1, attempts: 0
      })
      const audit = Audit.chain(id, undefined, [1, 2, 3].map((at) => ({ at, kind: "event", body: "{}" })))
      const commit = (expectedVersion: number, outbox: ReadonlyArray<Store.OutboxAction>): Store.Commit => ({
        shipmentId: id,
        expectedVersion,
        body: JSON.stringify({ v: expectedVersion + 1 }),
        idempotencyKeys: [],
        events: [{ id: `e${expectedVersion + 1}`, body: "{}" }],
        audit: [audit[expectedVersion]!],
        outbox
      })
      // Every key the scripts name exists (a queued, a delayed, a leased action, a dead letter),
      // so Redis lets them start on the migrating node; the keys they find by name are checked
      // one by one, as they go.
      const later = { ...action(`${id}:later`), availableAt: 9e12 }
      const first = [later, action(`${id}:dead`), action(`${id}:leased`), action(`${id}:queued`)]
      expect((yield* store.commit(commit(0, first)))._tag).toBe("Committed")
      const [dead, leased] = yield* store.claim({ now: 2, leaseMillis: 600_000, limit: 2, owner: "w" })
      expect(dead!.key).toBe(`${id}:dead`)
      yield* store.deadLetter(dead!.key, dead!.leaseToken, {
        id: dead!.key, kind: "action", target: "erp", shipmentId: id, failedAt: 2, attempts: 1, error: "{}", payload: "{}"
      })

      const slot = calculateSlot(base.slice(0, -1))
      const source = cluster.masters.find((m) => slot >= m.slots![0] && slot <= m.slots![1])!
      const target = cluster.masters.find((m) => m !== source)!
      const nodeOf = (m: RedisServers.ClusterNode) => client.nodes("master").find((n) => n.options.port === m.port)!
      const setSlot = (m: RedisServers.ClusterNode, ...state: Array<string>) =>
        Effect.promise(() => nodeOf(m).call("CLUSTER", "SETSLOT", slot, ...state))
      yield* Effect.acquireRelease(
        Effect.zipRight(setSlot(target, "IMPORTING", source.id), setSlot(source, "MIGRATING", target.id)),
        () => Effect.zipRight(setSlot(source, "STABLE"), setSlot(target, "STABLE"))
      )

      // A commit with a new action: before, it wrote the record, the event and the audit entry,
      // then failed (`Bug`) at the action's key: version 2 without its action, for good.
      const failed = yield* Effect.flip(store.commit(commit(1, [action(`${id}:new`)])))
      expect(failed.reason).toBe("Unavailable")
      // An ack: before, it deleted the action, then failed at its done mark: gone, and not done.
      const ackFailed = yield* Effect.flip(store.ack(leased!.key, leased!.leaseToken))
      expect(ackFailed.reason).toBe("Unavailable")
      // Nothing was written.
      const source$ = nodeOf(source)
      expect(yield* Effect.promise(() => source$.hget(`${base}r:${id}`, "v"))).toBe("1")
      expect(yield* Effect.promise(() => source$.llen(`${base}e:${id}`))).toBe(1)
      expect(yield* Effect.promise(() => source$.llen(`${base}a:${id}`))).toBe(1)
      expect(yield* Effect.promise(() => source$.exists(`${base}o:${leased!.key}`))).toBe(1)
      expect(yield* Effect.promise(() => source$.get(`${base}n`))).toBe("3")

      // The migration is called off: the same calls go through, whole.
      yield* Effect.zipRight(setSlot(source, "STABLE"), setSlot(target, "STABLE"))
      expect(yield* store.commit(commit(1, [action(`${id}:new`)]))).toEqual({ _tag: "Committed", version: 2, enqueued: [`${id}:new`] })
      expect(yield* store.ack(leased!.key, leased!.leaseToken)).toBe(true)
      expect(yield* store.isDone(leased!.key)).toBe(true)
      expect((yield* store.events(id)).map((e) => e.id)).toEqual(["e1", "e2"])
      expect(yield* store.outboxSize()).toBe(3)

      // Again, and this time the keys the commit names move to the target (the action keys stay
      // behind): the source answers ASK, ioredis follows it, and the script must not run on the
      // target either, where an action key still on the source would look absent (one key) or
      // be refused half way (several).
      yield* Effect.zipRight(setSlot(target, "IMPORTING", source.id), setSlot(source, "MIGRATING", target.id))
      const named = ["r:" + id, "e:" + id, "a:" + id, "h:" + id, "ships", "streams", "q", "seq", "n", "dl"].map((k) => base + k)
      yield* Effect.promise(() => source$.call("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", ...named))
      const asked = yield* Effect.flip(store.commit(commit(2, [action(`${id}:newer`)])))
      expect(asked.reason).toBe("Unavailable")
      const target$ = nodeOf(target)
      const onTarget = <A>(f: () => Promise<A>) => Effect.promise(() => target$.call("ASKING").then(f))
      expect(yield* onTarget(() => target$.hget(`${base}r:${id}`, "v"))).toBe("2")
      expect(yield* onTarget(() => target$.llen(`${base}e:${id}`))).toBe(2)
      // The moved keys are dropped before the slot is stable again (the test ends here).
      yield* onTarget(() => target$.unlink(...named))
    }).pipe(Effect.scoped)
  )

  it.live("with durability, a commit returns once its own master's replica holds it; a frozen replica fails only its master's commits", () =>
    Effect.gen(function* () {
      const { client, prefix } = yield* scopedPrefix
      const store = yield* RedisStore.make({ client, prefix, durability: { replicas: 1, timeoutMillis: 300 } })
      const masterOf = (shipmentId: string) => {
        const slot = calculateSlot(`{${prefix}:p${store.partitionOf(shipmentId)}}`)
        return cluster.masters.find((m) => slot >= m.slots![0] && slot <= m.slots![1])!
      }
      const replicaOf = (master: { readonly id: string }) => cluster.replicas.find((r) => r.masterId === master.id)!
      const commit = (shipmentId: string): Store.Commit => ({
        shipmentId,
        expectedVersion: 0,
        body: "{}",
        idempotencyKeys: [`k:${shipmentId}`],
        events: [{ id: "e1", body: "{}" }],
        audit: [],
        outbox: []
      })
      const recordKey = (shipmentId: string) => `{${prefix}:p${store.partitionOf(shipmentId)}}:r:${shipmentId}`

      const first = Array.from({ length: 60 }, (_, i) => `d${i}`)
      expect((yield* store.commitMany(first.map(commit))).every((r) => r._tag === "Committed")).toBe(true)
      // Each record is on the replica of the master that holds its slot, right when the commit returns.
      const replicas = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const conns = new Map(cluster.replicas.map((r) => [r.id, new Redis({ host: r.host, port: r.port, maxRetriesPerRequest: 1 })]))
          await Promise.all([...conns.values()].map((c) => c.call("READONLY")))
          return conns
        }),
        (conns) => Effect.sync(() => [...conns.values()].forEach((c) => c.disconnect()))
      )
      const onReplicas = yield* Effect.promise(() =>
        Promise.all(first.map((id) => replicas.get(replicaOf(masterOf(id)).id)!.hget(recordKey(id), "v")))
      )
      expect(onReplicas).toEqual(first.map(() => "1"))

      // Freeze the replica of one master: commits in that master's slots fail, the others' go through.
      const master = cluster.masters[0]!
      const frozen = replicaOf(master)
      const second = Array.from({ length: 60 }, (_, i) => `f${i}`)
      const outcomes = yield* Effect.acquireUseRelease(
        Effect.sync(() => frozen.process.kill("SIGSTOP")),
        () => Effect.forEach(second, (id) => Effect.either(store.commit(commit(id))), { concurrency: "unbounded" }),
        () =>
          Effect.zipRight(
            Effect.sync(() => frozen.process.kill("SIGCONT")),
            Effect.promise(() => replicasCaughtUp(master))
          )
      )
      const failedIds = second.filter((_, i) => Either.isLeft(outcomes[i]!))
      const onFrozen = second.filter((id) => masterOf(id) === master)
      expect(onFrozen.length).toBeGreaterThan(0)
      expect(onFrozen.length).toBeLessThan(second.length)
      expect(failedIds).toEqual(onFrozen)
      for (const outcome of outcomes) {
        if (Either.isLeft(outcome)) {
          expect(outcome.left.reason).toBe("Unavailable")
          expect(outcome.left.message).toContain(`(${master.host}:${master.port}) but only 0 of 1 replicas`)
        }
      }
    }).pipe(Effect.scoped)
  )
})


describe("RedisTransport on a Cluster", () => {
  it.live("on a topic's slot being migrated, publish and receive fail before they write (Unavailable) and run whole once the slot is stable", () =>
    Effect.gen(function* () {
      const { client, prefix } = yield* scopedPrefix
      const transport = yield* RedisTransport.make({ client, prefix, partitions: 2, trimEvery: 0 })
      const topic = "migrating"
      // A message key for each of the two partition streams.
      const keyOf = (p: number) => Array.from({ length: 100 }, (_, i) => `shp-${i}`).find((k) => Internal.fnv1a(k) % 2 === p)!
      const [k0, k1] = [keyOf(0), keyOf(1)]
      const stream = (p: number) => transport.streamKey(topic, p)
      const counter = `{${prefix}:t:${topic}}:n`
      // The counter and partition 0's stream exist, partition 1's does not yet (no group made it).
      const [a] = yield* transport.publish(topic, [{ key: k0, body: "a" }])
      expect(a).toMatch(/^\d+-0$/)
      const n = (id: string) => Number(id.slice(0, id.indexOf("-")))
      const taken = String(n(a!))

      const slot = calculateSlot(`${prefix}:t:${topic}`)
      const source = cluster.masters.find((m) => slot >= m.slots![0] && slot <= m.slots![1])!
      const target = cluster.masters.find((m) => m !== source)!
      const nodeOf = (m: RedisServers.ClusterNode) => client.nodes("master").find((n) => n.options.port === m.port)!
      const setSlot = (m: RedisServers.ClusterNode, ...state: Array<string>) =>
        Effect.promise(() => nodeOf(m).call("CLUSTER", "SETSLOT", slot, ...state))
      const migrate = Effect.zipRight(setSlot(target, "IMPORTING", source.id), setSlot(source, "MIGRATING", target.id))
      const stable = Effect.zipRight(setSlot(source, "STABLE"), setSlot(target, "STABLE"))
      yield* Effect.acquireRelease(migrate, () => stable)
      const source$ = nodeOf(source)

      // A publish to both streams: before, it took the ids (counter) and added the message to
      // partition 0's stream, then failed at partition 1's (not on the node): its retry published
      // the first message twice.
      const published = yield* Effect.flip(transport.publish(topic, [{ key: k0, body: "b" }, { key: k1, body: "c" }]))
      expect(published.reason).toBe("Unavailable")
      expect(yield* Effect.promise(() => source$.get(counter))).toBe(taken)
      expect(yield* Effect.promise(() => source$.xlen(stream(0)))).toBe(1)

      // The migration is called off: the same publish goes through, whole.
      yield* stable
      const [b, c] = yield* transport.publish(topic, [{ key: k0, body: "b" }, { key: k1, body: "c" }])
      expect([b!.slice(b!.indexOf("-")), n(b!) > n(a!), n(c!) - n(b!), c!.slice(c!.indexOf("-"))]).toEqual(["-0", true, 1, "-1"])

      // One message dead-lettered (the dead-letter stream exists), one delivered once and pending;
      // every key the receive script declares is on the node.
      const options = { max: 10, waitMillis: 0, visibilityMillis: 0, maxDeliveries: 1 }
      const fresh = yield* transport.receive(topic, "g", "c1", options)
      expect(fresh.map((d) => [d.id, d.deliveries]).sort()).toEqual([[a, 1], [b, 1], [c, 1]].sort())
      yield* transport.ack(topic, "g", [c!])
      expect(yield* transport.receive(topic, "g", "c1", { ...options, max: 1 })).toEqual([])
      expect((yield* transport.deadLetters(topic, "g", 10)).map((d) => d.id)).toEqual([a])
      expect(yield* transport.pending(topic, "g")).toBe(1)
      const deliveries = (p: number, id: string) =>
        Effect.promise(() => source$.xpending(stream(p), "g", id, id, 1) as Promise<Array<[string, string, number, number]>>)
          .pipe(Effect.map((rows) => rows[0]?.[3]))

      // Again, and this time partition 1's stream moves to the target. A receive reclaiming the
      // idle messages: before, it claimed partition 0's (a delivery counted, never handed out;
      // with maxDeliveries 1 it went to the dead letters) and then failed at partition 1's.
      yield* migrate
      yield* Effect.promise(() => source$.call("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", stream(1)))
      const received = yield* Effect.flip(transport.receive(topic, "g", "c1", { ...options, maxDeliveries: 5 }))
      expect(received.reason).toBe("Unavailable")
      expect(yield* deliveries(0, b!)).toBe(1)
      expect(yield* Effect.promise(() => source$.xlen(transport.deadKey(topic, "g")))).toBe(1)
      // The moved key is dropped before the slot is stable again (the test ends here).
      const target$ = nodeOf(target)
      yield* Effect.promise(() => target$.call("ASKING").then(() => target$.unlink(stream(1))))
    }).pipe(Effect.scoped)
  )
})

/**
 * Shuffled, duplicated histories of `shipments` shipments published to the transport, ingested
 * by two workers, their actions dispatched by two dispatchers to far sides with transient
 * faults; `disrupt` runs beside them (e.g. a master killed mid-run). Then: every state equals
 * the batch-fold oracle, every action is done with its effect exactly once at the far side,
 * nothing is pending or dead, every audit chain verifies.
 */
const endToEnd = (options: {
  readonly cluster: RedisServers.TestCluster
  readonly shipments: number
  readonly label: string
  readonly durability?: RedisStore.Durability
  readonly drainMillis: number
  readonly disrupt?: (progress: Effect.Effect<number, unknown>) => Effect.Effect<string, unknown>
}) =>
  Effect.gen(function* () {
    const { shipments: SHIPMENTS } = options
    const began = Date.now()
    const warnings: Array<string> = []
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => options.cluster.client()),
      (c) => Effect.promise(() => c.quit().then(() => undefined, () => c.disconnect()))
    )
    const prefix = freshPrefix()
    yield* Effect.addFinalizer(() => Effect.promise(() => deleteKeys(client, prefix).catch(() => 0)))
    const durability = options.durability !== undefined ? { durability: options.durability } : {}
    const store = yield* RedisStore.make({ client, prefix, ...durability })
    const transport = yield* RedisTransport.make({ client, prefix, ...durability })
    const fakes = FakePorts.make({ rate: 0.05, kinds: ["timeout", "server-error", "crash-after-act"], seed: 11 })
    const layer = Layer.provideMerge(
      Pipeline.layer(),
      Layer.mergeAll(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport), fakes.layer)
    )

    yield* Effect.gen(function* () {
      const pipeline = yield* Pipeline.Pipeline
      const histories = Array.from({ length: SHIPMENTS }, (_, i) => Histories.generate(i * 7919 + 1, {}, i))
      yield* Effect.forEach(histories, (h, i) => pipeline.register(Histories.intake(h, i)), { concurrency: 64, discard: true })
      const messages = histories.flatMap((h) => h.events.map((event) => ({ _tag: "Event" as const, event })))
      Random.make(99).shuffle(messages)
      const distinct = new Set(messages.map((m) => Pipeline.idempotencyKey(m.event))).size
      expect((messages.length - distinct) / messages.length).toBeGreaterThan(0.15)
      yield* Worker.publish(messages)

      // Retryable storage failures are ridden out every 100 ms; anything else ends the loop (and the test).
      const storageRetry = Schedule.spaced("100 millis").pipe(
        Schedule.whileInput((e: PortError.StorageError) => PortError.isRetryable(e.reason)),
        Schedule.tapInput((e: PortError.StorageError) => Effect.logWarning("storage failure; retrying", { description: e.description }))
      )
      const workers = yield* Effect.forEach(["w0", "w1"], (consumer) =>
        Effect.flatMap(Worker.make({ consumer, batch: 64, waitMillis: 20, visibilityMillis: 3_000, storageRetry }), (w) =>
          Effect.fork(w.run)
        )
      )
      const retry = { base: "2 millis", cap: "50 millis", maxAttempts: 40, attemptsPerClaim: 3 } as const
      const dispatchers = yield* Effect.forEach(["d0", "d1"], (owner) =>
        Effect.flatMap(
          Dispatcher.make({ owner, concurrency: 32, batch: 64, leaseMillis: 3_000, idleMillis: 20, retry, storageRetry }),
          (d) => Effect.fork(d.run)
        )
      )
      const running = [...workers, ...dispatchers]
      const acknowledged = Effect.map(transport.pending(Worker.TOPIC, Worker.GROUP), (pending) => messages.length - pending)
      const disrupted = options.disrupt === undefined ? undefined : yield* Effect.fork(options.disrupt(acknowledged))

      // Wait until every message is acknowledged and the outbox is empty (or a loop died).
      const deadline = Date.now() + options.drainMillis
      while (true) {
        for (const fiber of running) {
          const exit = fiber.unsafePoll()
          if (exit !== null) return yield* Effect.dieMessage(`a worker or dispatcher stopped: ${JSON.stringify(exit)}`)
        }
        const drained = yield* Effect.either(
          Effect.all([transport.pending(Worker.TOPIC, Worker.GROUP), store.outboxStats()])
        )
        if (drained._tag === "Right" && drained.right[0] === 0 && drained.right[1].total === 0) {
          if (disrupted === undefined || disrupted.unsafePoll() !== null) break
        }
        if (Date.now() > deadline) {
          // What the loops are doing (a stalled one shows what it waits on) and what went wrong.
          const fibers = yield* Effect.forEach(running, (f) => Fiber.pretty(f))
          throw new Error(`not drained: ${JSON.stringify(drained)}\n${fibers.join("\n")}\nthe last warnings:\n${warnings.slice(-30).join("\n")}`)
        }
        yield* Effect.sleep("50 millis")
      }
      yield* Effect.forEach(running, Fiber.interrupt, { discard: true })
      const disruption = disrupted === undefined ? "" : `; ${yield* Fiber.join(disrupted)}`

      // 1. Every state holds the oracle's facts and shows its view byte for byte; nothing lost.
      expect(yield* oracleMismatches(pipeline, histories)).toBe(0)

      // 2. Every enqueued action is done, and its effect happened exactly once at the far side.
      const done = yield* Effect.promise(() => doneKeys(store.client, store.prefix))
      const mismatches = effectMismatches(fakes.effects, done)
      expect(mismatches.notOnce).toEqual([])
      expect(mismatches.notDone).toEqual([])
      expect(mismatches.noEffect).toEqual([])
      expect(done.size).toBeGreaterThan(SHIPMENTS * 3)
      expect([...fakes.invoices.values()].every((n) => n === 1)).toBe(true)
      const calls = [...fakes.calls.values()].reduce((a, b) => a + b, 0)
      expect(calls).toBeGreaterThan(fakes.effects.length) // the transient faults did happen

      // 3. Nothing pending, nothing dead, the audit chains intact.
      expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
      expect(yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 10)).toEqual([])
      expect(yield* store.deadLetters({ limit: 10 })).toEqual([])
      expect(yield* store.outboxSize()).toBe(0)
      const audit = yield* Audit.verify
      expect(audit.problems).toEqual([])
      expect(audit.streams).toBe(SHIPMENTS)
      console.log(
        `[${options.label}] ${SHIPMENTS} shipments, ${messages.length} messages (${messages.length - distinct} duplicates), ` +
          `${done.size} actions done, ${calls} far-side calls, ${audit.entries} audit entries, ${Date.now() - began} ms${disruption}`
      )
    }).pipe(
      Effect.provide(layer),
      // Warnings (ingest retried, storage failures) are kept for the failure message, not printed.
      Effect.provide(
        Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ logLevel, message }) => {
            if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.push(`${logLevel.label} ${JSON.stringify(message)}`)
          })
        )
      )
    )
  }).pipe(Effect.scoped)

describe("RedisStore and RedisTransport on a Cluster, end to end", () => {
  it.live("300 shipments' shuffled, duplicated histories through workers, pipeline and dispatchers", () =>
    endToEnd({ cluster, shipments: 300, label: "cluster e2e", drainMillis: 25_000 }), 60_000)

  it.live(
    "with durability, a master killed mid-run, its replica promoted and the node back as a replica: nothing lost, nothing doubled",
    () =>
      Effect.gen(function* () {
        // A cluster of its own: this one loses a master.
        const own = yield* Effect.acquireRelease(
          Effect.promise(() => startCluster({ masters: 3, replicasPerMaster: 1 })),
          (c) => Effect.promise(() => c.stop())
        )
        const victim = own.masters[0]!
        const heir = own.replicas.find((r) => r.masterId === victim.id)!
        yield* endToEnd({
          cluster: own,
          shipments: 300,
          label: "cluster failover",
          durability: { replicas: 1, timeoutMillis: 1000 },
          drainMillis: 50_000,
          disrupt: (acknowledged) =>
            Effect.gen(function* () {
              while ((yield* Effect.orElseSucceed(acknowledged, () => 0)) < 1000) yield* Effect.sleep("20 millis")
              const killedAt = Date.now()
              victim.process.kill("SIGKILL")
              // The replica takes over once the others agree its master failed (node timeout 2 s).
              const admin = new Redis({ host: heir.host, port: heir.port, maxRetriesPerRequest: 1 })
              try {
                while (!/^role:master$/m.test(yield* Effect.promise(() => admin.info("replication")))) {
                  if (Date.now() - killedAt > 20_000) throw new Error("the replica was not promoted within 20 s")
                  yield* Effect.sleep("50 millis")
                }
              } finally {
                admin.disconnect()
              }
              const promotedAt = Date.now()
              // Until the killed node is back, as the new master's replica, durable writes to those
              // slots fail (no replica can confirm them) and the workers retry; then they go on.
              yield* Effect.promise(() => own.restart(victim))
              yield* Effect.promise(() => replicasCaughtUp(heir, 20_000))
              return (
                `master ${victim.port} killed (SIGKILL), replica ${heir.port} promoted ${promotedAt - killedAt} ms later, ` +
                `the killed node back as its replica ${Date.now() - promotedAt} ms after that`
              )
            })
        })
      }).pipe(Effect.scoped),
    120_000
  )
})
