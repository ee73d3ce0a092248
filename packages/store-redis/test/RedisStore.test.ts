/**
 * What the Redis store adds to the conformance suite: late duplicates after the seen TTL, the
 * key layout (one hash tag per partition), the outbox across partitions under random claims,
 * `after` with dead-lettered predecessors, writers on several connections, layers and errors.
 */
import { describe, expect, it } from "@effect/vitest"
import { Audit, MemoryStore, Pipeline, PortError, Store } from "@waybill/core"
import { Histories } from "@waybill/core/simulation"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Redis, ReplyError } from "ioredis"
import * as Internal from "../src/internal/redis.js"
import * as RedisStore from "../src/RedisStore.js"
import { cleanupOnClose, deleteKeys, freshPrefix, requireRedis, url } from "./helpers.js"

await requireRedis()

const fresh = (options: Partial<RedisStore.Options> = {}) =>
  Effect.gen(function* () {
    const prefix = options.prefix ?? freshPrefix()
    const store = yield* RedisStore.make({ url, ...options, prefix })
    yield* cleanupOnClose(store.client, prefix)
    return store
  })

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

const commit = (shipmentId: string, expectedVersion: number, outbox: ReadonlyArray<Store.OutboxAction> = []): Store.Commit => ({
  shipmentId,
  expectedVersion,
  body: JSON.stringify({ v: expectedVersion + 1 }),
  idempotencyKeys: [],
  events: [],
  audit: [],
  outbox
})

describe("RedisStore", () => {
  it.live("recognizes a late duplicate after its seen mark expired: the record keeps every event id", () =>
    Effect.gen(function* () {
      const store = yield* fresh({ ttl: { seenMillis: 2000 } })
      const pipeline = yield* Pipeline.make().pipe(Effect.provideService(Store.Store, store))
      const history = Histories.generate(4242, { duplicates: false }, 7)
      yield* pipeline.register(Histories.intake(history, 7))
      const keys = history.events.map(Pipeline.idempotencyKey)
      for (const [i, event] of history.events.entries()) {
        expect((yield* pipeline.ingest(event)).outcome).not.toBe("Duplicate")
        expect(yield* store.seen([keys[i]!])).toEqual([true])
      }
      const before = (yield* store.load(history.shipmentId))!
      const outbox = yield* store.outboxSize()
      // The seen marks expire on the server's clock.
      while ((yield* store.seen(keys)).some((s) => s)) yield* Effect.sleep("50 millis")
      const late = yield* Effect.forEach(history.events, pipeline.ingest)
      expect(late.map((r) => r.outcome)).toEqual(history.events.map(() => "Duplicate"))
      expect(late.flatMap((r) => r.enqueued)).toEqual([])
      expect((yield* store.load(history.shipmentId))!.version).toBe(before.version)
      expect(yield* store.outboxSize()).toBe(outbox)
      expect((yield* store.events(history.shipmentId)).length).toBe(history.events.length)
    }).pipe(Effect.scoped))

  it.live("judges leases by the Redis server's clock: a worker whose clock runs ahead cannot take a live lease", () =>
    Effect.gen(function* () {
      const store = yield* fresh({ partitions: 1 })
      yield* store.commit(commit("s", 0, [action("s:a", "s")]))
      const now = Date.now()
      const [held] = yield* store.claim({ now, leaseMillis: 60_000, limit: 1, owner: "w1" })
      // The holder's deadline is in its own clock: its now + the lease, never later than the server's.
      expect(held?.leaseExpiresAt).toBe(now + 60_000)
      // A worker whose clock runs two minutes ahead sees the lease as expired; Redis does not.
      expect(yield* store.claim({ now: now + 120_000, leaseMillis: 60_000, limit: 1, owner: "w2" })).toEqual([])
      expect(yield* store.ack("s:a", held!.leaseToken)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a lease runs out on the Redis server's clock, whatever the caller's clock says", () =>
    Effect.gen(function* () {
      const store = yield* fresh({ partitions: 1 })
      yield* store.commit(commit("s", 0, [action("s:a", "s")]))
      const [first] = yield* store.claim({ now: Date.now(), leaseMillis: 150, limit: 1, owner: "w1" })
      yield* Effect.sleep("250 millis")
      // The claimer's clock runs an hour behind: by its clock the lease has not run out, by Redis' it has.
      const behind = Date.now() - 3_600_000
      const [again] = yield* store.claim({ now: behind, leaseMillis: 1000, limit: 1, owner: "w2" })
      expect(again?.key).toBe("s:a")
      expect(again?.claims).toBe(2)
      expect(again?.leaseExpiresAt).toBe(behind + 1000)
      expect(yield* store.ack("s:a", first!.leaseToken)).toBe(false)
      expect(yield* store.ack("s:a", again!.leaseToken)).toBe(true)
    }).pipe(Effect.scoped))

  it.scoped("with leaseClock: caller, leases run out on the caller's clock (tests that drive time)", () =>
    Effect.gen(function* () {
      const store = yield* fresh({ partitions: 1, leaseClock: "caller" })
      yield* store.commit(commit("s", 0, [action("s:a", "s")]))
      const [first] = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 1, owner: "w1" })
      expect(yield* store.claim({ now: 2999, leaseMillis: 1000, limit: 1, owner: "w2" })).toEqual([])
      const [again] = yield* store.claim({ now: 3001, leaseMillis: 1000, limit: 1, owner: "w2" })
      expect([again?.key, again?.leaseExpiresAt]).toEqual(["s:a", 4001])
      expect(yield* store.ack("s:a", first!.leaseToken)).toBe(false)
    }))

  it.scoped("keeps every key under its partition's hash tag, a shipment's keys in the shipment's partition", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const store = yield* fresh({ prefix, partitions: 8 })
      const pipeline = yield* Pipeline.make().pipe(Effect.provideService(Store.Store, store))
      const histories = Array.from({ length: 6 }, (_, i) => Histories.generate(100 + i, {}, i))
      for (const [i, h] of histories.entries()) {
        yield* pipeline.register(Histories.intake(h, i))
        yield* Effect.forEach(h.events, pipeline.ingest, { discard: true })
      }
      const claimed = yield* store.claim({ now: Date.now(), leaseMillis: 60_000, limit: 5, owner: "t" })
      for (const c of claimed.slice(0, 3)) expect(yield* store.ack(c.key, c.leaseToken)).toBe(true)
      yield* store.setCursor("odoo", "x")
      const keys: Array<string> = []
      let cursor = "0"
      do {
        const [next, page] = yield* Effect.promise(() => store.client.scan(cursor, "MATCH", `{${prefix}:*`, "COUNT", 1000))
        cursor = next
        keys.push(...page)
      } while (cursor !== "0")
      expect(keys.length).toBeGreaterThan(histories.length * 6)
      const tag = /^\{([^}]*)\}:(r|e|a|h|ref|o|dn):(.*)$/
      for (const key of keys) {
        expect(key).toMatch(new RegExp(`^\\{${prefix}:(p[0-7]|meta)\\}:`))
        const match = tag.exec(key)
        if (match === null) continue
        const [, t, kind, rest] = match
        const owner = kind === "o" || kind === "dn" ? histories.find((h) => rest!.startsWith(`${h.shipmentId}:`))!.shipmentId : rest!
        expect(t).toBe(`${prefix}:p${store.partitionOf(owner)}`)
      }
    }))

  it.scoped("refuses a prefix created with another number of partitions", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      yield* fresh({ prefix, partitions: 4 })
      const other = yield* Effect.exit(Effect.scoped(RedisStore.make({ url, prefix, partitions: 8 })))
      expect(Exit.isFailure(other)).toBe(true)
      const error = yield* Effect.flip(Effect.scoped(RedisStore.make({ url, prefix, partitions: 8 })))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("4 partitions")
    }))


  it.scoped("refuses TTLs and a scan budget its scripts cannot use, before an ack half-runs and the action key comes back", () =>
    Effect.gen(function* () {
      // A TTL that is not a whole number of milliseconds made `SET … PX` fail inside the ack
      // script after it had deleted the action: the action was gone, not done, and the next
      // commit with its key enqueued it again.
      const bad: ReadonlyArray<Partial<RedisStore.Options>> = [
        { ttl: { doneMillis: 1.5 } },
        { ttl: { doneMillis: -1 } },
        { ttl: { seenMillis: 0.25 * 1000.3 } },
        { ttl: { seenMillis: Number.POSITIVE_INFINITY } },
        { ttl: { seenMillis: Number.NaN } },
        { claimScanBudget: 0 },
        { claimScanBudget: 2.5 },
        { leaseClock: "local" as "caller" }
      ]
      for (const options of bad) {
        const made = RedisStore.make({ url, prefix: freshPrefix(), ...options })
        const error = yield* Effect.flip(Effect.scoped(Effect.as(made, `started with ${JSON.stringify(options)}`)))
        expect([error.reason, error.method]).toEqual(["Invalid", "make"])
        expect(error.description).toMatch(/ttl\.(seen|done)Millis|claimScanBudget|leaseClock/)
      }
      // Whole milliseconds (0: forever) are fine, and an ack then marks its key done.
      const store = yield* fresh({ ttl: { seenMillis: 0, doneMillis: 60_000 }, claimScanBudget: 1 })
      yield* store.commit(commit("s", 0, [action("s:a", "s")]))
      const [claimed] = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 1, owner: "w" })
      expect(yield* store.ack(claimed!.key, claimed!.leaseToken)).toBe(true)
      expect(yield* store.isDone("s:a")).toBe(true)
      expect(yield* store.commit(commit("s", 1, [action("s:a", "s")]))).toEqual({ _tag: "Committed", version: 2, enqueued: [] })
    }))

  it.scoped("an action waits while its predecessor is dead-lettered; requeue and ack, or removal, release it", () =>
    Effect.gen(function* () {
      const store = yield* fresh()
      yield* store.commit(
        commit("s1", 0, [action("s1:a", "s1"), action("s1:b", "s1", { after: "s1:a" }), action("s1:c", "s1", { after: "s1:x" })])
      )
      yield* store.commit(commit("s1", 1, [action("s1:x", "s1")]))
      const first = yield* store.claim({ now: 2000, leaseMillis: 1000, limit: 10, owner: "w" })
      expect(first.map((c) => c.key)).toEqual(["s1:a", "s1:x"])
      const [a, x] = first
      const letter = (c: Store.ClaimedAction): Store.DeadLetter => {
        const { leaseToken: _t, leaseExpiresAt: _e, ...stored } = c
        return { id: c.key, kind: "action", target: c.target, shipmentId: "s1", failedAt: 2000, attempts: 1, error: "{}", payload: JSON.stringify(stored) }
      }
      expect(yield* store.deadLetter(a!.key, a!.leaseToken, letter(a!))).toBe(true)
      expect(yield* store.deadLetter(x!.key, x!.leaseToken, letter(x!))).toBe(true)
      expect(yield* store.claim({ now: 9000, leaseMillis: 1000, limit: 10, owner: "w" })).toEqual([])
      expect(yield* store.outboxSize()).toBe(2)
      // Requeued, the predecessor runs first; its ack releases the waiting action.
      expect(yield* store.requeue(["s1:a"], 9000)).toBe(1)
      const again = yield* store.claim({ now: 9000, leaseMillis: 1000, limit: 10, owner: "w" })
      expect(again.map((c) => [c.key, c.attempts])).toEqual([["s1:a", 0]])
      expect(yield* store.ack("s1:a", again[0]!.leaseToken)).toBe(true)
      const released = yield* store.claim({ now: 9000, leaseMillis: 1000, limit: 10, owner: "w" })
      expect(released.map((c) => c.key)).toEqual(["s1:b"])
      // Removed for good, the predecessor no longer holds anything back.
      expect(yield* store.removeDeadLetters(["s1:x"])).toBe(1)
      const last = yield* store.claim({ now: 9000, leaseMillis: 1000, limit: 10, owner: "w" })
      expect(last.map((c) => c.key)).toEqual(["s1:c"])
    }))

  it.live("writes an inbound dead letter and its index entry together: a connection lost between them leaves no letter the listing misses", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      // A host-owned client whose connection is lost after the letter's HSET: its ZADD fails.
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(url, { maxRetriesPerRequest: 1 })),
        (c) => Effect.promise(() => c.quit().then(() => undefined, () => c.disconnect()))
      )
      yield* cleanupOnClose(client, prefix)
      const store = yield* RedisStore.make({ client, prefix })
      Object.assign(client, { zadd: () => Promise.reject(new Error("Connection is closed.")) })
      const letter: Store.DeadLetter = {
        id: "inbound-1", kind: "inbound", target: "erp", shipmentId: "s1", failedAt: 1, attempts: 1, error: "{}", payload: "{}"
      }
      // Before, the HSET went through and the ZADD failed: the letter was stored (it blocked
      // nothing, could be requeued by id) but `deadLetters` never listed it. Now it is one write.
      yield* Effect.either(store.putDeadLetter(letter))
      // An inbound letter lives in the partition of its id (whichever shipment it names).
      const stored = yield* Effect.promise(() => client.hexists(`{${prefix}:p${store.partitionOf("inbound-1")}}:dl`, "inbound-1"))
      const listed = (yield* store.deadLetters({ limit: 10 })).map((l) => l.id)
      expect([stored, listed]).toEqual([1, ["inbound-1"]])
    }).pipe(Effect.scoped))

  it.live("two processes replaying the same dead letters at once requeue each once", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const [one, two] = yield* Effect.forEach([1, 2], () => fresh({ prefix }))
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
      yield* one!.commit(commit("s1", 0, keys.map((k) => action(k, "s1"))))
      for (const c of yield* one!.claim({ now: 2000, leaseMillis: 60_000, limit: 100, owner: "w" })) {
        const { leaseToken: _t, leaseExpiresAt: _e, ...stored } = c
        yield* one!.deadLetter(c.key, c.leaseToken, {
          id: c.key, kind: "action", target: "erp", shipmentId: "s1", failedAt: 1, attempts: 1, error: "{}", payload: JSON.stringify(stored)
        })
      }
      const counts = yield* Effect.all([one!.requeue(keys, 3000), two!.requeue([...keys].reverse(), 3000)], { concurrency: "unbounded" })
      expect(counts[0] + counts[1]).toBe(keys.length)
      expect(yield* one!.outboxSize()).toBe(keys.length)
      expect(yield* two!.deadLetters({ limit: 100 })).toEqual([])
      const claimed = yield* two!.claim({ now: 3000, leaseMillis: 60_000, limit: 100, owner: "v" })
      expect(claimed.map((c) => c.key).sort()).toEqual([...keys].sort())
    }).pipe(Effect.scoped))

  it.live("lets exactly one writer win each version across connections", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const stores = yield* Effect.forEach([1, 2, 3], () => fresh({ prefix }))
      let wins = 0
      const writer = (store: Store.StoreShape, n: number) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) {
            while (true) {
              const current = (yield* store.load("hot"))?.version ?? 0
              const result = yield* store.commit({ ...commit("hot", current), body: `w${n}:${i}`, outbox: [action(`hot:${n}:${i}`, "hot")] })
              if (result._tag === "Committed") {
                wins++
                break
              }
            }
          }
        })
      yield* Effect.forEach(stores.flatMap((s, i) => [writer(s, i * 2), writer(s, i * 2 + 1)]), (w) => w, {
        concurrency: "unbounded",
        discard: true
      })
      expect(wins).toBe(30)
      expect((yield* stores[0]!.load("hot"))?.version).toBe(30)
      expect(yield* stores[1]!.outboxSize()).toBe(30)
    }).pipe(Effect.scoped))

  it.scoped("the audit trail's verification sees an entry inserted into a stream", () =>
    Effect.gen(function* () {
      const store = yield* fresh()
      yield* Effect.gen(function* () {
        for (let i = 1; i <= 3; i++) yield* Audit.append("ops", { at: i, kind: "command", body: `{"n":${i}}` })
        expect((yield* Audit.verify).ok).toBe(true)
        const key = `{${store.prefix}:p${store.partitionOf("ops")}}:a:ops`
        const [first] = yield* Effect.promise(() => store.client.lrange(key, 0, 0))
        const forged = { ...(JSON.parse(first!) as Store.AuditEntry), seq: 0, body: "{\"forged\":true}" }
        yield* Effect.promise(() => store.client.linsert(key, "AFTER", first!, JSON.stringify({ ...forged, hash: Audit.hashOf(forged) })))
        expect((yield* Audit.verify).problems.map((p) => [p.seq, p.problem])).toEqual([
          [2, "gap"],
          [0, "broken-link"],
          [1, "gap"],
          [2, "broken-link"]
        ])
      }).pipe(Effect.provideService(Store.Store, store))
    }))

  it.scoped("the audit trail's verification reports an entry overwritten with what is not an entry, instead of dying", () =>
    Effect.gen(function* () {
      const store = yield* fresh()
      yield* Effect.gen(function* () {
        for (let i = 1; i <= 3; i++) yield* Audit.append("ops", { at: i, kind: "command", body: `{"n":${i}}` })
        const key = `{${store.prefix}:p${store.partitionOf("ops")}}:a:ops`
        for (const overwritten of ["not json", "null", "[1,2]"]) {
          yield* Effect.promise(() => store.client.lset(key, 1, overwritten))
          const report = yield* Audit.verify
          expect(report.ok).toBe(false)
          expect(report.entries).toBe(3)
          expect(report.problems.map((p) => p.problem)).toContain("hash-mismatch")
        }
      }).pipe(Effect.provideService(Store.Store, store))
    }))

  it.scoped("provides the generic Store and leaves a host's client open", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(url)),
        (c) => Effect.promise(() => deleteKeys(c, prefix).then(() => c.quit()))
      )
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* Store.Store
          const redis = yield* RedisStore.RedisStore
          expect(store).toBe(redis)
          yield* store.setCursor("c", "1")
        }).pipe(Effect.provide(RedisStore.layerFromClient(client, { prefix })))
      )
      expect(client.status).toBe("ready")
      expect(yield* Effect.promise(() => client.hget(`{${prefix}:meta}:cursors`, "c"))).toBe("1")
      // The same data through a layer with its own client.
      const cursor = yield* Effect.scoped(
        Effect.flatMap(Store.Store, (s) => s.getCursor("c")).pipe(Effect.provide(RedisStore.layer({ url, prefix })))
      )
      expect(cursor).toBe("1")
    }))

  it.scoped("commits of any size share one auto-pipeline with other commands in the same tick", () =>
    Effect.gen(function* () {
      // A script registered lazily, once a tick's auto-pipeline already exists, is missing from
      // that pipeline and crashed the process (ioredis' callbacks outnumbered its results).
      const prefix = freshPrefix()
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(url, { enableAutoPipelining: true })),
        (c) => Effect.promise(() => deleteKeys(c, prefix).then(() => c.quit()))
      )
      const store = yield* RedisStore.make({ client, prefix, seenMarks: "inline" })
      const commits = Array.from({ length: 6 }, (_, i): Store.Commit => ({
        ...commit(`s${i}`, 0),
        idempotencyKeys: Array.from({ length: i }, (_, j) => `k${i}.${j}`)
      }))
      const [pong, results] = yield* Effect.promise(() =>
        Promise.all([client.ping(), Effect.runPromise(store.commitMany(commits)), client.ping()])
      )
      expect(pong).toBe("PONG")
      expect(results.map((r) => r._tag)).toEqual(commits.map(() => "Committed"))
      expect(yield* store.seen(commits.flatMap((c) => c.idempotencyKeys))).toEqual(commits.flatMap((c) => c.idempotencyKeys.map(() => true)))
    }))

  it.scoped("reads its options from config", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const layer = RedisStore.layerConfig({
        url: Config.redacted("TEST_REDIS_URL"),
        prefix: Config.string("TEST_PREFIX"),
        partitions: Config.integer("TEST_PARTITIONS")
      })
      const provider = ConfigProvider.fromMap(
        new Map([
          ["TEST_REDIS_URL", url],
          ["TEST_PREFIX", prefix],
          ["TEST_PARTITIONS", "5"]
        ])
      )
      const store = yield* RedisStore.RedisStore.pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(provider)
      )
      expect([store.prefix, store.partitions]).toEqual([prefix, 5])
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(url)),
        (c) => Effect.promise(() => deleteKeys(c, prefix).then(() => c.quit()))
      )
      expect(yield* Effect.promise(() => client.get(`{${prefix}:meta}:partitions`))).toBe("5")
    }))

  it("classifies what Redis answers: topology changes and overload are retryable, mistakes are bugs", () => {
    const reply = (message: string) => new ReplyError(message)
    // A redirection ioredis did not follow (a pipeline mixing slots while slots moved), a failover,
    // a resharding, a full or loading server: retry later.
    for (const message of [
      "MOVED 5622 127.0.0.1:7001",
      "ASK 88 127.0.0.1:7002",
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "CLUSTERDOWN The cluster is down",
      "READONLY You can't write against a read only replica.",
      "NOREPLICAS Not enough good replicas to write.",
      "OOM command not allowed when used memory > 'maxmemory'.",
      "LOADING Redis is loading the dataset in memory",
      // A script reaching a key of a slot being migrated, or a cluster that went down under it.
      "ERR Script attempted to access a non local key in a cluster node script: 3cfecf00, on @user_script:36.",
      "ERR Script attempted to execute a command while the cluster is down script: 3cfecf00, on @user_script:2."
    ]) {
      expect(Internal.reasonOf(reply(message))).toBe("Unavailable")
    }
    for (const message of ["CROSSSLOT Keys in request don't hash to the same slot", "ERR unknown command 'FOO'", "MOVEDX 1", "NOSCRIPT No matching script", "ERR user_script:1: Script attempted to access nonexistent global variable 'x'"]) {
      expect(Internal.reasonOf(reply(message))).toBe("Bug")
    }
  })

  it.effect("fails with Unavailable, without the password, when Redis cannot be reached", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.scoped(
          RedisStore.make({
            url: Redacted.make("redis://:s3cret@127.0.0.1:1"),
            redisOptions: { retryStrategy: () => null, maxRetriesPerRequest: 0 }
          })
        )
      )
      expect(error).toBeInstanceOf(PortError.StorageError)
      expect(error.reason).toBe("Unavailable")
      expect(JSON.stringify(error)).not.toContain("s3cret")
      expect(error.message).not.toContain("s3cret")
    }))

  it.live("refuses a malformed URL as Invalid, without the password in the error or in a Node warning", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const onWarning = (w: Error) => void warnings.push(`${w.name} ${w.message}`)
      process.on("warning", onWarning)
      try {
        // A non-numeric port (a template left unfilled): Node's `url.parse`, which ioredis uses,
        // printed "The URL redis://:s3cret@… is invalid" to stderr. A URL Node cannot parse at
        // all: ioredis threw a TypeError carrying the whole URL (`input`), a defect, not a
        // StorageError.
        for (const bad of ["redis://:s3cret@127.0.0.1:${REDIS_PORT}", "redis://:s3cret@[::1:6379"]) {
          const exit = yield* Effect.exit(Effect.scoped(RedisStore.make({ url: Redacted.make(bad), redisOptions: { lazyConnect: true } })))
          expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)._tag).toBe("Some")
          const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
          expect(error?.reason).toBe("Invalid")
          expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).not.toContain("s3cret")
          expect(JSON.stringify(error)).not.toContain("s3cret")
        }
        yield* Effect.sleep("10 millis") // warnings are emitted on the next tick
        expect(warnings.filter((w) => w.includes("s3cret"))).toEqual([])
      } finally {
        process.off("warning", onWarning)
      }
    }))

  it.scoped("answers like the memory store for a seeded mix of commits, claims and dead letters", () =>
    Effect.gen(function* () {
      // Time is driven through \`now\`, as the memory store reads it.
      const redis = yield* fresh({ partitions: 1, leaseClock: "caller" })
      const memory = yield* MemoryStore.make
      // One partition keeps the global enqueue order, so both stores must answer the same.
      const script = (store: Store.StoreShape) =>
        Effect.gen(function* () {
          const out: Array<unknown> = []
          for (let s = 0; s < 5; s++) {
            out.push(yield* store.commit(commit(`m${s}`, 0, [action(`m${s}:a`, `m${s}`), action(`m${s}:b`, `m${s}`, { availableAt: 4000 })])))
          }
          let now = 2000
          for (let round = 0; round < 8; round++) {
            const claimed = yield* store.claim({ now, leaseMillis: 500, limit: 3, owner: "o" })
            out.push(claimed.map((c) => [c.key, c.attempts, c.claims, c.lastError ?? null]))
            for (const [i, c] of claimed.entries()) {
              if ((round + i) % 3 === 0) out.push(yield* store.ack(c.key, c.leaseToken))
              else if ((round + i) % 3 === 1) out.push(yield* store.retry(c.key, c.leaseToken, { availableAt: now + 700, attempts: c.attempts + 1, lastError: `r${round}` }))
            }
            now += 400
          }
          out.push(yield* store.outboxSize())
          return out
        })
      expect(yield* script(redis)).toEqual(yield* script(memory))
    }))
})

describe("RedisStore outbox across partitions", () => {
  let runs = 0
  const shared = Layer.scoped(
    RedisStore.RedisStore,
    Effect.gen(function* () {
      const prefix = freshPrefix()
      // The property drives time through \`now\`: leases run out on that clock.
      const store = yield* RedisStore.make({ url, prefix, partitions: 3, leaseClock: "caller" })
      yield* cleanupOnClose(store.client, prefix)
      return store
    })
  ).pipe(Layer.orDie)

  it.layer(shared, { timeout: 120_000 })((it) => {
    it.effect.prop(
      "hands every action out once at a time, per shipment in order, after its predecessor, until all are done",
      [
        FastCheck.array(FastCheck.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
        FastCheck.array(FastCheck.tuple(FastCheck.integer({ min: 1, max: 7 }), FastCheck.integer({ min: 0, max: 9 })), {
          minLength: 1,
          maxLength: 40
        })
      ],
      ([shape, steps]) =>
        Effect.gen(function* () {
          const store = yield* RedisStore.RedisStore
          const run = ++runs
          const enqueued = new Map<string, Array<string>>()
          for (const [s, n] of shape.entries()) {
            const id = `r${run}s${s}`
            const keys = Array.from({ length: n }, (_, i) => `${id}:a${i}`)
            enqueued.set(id, keys)
            // Each action comes after the one before it, except the third (independent).
            yield* store.commit(
              commit(
                id,
                0,
                keys.map((k, i) => action(k, id, i > 0 && i !== 2 ? { after: keys[i - 1]! } : {}))
              )
            )
          }
          const all = [...enqueued.values()].flat()
          const acked = new Set<string>()
          const held = new Map<string, number>() // key -> lease expiry
          const claims = new Map<string, number>()
          const retriedAt = new Map<string, number>()
          let now = 2000
          let step = 0
          while (acked.size < all.length) {
            if (step > 5000) throw new Error(`not drained after ${step} claims: ${acked.size} of ${all.length} done`)
            const [limit, dice] = steps[step++ % steps.length]!
            const claimed = yield* store.claim({ now, leaseMillis: 1000, limit, owner: "p" })
            expect(claimed.length).toBeLessThanOrEqual(limit)
            const perShipment = new Map<string, Array<Store.ClaimedAction>>()
            for (const c of claimed) {
              // Never two live leases on one action, never one before its predecessor is done.
              expect((held.get(c.key) ?? 0) <= now).toBe(true)
              if (c.after !== undefined) expect(acked.has(c.after)).toBe(true)
              expect(acked.has(c.key)).toBe(false)
              // Every lease counts a claim, retries and expiries included.
              claims.set(c.key, (claims.get(c.key) ?? 0) + 1)
              expect(c.claims).toBe(claims.get(c.key))
              held.set(c.key, c.leaseExpiresAt)
              perShipment.set(c.shipmentId, [...(perShipment.get(c.shipmentId) ?? []), c])
            }
            // Within a shipment, a claim hands out in enqueue order (retried ones count from their retry).
            for (const [id, list] of perShipment) {
              const rank = (k: string) => retriedAt.get(k) ?? enqueued.get(id)!.indexOf(k)
              const ranks = list.map((c) => rank(c.key))
              expect(ranks).toEqual([...ranks].sort((a, b) => a - b))
            }
            for (const [i, c] of claimed.entries()) {
              const choice = step > 60 ? 0 : (dice + i + step) % 10
              if (choice < 6) {
                expect(yield* store.ack(c.key, c.leaseToken)).toBe(true)
                expect(yield* store.ack(c.key, c.leaseToken)).toBe(false)
                acked.add(c.key)
                held.delete(c.key)
              } else if (choice < 8) {
                expect(yield* store.retry(c.key, c.leaseToken, { availableAt: now, attempts: c.attempts + 1, lastError: "e" })).toBe(true)
                retriedAt.set(c.key, 1000 + step * 100 + i)
                held.delete(c.key)
              } // else: the worker "dies" holding the lease; it expires.
            }
            now += claimed.length === 0 ? 1001 : 300
          }
          expect(yield* store.outboxSize()).toBe(0)
          for (const k of all) expect(yield* store.isDone(k)).toBe(true)
          expect(yield* store.claim({ now: now + 10_000, leaseMillis: 1000, limit: 100, owner: "p" })).toEqual([])
        }),
      { fastCheck: { numRuns: 200 } }
    )
  })
})

describe("RedisStore batch operations", () => {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i)

  it.scoped("a commit with more actions than one queue push takes enqueues each once, in order", () =>
    Effect.gen(function* () {
      const store = yield* fresh({ partitions: 1 })
      yield* store.commit(commit("first", 0, [action("first:a", "first")]))
      const n = 1203
      const keys = range(n).map((i) => `many:${String(i).padStart(4, "0")}`)
      // A key repeated in the commit, and one already pending, are not enqueued again.
      const outbox = [...keys.map((k) => action(k, "many")), action(keys[7]!, "many"), action("first:a", "many")]
      const [result] = yield* store.commitMany([commit("many", 0, outbox)])
      expect(result).toEqual({ _tag: "Committed", version: 1, enqueued: keys })
      expect(yield* store.outboxSize()).toBe(n + 1)
      const claimed = yield* store.claim({ now: 2000, leaseMillis: 60_000, limit: 2 * n, owner: "t" })
      expect(claimed.map((c) => c.key)).toEqual(["first:a", ...keys])
    }))

  it.scoped("a commit with more events and audit entries than one list push takes keeps them all, in order", () =>
    Effect.gen(function* () {
      const store = yield* fresh()
      const n = 1203
      const events = range(n).map((i) => ({ id: `src|e${i}`, body: `{"i":${i}}` }))
      const audit = Audit.chain("big", undefined, range(n).map((i) => ({ at: i, kind: "event", body: `{"i":${i}}` })))
      const [result] = yield* store.commitMany([{ ...commit("big", 0), events, audit }])
      expect(result).toEqual({ _tag: "Committed", version: 1, enqueued: [] })
      expect(yield* store.events("big")).toEqual(events)
      expect((yield* store.readAudit("big", 1, 2 * n)).map((e) => e.seq)).toEqual(range(n).map((i) => i + 1))
      expect(yield* store.auditHead("big")).toEqual({ seq: n, hash: audit[n - 1]!.hash })
    }))

  for (const options of [{ partitions: 16 }, { partitions: 3, seenMarks: "after" as const }]) {
    it.scoped(`commitMany of 200 commits across partitions: conflicts, seen keys, audit, outbox once, cache (${JSON.stringify(options)})`, () =>
      Effect.gen(function* () {
        const store = yield* fresh(options)
        const N = 50
        // x<i> already exist at version 1 with a pending action.
        const pre = yield* store.commitMany(range(N).map((i) => commit(`x${i}`, 0, [action(`x${i}:pre`, `x${i}`)])))
        expect(pre).toEqual(range(N).map(() => ({ _tag: "Committed", version: 1, enqueued: [expect.any(String)] })))
        const batch: Array<Store.Commit> = []
        for (const i of range(N)) {
          // Stale: conflicts and writes nothing.
          batch.push({ ...commit(`x${i}`, 0, [action(`x${i}:stale`, `x${i}`)]), idempotencyKeys: [`src|x${i}-stale`] })
          // New shipment, then its next version in the same batch (applied in order); the
          // repeated action key is skipped.
          batch.push({
            ...commit(`y${i}`, 0, [action(`y${i}:a`, `y${i}`)]),
            body: `y${i}@1`,
            idempotencyKeys: [`src|y${i}`],
            events: [{ id: `src|y${i}`, body: "{}" }],
            audit: Audit.chain(`y${i}`, undefined, [{ at: 1, kind: "event", body: "{}" }])
          })
          batch.push({ ...commit(`y${i}`, 1, [action(`y${i}:a`, `y${i}`), action(`y${i}:b`, `y${i}`)]), body: `y${i}@2` })
          // Right version after the stale one: commits; the pending action is not enqueued again.
          batch.push({ ...commit(`x${i}`, 1, [action(`x${i}:pre`, `x${i}`), action(`x${i}:next`, `x${i}`)]), body: `x${i}@2` })
        }
        expect(batch.length).toBe(200)
        const results = yield* store.commitMany(batch)
        expect(results).toEqual(
          range(N).flatMap((i) => [
            { _tag: "Conflict", version: 1 },
            { _tag: "Committed", version: 1, enqueued: [`y${i}:a`] },
            { _tag: "Committed", version: 2, enqueued: [`y${i}:b`] },
            { _tag: "Committed", version: 2, enqueued: [`x${i}:next`] }
          ])
        )
        // Seen marks are written (also in the `after` mode) by the time commitMany returns.
        const seen = yield* store.seen(range(N).flatMap((i) => [`src|y${i}`, `src|x${i}-stale`]))
        expect(seen).toEqual(range(N).flatMap(() => [true, false]))
        for (const i of [0, 17, N - 1]) {
          expect((yield* store.events(`y${i}`)).map((e) => e.id)).toEqual([`src|y${i}`])
          expect((yield* store.auditHead(`y${i}`))?.seq).toBe(1)
          expect(yield* store.events(`x${i}`)).toEqual([])
        }
        // pre + y:a + y:b + x:next, and no stale action.
        expect(yield* store.outboxSize()).toBe(4 * N)
        const claimed = yield* store.claim({ now: 2000, leaseMillis: 60_000, limit: 1000, owner: "t" })
        expect(claimed.length).toBe(4 * N)
        expect(new Set(claimed.map((c) => c.key)).size).toBe(4 * N)
        expect(claimed.some((c) => c.key.endsWith(":stale"))).toBe(false)
        // Acked keys are never enqueued again, by a later batch either.
        for (const c of claimed) expect(yield* store.ack(c.key, c.leaseToken)).toBe(true)
        const again = yield* store.commitMany(range(N).map((i) => commit(`y${i}`, 2, [action(`y${i}:a`, `y${i}`), action(`y${i}:c`, `y${i}`)])))
        expect(again).toEqual(range(N).map((i) => ({ _tag: "Committed", version: 3, enqueued: [`y${i}:c`] })))
        // The cache holds what the batch committed: loading transfers no body.
        const before = store.cacheStats()
        const loaded = yield* store.loadMany(range(N).flatMap((i) => [{ shipmentId: `x${i}` }, { shipmentId: `y${i}` }]))
        expect(loaded).toEqual(
          range(N).flatMap((i) => [
            { shipmentId: `x${i}`, version: 2, body: `x${i}@2` },
            { shipmentId: `y${i}`, version: 3, body: JSON.stringify({ v: 3 }) }
          ])
        )
        expect(store.cacheStats()).toEqual({ hits: before.hits + 2 * N, misses: before.misses })
      }))
  }

  it.scoped("loadMany leaves out the body the caller holds as this process saw it, and ships it otherwise", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const a = yield* fresh({ prefix })
      const b = yield* fresh({ prefix }) // another process: its cache is empty
      const none = yield* fresh({ prefix, cacheSize: 0 })
      yield* a.commit({ ...commit("s", 0), body: "S1" })
      yield* a.commit({ ...commit("s", 1), body: "S2" })
      for (const store of [a, b, none]) {
        if (store !== a) {
          // The caller holds a version this process never saw: not taken at its word (after a
          // failover another process may have committed that version with another body).
          expect(yield* store.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2, body: "S2" }])
        }
        const misses = store.cacheStats().misses
        // The caller holds the current version, as this process saw it: only the version travels.
        expect(yield* store.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2 }])
        expect(store.cacheStats().misses).toBe(misses)
        // The caller holds an older (or a newer, unknown) version: the body comes.
        expect(yield* store.loadMany([{ shipmentId: "s", knownVersion: 1 }, { shipmentId: "s", knownVersion: 7 }])).toEqual([
          { shipmentId: "s", version: 2, body: "S2" },
          { shipmentId: "s", version: 2, body: "S2" }
        ])
        expect(yield* store.loadMany([{ shipmentId: "s" }, { shipmentId: "t", knownVersion: 1 }, { shipmentId: "t" }])).toEqual([
          { shipmentId: "s", version: 2, body: "S2" },
          undefined,
          undefined
        ])
      }
      // b now caches version 2; a commits version 3 behind its back.
      yield* a.commit({ ...commit("s", 2), body: "S3" })
      expect(yield* b.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 3, body: "S3" }])
      expect(yield* b.loadMany([{ shipmentId: "s", knownVersion: 3 }])).toEqual([{ shipmentId: "s", version: 3 }])
      expect(yield* b.load("s")).toEqual({ shipmentId: "s", version: 3, body: "S3" })
    }))

  it.scoped("never answers from the cache when the cached version was committed again with another body", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const a = yield* fresh({ prefix })
      const b = yield* fresh({ prefix }) // another process
      const record = `{${prefix}:p${a.partitionOf("s")}}:r:s`
      yield* a.commit({ ...commit("s", 0), body: "A1" })
      yield* a.commit({ ...commit("s", 1), body: "A2" })
      // A failover that lost a's last commit (or a restore of an older dump) takes the record
      // back to version 1; b commits version 2 again, with another body.
      yield* Effect.promise(() => a.client.hset(record, "v", "1", "b", "A1"))
      yield* b.commit({ ...commit("s", 1), body: "B2" })
      expect(yield* a.load("s")).toEqual({ shipmentId: "s", version: 2, body: "B2" })
      // The same after FLUSHDB (played by removing the record): version 1 is someone else's.
      yield* Effect.promise(() => a.client.del(record))
      yield* b.commit({ ...commit("s", 0), body: "B1" })
      expect(yield* a.loadMany([{ shipmentId: "s" }])).toEqual([{ shipmentId: "s", version: 1, body: "B1" }])
      // A caller whose version a loaded or committed gets the new body too.
      yield* Effect.promise(() => a.client.del(record))
      yield* a.commit({ ...commit("s", 0), body: "A1" })
      yield* Effect.promise(() => a.client.del(record))
      yield* b.commit({ ...commit("s", 0), body: "B1" })
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 1 }])).toEqual([{ shipmentId: "s", version: 1, body: "B1" }])
      // Unchanged, the body still does not travel.
      const misses = a.cacheStats().misses
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 1 }, { shipmentId: "s" }])).toEqual([
        { shipmentId: "s", version: 1 },
        { shipmentId: "s", version: 1, body: "B1" }
      ])
      expect(a.cacheStats().misses).toBe(misses)
    }))

  it.scoped("refuses a commit on a version this process saw with another body (a failover lost it and another process committed it again)", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const a = yield* fresh({ prefix })
      const b = yield* fresh({ prefix }) // another process
      const record = `{${prefix}:p${a.partitionOf("s")}}:r:s`
      yield* a.commit({ ...commit("s", 0), body: "A1" })
      yield* a.commit({ ...commit("s", 1), body: "A2" })
      // A failover lost a's last commit; b commits version 2 again, with its own event.
      yield* Effect.promise(() => a.client.hset(record, "v", "1", "b", "A1"))
      expect(yield* b.commit({ ...commit("s", 1), body: "B2" })).toMatchObject({ _tag: "Committed", version: 2 })
      // a, built on the version 2 it committed (A2), must not write over b's: its version CAS
      // alone would pass, and b's event would be gone from the record.
      expect(yield* a.commit({ ...commit("s", 2), body: "A3" })).toEqual({ _tag: "Conflict", version: 2 })
      expect(yield* Effect.promise(() => a.client.hget(record, "b"))).toBe("B2")
      // Reloaded, a takes b's body, and its commit on it goes in.
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2, body: "B2" }])
      expect(yield* a.commit({ ...commit("s", 2), body: "A3" })).toMatchObject({ _tag: "Committed", version: 3 })
      // Batched with other commits of the partition (commitMany): refused there too.
      yield* Effect.promise(() => a.client.hset(record, "v", "2", "b", "B2"))
      yield* b.commit({ ...commit("s", 2), body: "B3" })
      const [s, t] = yield* a.commitMany([{ ...commit("s", 3), body: "A4" }, { ...commit("t", 0), body: "T1" }])
      expect(s).toEqual({ _tag: "Conflict", version: 3 })
      expect(t).toMatchObject({ _tag: "Committed", version: 1 })
      // A version this process never saw (no body, no digest) is taken at its number, as before.
      const c = yield* fresh({ prefix })
      expect(yield* c.commit({ ...commit("s", 3), body: "C4" })).toMatchObject({ _tag: "Committed", version: 4 })
    }))

  it.scoped("vouches for a record stored without its body's digest (an older release's commit) by hashing the stored body", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const a = yield* fresh({ prefix, cacheSize: 1 })
      const record = `{${prefix}:p${a.partitionOf("s")}}:r:s`
      yield* a.commit({ ...commit("s", 0), body: "A1" })
      // The digest a commit stores names its version.
      expect(yield* Effect.promise(() => a.client.hget(record, "h"))).toMatch(/^1:[0-9a-f]{40}$/)
      yield* a.commit({ ...commit("t", 0), body: "T1" }) // s leaves a's body cache; its digest stays
      // Written by a release that stored no digest: unchanged, still without the body.
      yield* Effect.promise(() => a.client.hdel(record, "h"))
      let misses = a.cacheStats().misses
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 1 }])).toEqual([{ shipmentId: "s", version: 1 }])
      expect(a.cacheStats().misses).toBe(misses)
      // A digest naming another version (an older release committed after it) is not taken
      // either way: the stored body decides.
      yield* Effect.promise(() => a.client.hset(record, "h", "0:0000000000000000000000000000000000000000"))
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 1 }])).toEqual([{ shipmentId: "s", version: 1 }])
      expect(a.cacheStats().misses).toBe(misses)
      yield* Effect.promise(() => a.client.hset(record, "b", "O1"))
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 1 }])).toEqual([{ shipmentId: "s", version: 1, body: "O1" }])
      expect(a.cacheStats().misses).toBe(misses + 1)
    }))

  it.scoped("answers a caller's knownVersion without the body only if the stored body is the one this process saw, even after its cache dropped it", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const a = yield* fresh({ prefix, cacheSize: 1 })
      const b = yield* fresh({ prefix }) // another process
      const record = `{${prefix}:p${a.partitionOf("s")}}:r:s`
      yield* a.commit({ ...commit("s", 0), body: "A1" })
      yield* a.commit({ ...commit("s", 1), body: "A2" })
      // Another shipment pushes s out of a's body cache; a caller (the runtime's record cache,
      // larger than a's) still holds version 2 of s.
      yield* a.commit({ ...commit("t", 0), body: "T1" })
      // Unchanged: a vouches for version 2 by its digest, and only the version travels.
      let misses = a.cacheStats().misses
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2 }])
      expect(a.cacheStats().misses).toBe(misses)
      // A failover that lost a's last commit takes the record back to version 1; b commits
      // version 2 again, with another body.
      yield* Effect.promise(() => a.client.hset(record, "v", "1", "b", "A1"))
      yield* b.commit({ ...commit("s", 1), body: "B2" })
      // Same version number, another body: the caller must get it (not "unchanged").
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2, body: "B2" }])
      // Once it took that body, unchanged again: no body travels.
      yield* a.commit({ ...commit("t", 1), body: "T2" })
      misses = a.cacheStats().misses
      expect(yield* a.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2 }])
      expect(a.cacheStats().misses).toBe(misses)
      // A version this process never saw is not taken at the caller's word.
      const c = yield* fresh({ prefix })
      expect(yield* c.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2, body: "B2" }])
      // Without a digest cache, only the body cache vouches.
      const d = yield* fresh({ prefix, cacheSize: 1, digestCacheSize: 0 })
      yield* d.load("s")
      expect(yield* d.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2 }])
      yield* d.load("t")
      expect(yield* d.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2, body: "B2" }])
      // The digest cache is bounded: the least recently used digest goes.
      const e = yield* fresh({ prefix, cacheSize: 1, digestCacheSize: 1 })
      yield* e.load("s")
      yield* e.load("t") // s's body goes to the digests
      expect(yield* e.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2 }])
      yield* e.commit({ ...commit("u", 0), body: "U1" }) // t's digest replaces s's
      expect(yield* e.loadMany([{ shipmentId: "s", knownVersion: 2 }])).toEqual([{ shipmentId: "s", version: 2, body: "B2" }])
      expect(yield* Effect.exit(Effect.scoped(RedisStore.make({ url, prefix, digestCacheSize: -1 })))).toMatchObject({
        _tag: "Failure"
      })
    }))

  it.scoped("getShipments and findManyByTracking answer in order across partitions", () =>
    Effect.gen(function* () {
      const store = yield* fresh({ partitions: 5 })
      for (const i of range(20)) {
        if (i % 3 !== 0) yield* store.putShipment(`s${i}`, i % 2 === 0 ? `T${i}` : undefined, `{"s":${i}}`)
      }
      const ids = range(20).map((i) => `s${19 - i}`)
      expect(yield* store.getShipments(ids)).toEqual(
        range(20).map((i) => ((19 - i) % 3 !== 0 ? `{"s":${19 - i}}` : undefined))
      )
      expect(yield* store.findManyByTracking(range(20).map((i) => `T${i}`))).toEqual(
        range(20).map((i) => (i % 3 !== 0 && i % 2 === 0 ? `s${i}` : undefined))
      )
      expect(yield* store.getShipments([])).toEqual([])
    }))

  it.scoped("a batch goes out in one write, where one at a time takes one write each", () =>
    Effect.gen(function* () {
      const store = yield* fresh()
      const stream = (store.client as Redis).stream
      let writes = 0
      const write = stream.write
      stream.write = function (this: typeof stream, ...args: Parameters<typeof write>) {
        writes++
        return write.apply(this, args)
      } as typeof write
      yield* Effect.addFinalizer(() => Effect.sync(() => void (stream.write = write)))
      const count = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.map(
          Effect.suspend(() => {
            writes = 0
            return effect
          }),
          (a) => [a, writes] as const
        )
      // Warm up: the scripts get loaded on this connection.
      yield* store.commit(commit("warm", 0))
      yield* store.load("warm")
      yield* store.loadMany([{ shipmentId: "warm", knownVersion: 1 }])
      const n = 200
      const [one, sequentialWrites] = yield* count(Effect.forEach(range(n), (i) => store.commit(commit(`a${i}`, 0, [action(`a${i}:k`, `a${i}`)]))))
      expect(one.every((r) => r._tag === "Committed")).toBe(true)
      expect(sequentialWrites).toBeGreaterThanOrEqual(n)
      const [many, batchWrites] = yield* count(store.commitMany(range(n).map((i) => commit(`b${i}`, 0, [action(`b${i}:k`, `b${i}`)]))))
      expect(many.every((r) => r._tag === "Committed")).toBe(true)
      expect(batchWrites).toBe(1)
      const [loaded, loadWrites] = yield* count(store.loadMany(range(n).map((i) => ({ shipmentId: `a${i}`, knownVersion: 1 }))))
      expect(loaded.every((r) => r?.version === 1 && r.body === undefined)).toBe(true)
      expect(loadWrites).toBe(1)
      const [, refWrites] = yield* count(store.getShipments(range(n).map((i) => `a${i}`)))
      expect(refWrites).toBe(1)
      const [, trackingWrites] = yield* count(store.findManyByTracking(range(n).map((i) => `T${i}`)))
      expect(trackingWrites).toBe(1)
    }))
})
