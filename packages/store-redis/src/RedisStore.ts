/**
 * The waybill `Store` on Redis (ioredis): every promise of the port, shared by any number of
 * worker processes on any number of machines, on one Redis or a Redis Cluster.
 *
 * - **One commit is one script run.** Version CAS, the record, the raw events, the audit entries
 *   and the outbox actions (skipping keys that are pending, leased, dead or done) are written by
 *   one Lua script, atomically. The commits of a `commitMany` that fall in one partition go in one
 *   call of that script, each with its own CAS (a conflict writes nothing of its commit and the
 *   next is taken): a batch costs one script call per partition, not one per shipment. The
 *   partitions' calls pipeline: with the client's auto-pipelining, every call issued in the same
 *   tick goes out in one write. The batch
 *   operations (`commitMany`, `loadMany`, `getShipments`, `findManyByTracking`) issue all their
 *   per-item calls in one tick, so a batch is one round trip (per node on a Cluster); each call
 *   still touches one slot.
 * - **Partitions.** A shipment lives in partition `fnv1a(shipmentId) % partitions`; every key of
 *   a partition starts with the hash tag `{<prefix>:p<n>}`, so a partition is one Cluster slot and
 *   each script touches one slot. The outbox is per partition (a ready queue ordered by enqueue
 *   sequence, a lease set ordered by expiry, a delayed set ordered by due time, waiting sets for
 *   `after`); `claim` walks the partitions from a random start. Order is kept per partition,
 *   hence per shipment.
 * - **Idempotency keys** are marked seen with `SET NX PX <seen TTL>` (default 30 days) in the
 *   commit script (standalone) or right after it (Cluster; see {@link Options.seenMarks}). A key
 *   whose mark expired is still recognized: the record keeps every event id, so the state machine
 *   reports the late copy as a duplicate.
 * - **Done action keys** are kept with the done TTL (default 400 days): within it, an action key
 *   is never enqueued again. An action waits for its `after` predecessor while the predecessor
 *   is pending, leased or dead-lettered; once the predecessor is done, or no longer known at all
 *   (its done mark expired, or its dead letter was removed), the action is claimable.
 *
 * @since 0.1.0
 */
import { PortError, Store } from "@waybill/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import { LRUCache } from "lru-cache"
import * as Crypto from "node:crypto"
import * as Lua from "./internal/lua.js"
import * as Internal from "./internal/redis.js"

/**
 * A stored audit entry. One overwritten with what is not an entry (not a JSON object: edited by
 * hand, corrupted) is read as its text with no fields, which no hash matches: `Audit.verify`
 * reports it where it lies and goes on, instead of dying on it.
 */
const auditEntryOf = (stream: string, stored: string): Store.AuditEntry => {
  try {
    const entry: unknown = JSON.parse(stored)
    if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) return entry as Store.AuditEntry
  } catch {
    // below
  }
  return { stream, seq: 0, at: 0, kind: "", body: stored, prevHash: "", hash: "" }
}

const MODULE = "@waybill/store-redis/RedisStore"

const DAY = 86_400_000

/**
 * Options of the Redis store.
 *
 * @since 0.1.0
 */
export interface Options {
  /** `redis://…` (use `Redacted` when it carries a password). Ignored when `client` is given. Default `redis://127.0.0.1:6379`. */
  readonly url?: string | Redacted.Redacted<string>
  /** A client the host owns (standalone, Sentinel or Cluster); it is not closed by the store. */
  readonly client?: Internal.Client
  /** Options for the client the store creates (auto-pipelining is on unless you turn it off). */
  readonly redisOptions?: RedisOptions
  /** Every key starts with `{<prefix>:`. No braces. Default `waybill`. */
  readonly prefix?: string
  /**
   * Partitions (Cluster slots) shipments are spread over. Fixed for the life of a prefix: the
   * store refuses to start with a different number than the prefix was created with. Default 16.
   */
  readonly partitions?: number
  readonly ttl?: {
    /** How long an idempotency key is remembered as seen, in whole milliseconds (0: forever). Default 30 days. */
    readonly seenMillis?: number
    /**
     * How long an acknowledged action key is remembered as done, in whole milliseconds (0:
     * forever). Default 400 days. Keep it longer than a shipment stays active: while the mark
     * lasts the same key is never enqueued again, and an action that must follow it (`after`, e.g.
     * a case update after the case was opened) claimed once the mark has expired is dead-lettered
     * as `PredecessorNotDone` (replaying it runs it).
     */
    readonly doneMillis?: number
  }
  /**
   * Where the seen marks of a commit are written. `inline`: inside the commit script (atomic;
   * standalone Redis only, because the marks live in other slots). `after`: by a separate
   * `SET NX` right after the commit script succeeded (Cluster); if the process dies in between,
   * `seen` answers false for those keys and the runtime falls back to loading the record, whose
   * state machine recognizes the duplicate, so nothing is applied or enqueued twice. Default:
   * `after` for a Cluster client, `inline` otherwise; always `after` with `durability` (a mark
   * is written once its commit is confirmed on the replicas). `inline` with a Cluster client is
   * refused (`Invalid`).
   */
  readonly seenMarks?: "inline" | "after"
  /**
   * Replicas that must hold a write before the operation returns (`WAIT` on the write's master
   * after commits, registrations, dead letters, audit entries, requeues, claims and lease
   * renewals; a load of a record
   * version this process has not seen confirmed waits behind a barrier first). Off by default:
   * Redis replicates asynchronously and a failover can lose the last writes. See
   * {@link Durability}.
   */
  readonly durability?: Durability
  /**
   * Which clock decides that a lease ran out. `redis` (default): the Redis server's `TIME`, one
   * clock for every worker, so a worker whose clock runs ahead (or one that claims with a stale
   * `now`) cannot take an action another worker still holds. `caller`: the `now` each `claim`
   * passes, as the memory store does; for tests that drive time, or workers that all share one
   * host's clock. Due times (`availableAt`) are always the callers' clock, and a claimed action's
   * `leaseExpiresAt` is always `now + leaseMillis` in the caller's clock, which never falls after
   * the server's expiry. See `docs/operations/redis.md` (Clocks).
   */
  readonly leaseClock?: "redis" | "caller"
  /** Actions looked at per partition per claim call, at most (a positive integer). Default 1,000. */
  readonly claimScanBudget?: number
  /**
   * Record bodies this process committed or loaded, kept by version (least recently used out).
   * A load of a shipment whose current version is cached (or is the `knownVersion` a `loadMany`
   * caller passed, see `digestCacheSize`) transfers only the version. Default
   * 10,000; 0 turns it off.
   */
  readonly cacheSize?: number
  /**
   * SHA-1 digests of record versions this process committed or loaded whose body left the body
   * cache (`cacheSize`), by shipment (least recently used out; ~200 bytes each, key included). A `loadMany`
   * caller's `knownVersion` is answered "unchanged" (no body) only when the stored body is the
   * one this process saw for that version (in the body cache or here): a version number alone
   * does not name a body after a failover, a `FLUSHDB` or a restore. For a version it cannot
   * vouch for, the body travels. Keep it above the runtime's record cache (`Pipeline`'s
   * `cacheSize`, default 20,000). Default `max(10 × cacheSize, 200,000)`; 0 turns it off (a
   * `knownVersion` is then vouched for only by the body cache).
   *
   * @since 0.2.0
   */
  readonly digestCacheSize?: number
}

/**
 * How many replicas must acknowledge a write before the store (or transport) reports it done,
 * e.g. `{ replicas: 1, timeoutMillis: 1000 }`. When fewer acknowledge in time the operation fails
 * with `StorageError` `Unavailable`: the write is on the master but not confirmed durable, so the
 * caller does not acknowledge its input and the retry deduplicates. A record read is confirmed
 * the same way before it is returned (a no-op write to its partition, then `WAIT`, which covers
 * every earlier write of that master), unless this process already saw that version confirmed:
 * so a retry that finds its event already applied does not acknowledge a write still on the
 * master only. Calls in the same tick share one `WAIT` per master (a batch of commits costs one
 * replica round trip).
 *
 * @since 0.2.0
 */
export type Durability = Internal.Durability

/**
 * The Redis store: the port's operations plus what operators need.
 *
 * @since 0.1.0
 */
export interface RedisStoreShape extends Store.StoreShape {
  readonly client: Internal.Client
  readonly prefix: string
  readonly partitions: number
  /** The partition of a shipment (or of any partitioned name: audit stream, tracking number, key). */
  readonly partitionOf: (name: string) => number
  /**
   * Loads answered without transferring the body (the stored body was the one this process
   * last committed or loaded for that version: the cached one, or that of the `knownVersion` a
   * `loadMany` caller holds) and loads that transferred the body.
   */
  readonly cacheStats: () => { readonly hits: number; readonly misses: number }
  /** Counts of the outbox structures of every partition, for monitoring. */
  readonly outboxStats: () => Effect.Effect<
    { readonly ready: number; readonly leased: number; readonly delayed: number; readonly total: number },
    PortError.StorageError
  >
}

/**
 * The tag of the Redis store (layers also provide the generic `Store`).
 *
 * @since 0.1.0
 */
export class RedisStore extends Context.Tag("@waybill/store-redis/RedisStore")<RedisStore, RedisStoreShape>() {}

/** The store's scripts and the number of keys each is called with. */
const SCRIPTS = {
  load: { lua: Lua.load, keys: 1 },
  commit: { lua: Lua.commit, keys: 6 },
  claim: { lua: Lua.claim, keys: 4 },
  extend: { lua: Lua.extend, keys: 1 },
  ack: { lua: Lua.ack, keys: 4 },
  retry: { lua: Lua.retry, keys: 4 },
  deadLetter: { lua: Lua.deadLetter, keys: 6 },
  requeue: { lua: Lua.requeue, keys: 5 },
  putDeadLetter: { lua: Lua.putDeadLetter, keys: 2 },
  removeDeadLetters: { lua: Lua.removeDeadLetters, keys: 3 },
  appendAudit: { lua: Lua.appendAudit, keys: 3 },
  swapShipment: { lua: Lua.swapShipment, keys: 1 }
} as const

const flag = (value: string | undefined): string => (value === undefined ? "-" : `+${value}`)

const encodeEvent = (e: { readonly id: string; readonly body: string }): string => `${e.id.length}:${e.id}${e.body}`
const decodeEvent = (s: string): { readonly id: string; readonly body: string } => {
  const colon = s.indexOf(":")
  const length = Number(s.slice(0, colon))
  return { id: s.slice(colon + 1, colon + 1 + length), body: s.slice(colon + 1 + length) }
}

/** The immutable part of an outbox action, stored as JSON; the mutable fields live beside it. */
const actionJson = (a: Store.OutboxAction): string =>
  JSON.stringify({
    key: a.key,
    shipmentId: a.shipmentId,
    target: a.target,
    kind: a.kind,
    payload: a.payload,
    createdAt: a.createdAt,
    ...(a.after !== undefined ? { after: a.after } : {})
  })

/**
 * `Promise.all` that settles every promise before it fails (with the first failure), so nothing a
 * batch started is still in flight when its Effect fails: a retry sees every write that happened.
 */
const settleAll = async <A>(promises: ReadonlyArray<Promise<A>>): Promise<Array<A>> => {
  const settled = await Promise.allSettled(promises)
  const out: Array<A> = []
  for (const s of settled) {
    if (s.status === "rejected") throw s.reason
    out.push(s.value)
  }
  return out
}

/** A TTL the scripts can hand to `SET … PX`: whole milliseconds, 0 for none. */
const isMillis = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/** One record a `loadMany` asks for. */
type LoadRequest = Parameters<Store.StoreShape["loadMany"]>[0][number]

/** Marks a load to be made again, without what this process held. */
const again: unique symbol = Symbol("again")

/** A cached record body, by version, and its SHA-1 (known when committed, else once a load needed it). */
interface Cached {
  readonly version: number
  readonly body: string
  sha1: string | undefined
}

/** The SHA-1 of a record version's body whose body left the cache. */
interface Digest {
  readonly version: number
  readonly sha1: string
}

/** SHA-1 of a body (UTF-8) as hex, as the scripts' `redis.sha1hex`: `crypto.hash` (Node 20.12+) in one call. */
const sha1Of: (body: string) => string =
  typeof Crypto.hash === "function"
    ? (body) => Crypto.hash("sha1", body, "hex")
    : (body) => Crypto.createHash("sha1").update(body).digest("hex")

const bytewise = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * Creates the store. The client is the host's (`client`) or a new one (`url`), closed with the
 * scope.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<RedisStoreShape, PortError.StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = yield* Internal.checkPrefix(MODULE, options.prefix ?? "waybill")
    const P = options.partitions ?? 16
    if (!Number.isInteger(P) || P < 1 || P > 16384) {
      return yield* new PortError.StorageError({
        reason: "Invalid",
        module: MODULE,
        method: "make",
        description: `partitions must be an integer in 1..16384, got ${P}`
      })
    }
    const seenTtl = options.ttl?.seenMillis ?? 30 * DAY
    const doneTtl = options.ttl?.doneMillis ?? 400 * DAY
    const budget = options.claimScanBudget ?? 1000
    const clock = options.leaseClock ?? "redis"
    const leaseClock = clock === "redis" ? "r" : "c"
    // The scripts pass the TTLs to `SET … PX` after their first write (a commit's record, an
    // ack's removal of the action): one Redis refuses would leave the write half done.
    const problem = !isMillis(seenTtl)
      ? `ttl.seenMillis must be a non-negative integer (0: forever), got ${String(seenTtl)}`
      : !isMillis(doneTtl)
        ? `ttl.doneMillis must be a non-negative integer (0: forever), got ${String(doneTtl)}`
        : !Number.isSafeInteger(budget) || budget < 1
          ? `claimScanBudget must be a positive integer, got ${String(budget)}`
          : options.digestCacheSize !== undefined && !(Number.isSafeInteger(options.digestCacheSize) && options.digestCacheSize >= 0)
          ? `digestCacheSize must be a non-negative integer, got ${String(options.digestCacheSize)}`
          : clock !== "redis" && clock !== "caller"
          ? `leaseClock must be "redis" or "caller", got ${JSON.stringify(clock)}`
          : // The marks live in other slots: the commit script would fail at the first of them,
            // after it wrote the record, leaving a version without its events and actions.
            options.seenMarks === "inline" && options.client?.isCluster === true
            ? `seenMarks "inline" needs a standalone Redis (a Cluster script cannot write the marks, which live in other slots); use "after"`
            : undefined
    if (problem !== undefined) {
      return yield* new PortError.StorageError({ reason: "Invalid", module: MODULE, method: "make", description: problem })
    }
    const cacheSize = options.cacheSize ?? 10_000
    const digestCacheSize = options.digestCacheSize ?? Math.max(10 * cacheSize, 200_000)
    /** The SHA-1 of a cached body (what the `load` script compares), computed once, when first needed. */
    const digest = (entry: Cached): string => (entry.sha1 ??= sha1Of(entry.body))
    /**
     * The digests of versions whose body left the cache: a caller of `loadMany` may still hold
     * that version (the runtime's record cache is larger than this one), and its `knownVersion`
     * is answered "unchanged" only against the body this process saw for it.
     */
    const digests = new LRUCache<string, Digest>({ max: Math.max(1, digestCacheSize) })
    // Least recently used out; a Map with delete-oldest gets slow under steady eviction. A body
    // pushed out keeps its digest (hashed then, so a body that never leaves is never hashed for it).
    const cache = new LRUCache<string, Cached>({
      max: Math.max(1, cacheSize),
      dispose: (entry, shipmentId, reason) => {
        if (reason === "evict" && digestCacheSize > 0) digests.set(shipmentId, { version: entry.version, sha1: digest(entry) })
      }
    })
    let hits = 0
    let misses = 0
    const remember = (shipmentId: string, version: number, body: string, sha1?: string) => {
      if (cacheSize > 0) {
        cache.set(shipmentId, { version, body, sha1 })
        digests.delete(shipmentId)
      } else if (digestCacheSize > 0) {
        digests.set(shipmentId, { version, sha1: sha1 ?? sha1Of(body) })
      }
    }
    /** Forgets a shipment whose record is gone (or not what this process thought). */
    const forget = (shipmentId: string) => {
      cache.delete(shipmentId)
      digests.delete(shipmentId)
    }
    /**
     * The SHA-1 of the body this process saw for `version` of a shipment (committed or loaded):
     * from the body cache, else from the digests; `undefined` when it cannot vouch for it.
     */
    const vouched = (shipmentId: string, version: number, cached: Cached | undefined): string | undefined => {
      if (cached !== undefined && cached.version === version) return digest(cached)
      const d = digests.get(shipmentId)
      return d !== undefined && d.version === version ? d.sha1 : undefined
    }
    const durable = yield* Internal.checkDurability(MODULE, options.durability)
    const client = yield* Internal.acquire(MODULE, options)
    const replicated = Internal.replicaWaiter(MODULE, client, durable)
    // With durability on, a seen mark is written only once its commit is confirmed on the
    // replicas: a key found seen then always stands for a durable commit.
    const inlineSeen = durable === undefined && (options.seenMarks ?? (client.isCluster ? "after" : "inline")) === "inline"
    /**
     * With durability on: the record version of each shipment this process knows to be on the
     * replicas (it committed it and WAIT confirmed it, or it loaded it behind a barrier).
     */
    const confirmed = new LRUCache<string, number>({ max: Math.max(1, cacheSize) })
    /**
     * Makes sure what a load read is on the replicas before anyone builds on it (a record
     * committed by a process whose WAIT fell short is on the master only): a no-op write to the
     * shipment's partition, then WAIT for it, which covers every earlier write of that master.
     */
    const barrier = async (shipmentId: string, version: number) => {
      if (durable === undefined || confirmed.get(shipmentId) === version) return
      const key = `${baseOf(shipmentId)}sync`
      await client.set(key, "1")
      await replicated("load", [key])
      confirmed.set(shipmentId, version)
    }
    const run = Internal.call(MODULE, client)
    const script = Internal.defineScripts(client, SCRIPTS)

    // Key layout. `base(n)` is the partition's hash tag; everything of a partition starts with it.
    const bases = Array.from({ length: P }, (_, n) => `{${prefix}:p${n}}:`)
    const partitionOf = (name: string) => Internal.fnv1a(name) % P
    const baseOf = (name: string) => bases[partitionOf(name)]!
    const meta = `{${prefix}:meta}:`
    const K = {
      record: (b: string, id: string) => `${b}r:${id}`,
      events: (b: string, id: string) => `${b}e:${id}`,
      audit: (b: string, stream: string) => `${b}a:${stream}`,
      head: (b: string, stream: string) => `${b}h:${stream}`,
      ref: (b: string, id: string) => `${b}ref:${id}`,
      tracking: (b: string, tn: string) => `${b}trk:${tn}`,
      seen: (b: string, key: string) => `${b}k:${key}`,
      done: (b: string, key: string) => `${b}dn:${key}`,
      ships: (b: string) => `${b}ships`,
      streams: (b: string) => `${b}streams`,
      queue: (b: string) => `${b}q`,
      leases: (b: string) => `${b}l`,
      delayed: (b: string) => `${b}dly`,
      seq: (b: string) => `${b}seq`,
      count: (b: string) => `${b}n`,
      dead: (b: string) => `${b}dl`,
      deadIndex: (b: string) => `${b}dli`
    }

    // The partition count is fixed for the life of a prefix.
    const stored = yield* run("make", async () => {
      await client.set(`${meta}partitions`, String(P), "NX")
      return client.get(`${meta}partitions`)
    })
    if (stored !== String(P)) {
      return yield* new PortError.StorageError({
        reason: "Invalid",
        module: MODULE,
        method: "make",
        description: `prefix ${prefix} was created with ${stored} partitions; this store is configured with ${P}`
      })
    }

    /** Pages through one sorted-set index per partition; the cursor is `<partition>:<last member>`. */
    const walk = (index: (b: string) => string, method: string) => (cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        let p = 0
        let after: string | undefined
        if (cursor !== undefined) {
          const colon = cursor.indexOf(":")
          p = Number(cursor.slice(0, colon))
          after = cursor.slice(colon + 1)
          if (colon < 0 || !Number.isInteger(p) || p < 0 || p >= P) {
            return yield* new PortError.StorageError({
              reason: "Invalid",
              module: MODULE,
              method,
              description: `not a cursor of this store: ${cursor}`
            })
          }
        }
        // No room: nothing listed, and no cursor (as `MemoryStore`): `<p>:<last>` has no last to
        // name, and a cursor naming none would resume after a member called "undefined".
        if (!(limit > 0)) return { items: [], cursor: undefined }
        const out: Array<string> = []
        while (p < P) {
          const from = after === undefined ? "-" : `(${after}`
          const page = yield* run(method, () => client.zrangebylex(index(bases[p]!), from, "+", "LIMIT", 0, limit - out.length))
          out.push(...page)
          if (out.length >= limit) return { items: out, cursor: `${p}:${out[out.length - 1]!}` }
          p++
          after = undefined
        }
        return { items: out, cursor: undefined }
      })
    const walkShipments = walk(K.ships, "shipments")
    const walkStreams = walk(K.streams, "auditStreams")

    const everyPartition = <A>(method: string, f: (b: string) => Promise<A>) =>
      run(method, () => Promise.all(bases.map(f)))

    const partitionOfToken = (token: string): number | undefined => {
      const dot = token.indexOf(".")
      const p = Number(token.slice(0, dot))
      return dot > 0 && Number.isInteger(p) && p >= 0 && p < P ? p : undefined
    }

    const leased = (
      method: "extend" | "ack" | "retry" | "deadLetter",
      token: string,
      f: (b: string) => Promise<unknown>
    ): Effect.Effect<boolean, PortError.StorageError> => {
      const p = partitionOfToken(token)
      return p === undefined ? Effect.succeed(false) : Effect.map(run(method, () => f(bases[p]!)), (r) => r === 1)
    }

    const claimPartition = (p: number, now: number, leaseMillis: number, limit: number, owner: string) => {
      const b = bases[p]!
      return Effect.map(
        run("claim", () =>
          script.claim([K.queue(b), K.leases(b), K.delayed(b), K.dead(b)], [
            b,
            now,
            leaseMillis,
            limit,
            // The token names the partition, so ack, retry and deadLetter find the action.
            `${p}.${Crypto.randomBytes(6).toString("base64url")}.`,
            owner,
            budget,
            leaseClock
          ])
        ),
        (reply) => {
          const [expiresAt, rows] = reply as [number, Array<[string, string, string, string, string | null, string, number]>]
          return rows.map(([_key, json, availableAt, attempts, lastError, leaseToken, claims]): Store.ClaimedAction => ({
            ...(JSON.parse(json) as Omit<Store.OutboxAction, "availableAt" | "attempts" | "claims" | "lastError">),
            availableAt: Number(availableAt),
            attempts: Number(attempts),
            claims,
            ...(lastError !== null ? { lastError } : {}),
            leaseToken,
            leaseExpiresAt: expiresAt
          }))
        }
      )
    }

    // The per-item operations, plain promises: `load`, `commit` and the reference reads run one,
    // the batch operations issue many in the same tick, so the auto-pipelining client sends them
    // together (one write per node; every command touches one partition's slot).

    /**
     * Loads records, one `load` script call per partition (all issued in the same tick). A body
     * travels only when neither this process's cache nor the caller (`knownVersion`) holds the
     * stored body; it is left out of the result when the stored version is `knownVersion` and its
     * body is the one this process saw for that version. Results are in the requests' order.
     */
    const loadAll = async (requests: ReadonlyArray<LoadRequest>): Promise<Array<Store.LoadedRecord | undefined>> => {
      const loaded = await readAll(requests)
      if (durable !== undefined) {
        await settleAll(loaded.map((r) => (r === undefined ? Promise.resolve() : barrier(r.shipmentId, r.version))))
      }
      return loaded
    }

    /**
     * A body a load transferred. Its version may be one this process saw confirmed with another
     * body (committed again after a failover or a restore): it goes behind the barrier again.
     */
    function received(shipmentId: string, version: number, body: string): void {
      if (confirmed.get(shipmentId) === version) confirmed.delete(shipmentId)
      remember(shipmentId, version, body)
    }

    /** What one record's load sends and what it needs to read the reply. */
    interface Ask {
      readonly shipmentId: string
      readonly knownVersion: number | undefined
      readonly cached: Cached | undefined
      /** The version sent (empty: none held) and the SHA-1 of the body held for it. */
      readonly held: string
      readonly check: string
    }

    const ask = (shipmentId: string, knownVersion: number | undefined): Ask => {
      const cached = cache.get(shipmentId)
      // A version number alone does not name a body: a version lost in a failover (or a FLUSHDB,
      // or a restore) may be committed again, by another process, with another body. So what the
      // caller holds counts only if this process saw that version's body (it committed or loaded
      // it, and still has the body or its digest); otherwise the caller gets the body.
      const known = knownVersion === undefined ? undefined : vouched(shipmentId, knownVersion, cached)
      if (cached === undefined && known === undefined) return { shipmentId, knownVersion, cached, held: "", check: "-" }
      // Versions only grow, so the higher of the two held versions is the likelier current one. It
      // goes with the SHA-1 of its body: "unchanged" only if the stored body is that one.
      const callers = known !== undefined && (cached === undefined || knownVersion! > cached.version)
      return callers
        ? { shipmentId, knownVersion, cached, held: String(knownVersion), check: known }
        : { shipmentId, knownVersion, cached, held: String(cached!.version), check: digest(cached!) }
    }

    /** Reads one record's reply; `undefined` in `again` when it must be loaded anew. */
    const answer = (a: Ask, reply: [string, string?] | null): Store.LoadedRecord | undefined | typeof again => {
      const { cached, knownVersion, shipmentId } = a
      if (reply === null) {
        forget(shipmentId)
        return undefined
      }
      const version = Number(reply[0])
      const body = reply[1]
      if (body === undefined) {
        // The stored body is the one sent: the caller's, or the cached one.
        if (version === knownVersion) {
          hits++
          return { shipmentId, version }
        }
        if (cached !== undefined && cached.version === version) {
          hits++
          return { shipmentId, version, body: cached.body }
        }
        // Unreachable (the script answers without a body only for the version sent); stay safe.
        forget(shipmentId)
        return again
      }
      misses++
      received(shipmentId, version, body)
      // Even for the caller's version: the body it holds is not the stored one, or not one this
      // process can vouch for.
      return { shipmentId, version, body }
    }

    const readAll = async (requests: ReadonlyArray<LoadRequest>): Promise<Array<Store.LoadedRecord | undefined>> => {
      const out: Array<Store.LoadedRecord | undefined> = new Array(requests.length)
      const groups = new Map<number, { readonly asks: Array<Ask>; readonly at: Array<number> }>()
      for (let i = 0; i < requests.length; i++) {
        const { knownVersion, shipmentId } = requests[i]!
        const p = partitionOf(shipmentId)
        let group = groups.get(p)
        if (group === undefined) groups.set(p, (group = { asks: [], at: [] }))
        group.asks.push(ask(shipmentId, knownVersion))
        group.at.push(i)
      }
      const retry: Array<number> = []
      await settleAll(
        [...groups].map(async ([p, { asks, at }]) => {
          const b = bases[p]!
          const args: Array<string> = [b]
          for (const a of asks) args.push(a.shipmentId, a.held, a.check)
          const replies = (await script.load([K.ships(b)], args)) as Array<[string, string?] | null>
          for (let j = 0; j < asks.length; j++) {
            const result = answer(asks[j]!, replies[j] ?? null)
            if (result === again) retry.push(at[j]!)
            else out[at[j]!] = result
          }
        })
      )
      if (retry.length > 0) {
        const reloaded = await readAll(retry.map((i) => ({ shipmentId: requests[i]!.shipmentId })))
        retry.forEach((i, j) => (out[i] = reloaded[j]))
      }
      return out
    }

    /**
     * Commits of one partition: one script (CAS, record, seen marks when inline, events, audit,
     * outbox, for each commit in turn), then, per commit written, the replicas, the cache and the
     * seen marks written after it.
     */
    const commitPartition = async (b: string, commits: ReadonlyArray<Store.Commit>): Promise<Array<Store.CommitResult>> => {
      const args: Array<string | number> = [b, seenTtl, commits.length]
      const sha1s: Array<string> = new Array(commits.length)
      for (let i = 0; i < commits.length; i++) {
        const commit = commits[i]!
        const { audit, events, idempotencyKeys, outbox, shipmentId } = commit
        const body = commit.body
        // Stored beside the body: a later load vouches for it without reading or hashing it.
        const sha1 = (sha1s[i] = sha1Of(body))
        let streamsOk = "1"
        for (const e of audit) if (e.stream !== shipmentId) streamsOk = "0"
        args.push(
          shipmentId,
          commit.expectedVersion,
          body,
          events.length,
          audit.length,
          outbox.length,
          streamsOk,
          inlineSeen ? idempotencyKeys.length : 0,
          sha1,
          // The body this process saw at the expected version, if it can vouch for one: a version
          // lost in a failover and committed again by another process is then a conflict.
          commit.expectedVersion === 0 ? "-" : vouched(shipmentId, commit.expectedVersion, cache.peek(shipmentId)) ?? "-"
        )
        for (const e of events) args.push(encodeEvent(e))
        for (const e of audit) args.push(e.seq, e.hash, JSON.stringify(e))
        for (const a of outbox) {
          args.push(a.key, actionJson(a), a.availableAt, a.attempts, a.claims ?? 0, flag(a.after), flag(a.lastError))
        }
        if (inlineSeen) for (const k of idempotencyKeys) args.push(K.seen(baseOf(k), k))
      }
      const replies = (await script.commit(
        [K.ships(b), K.streams(b), K.queue(b), K.seq(b), K.count(b), K.dead(b)],
        args
      )) as Array<[number, number, ...Array<string>]>
      // Nothing to wait for after the script (no replicas, marks written inline): settled here.
      if (durable === undefined && inlineSeen) {
        return commits.map((commit, i) => {
          const [ok, version, ...enqueued] = replies[i]!
          if (ok !== 1) return { _tag: "Conflict", version }
          remember(commit.shipmentId, version, commit.body, sha1s[i]!)
          return { _tag: "Committed", version, enqueued }
        })
      }
      return settleAll(commits.map((commit, i) => committed(b, commit, sha1s[i]!, replies[i]!)))
    }

    /** What follows a commit's script: the replicas, the cache, the seen marks written after it. */
    const committed = async (
      b: string,
      commit: Store.Commit,
      sha1: string,
      reply: [number, number, ...Array<string>]
    ): Promise<Store.CommitResult> => {
      const [ok, version, ...enqueued] = reply
      if (ok !== 1) return { _tag: "Conflict", version }
      // Durable before anything builds on it (the seen marks written after it included), and
      // before it is cached: a body the replicas never confirmed may lose its version to another
      // writer in a failover.
      await replicated("commit", [K.record(b, commit.shipmentId)])
      remember(commit.shipmentId, version, commit.body, sha1)
      if (durable !== undefined) confirmed.set(commit.shipmentId, version)
      if (!inlineSeen && commit.idempotencyKeys.length > 0) {
        await settleAll(
          commit.idempotencyKeys.map((k) => {
            const key = K.seen(baseOf(k), k)
            return seenTtl > 0 ? client.set(key, "1", "PX", seenTtl, "NX") : client.set(key, "1", "NX")
          })
        )
      }
      return { _tag: "Committed", version, enqueued }
    }

    /**
     * Commits, one script per partition (so one per Cluster slot), all issued in the same tick:
     * the auto-pipelining client sends them in one write. Results are in the commits' order.
     */
    const commitAll = async (commits: ReadonlyArray<Store.Commit>): Promise<Array<Store.CommitResult>> => {
      if (commits.length === 1) {
        const commit = commits[0]!
        return commitPartition(baseOf(commit.shipmentId), commits)
      }
      const groups = new Map<number, Array<number>>()
      for (let i = 0; i < commits.length; i++) {
        const p = partitionOf(commits[i]!.shipmentId)
        const group = groups.get(p)
        if (group === undefined) groups.set(p, [i])
        else group.push(i)
      }
      const out: Array<Store.CommitResult> = new Array(commits.length)
      await settleAll(
        [...groups].map(async ([p, indexes]) => {
          const results = await commitPartition(bases[p]!, indexes.map((i) => commits[i]!))
          for (let j = 0; j < indexes.length; j++) out[indexes[j]!] = results[j]!
        })
      )
      return out
    }

    /**
     * Which idempotency keys are marked seen: one `MGET` per partition (its marks share its slot),
     * all issued in the same tick, instead of one `EXISTS` per key. A mark is always the string
     * `1`, so a value found is a mark found.
     */
    const seenAll = async (keys: ReadonlyArray<string>): Promise<Array<boolean>> => {
      const out: Array<boolean> = new Array(keys.length)
      const groups = new Map<number, { readonly keys: Array<string>; readonly at: Array<number> }>()
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!
        const p = partitionOf(k)
        let group = groups.get(p)
        if (group === undefined) groups.set(p, (group = { keys: [], at: [] }))
        group.keys.push(K.seen(bases[p]!, k))
        group.at.push(i)
      }
      await Promise.all(
        [...groups.values()].map(async ({ at, keys }) => {
          const values = await client.mget(keys)
          for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] !== null && values[j] !== undefined
        })
      )
      return out
    }

    const getShipmentOne = async (shipmentId: string): Promise<string | undefined> =>
      (await client.get(K.ref(baseOf(shipmentId), shipmentId))) ?? undefined

    const findByTrackingOne = async (trackingNumber: string): Promise<string | undefined> =>
      (await client.get(K.tracking(baseOf(trackingNumber), trackingNumber))) ?? undefined

    const store: RedisStoreShape = {
      client,
      prefix,
      partitions: P,
      partitionOf,
      cacheStats: () => ({ hits, misses }),

      load: (shipmentId) =>
        run("load", async () => {
          const [loaded] = await loadAll([{ shipmentId }])
          return loaded === undefined ? undefined : { shipmentId, version: loaded.version, body: loaded.body! }
        }),

      loadMany: (requests) =>
        requests.length === 0
          ? Effect.succeed([])
          : run("loadMany", () => loadAll(requests)),

      commit: (commit) => run("commit", async () => (await commitAll([commit]))[0]!),

      commitMany: (commits) =>
        commits.length === 0 ? Effect.succeed([]) : run("commitMany", () => commitAll(commits)),

      seen: (keys) => (keys.length === 0 ? Effect.succeed([]) : run("seen", () => seenAll(keys))),

      events: (shipmentId) =>
        Effect.map(run("events", () => client.lrange(K.events(baseOf(shipmentId), shipmentId), 0, -1)), (list) =>
          list.map(decodeEvent)
        ),

      shipments: (cursor, limit) =>
        Effect.map(walkShipments(cursor, limit), ({ cursor, items }) => ({ ids: items, cursor })),

      claim: ({ leaseMillis, limit, now, owner }) =>
        Effect.gen(function* () {
          if (limit <= 0) return []
          // Round one: every partition at once, each asked for its share; round two: the
          // partitions that filled their share are asked for what is still missing, in turn.
          const start = Math.floor(Math.random() * P)
          const order = Array.from({ length: P }, (_, i) => (start + i) % P)
          const share = Math.floor(limit / P)
          const extra = limit % P
          const asks = order.map((p, i) => ({ p, n: share + (i < extra ? 1 : 0) })).filter((a) => a.n > 0)
          const first = yield* Effect.forEach(asks, (a) => claimPartition(a.p, now, leaseMillis, a.n, owner), {
            concurrency: "unbounded"
          })
          const out = first.flat()
          const asked = new Set(asks.map((a) => a.p))
          const full = new Set(asks.filter((a, i) => first[i]!.length === a.n).map((a) => a.p))
          for (const p of order) {
            if (out.length >= limit) break
            if (asked.has(p) && !full.has(p)) continue
            out.push(...(yield* claimPartition(p, now, leaseMillis, limit - out.length, owner)))
          }
          // A claim is built on: its holder calls the far side, and a handler skips its "did I
          // already do this?" lookup on a first claim. A lease and claim count the replicas never
          // got are lost in a failover, and the next claimer would be told it is the first. So,
          // with durability, nothing is handed out before the replicas hold it (when they do not,
          // the actions stay leased and counted on the master until the lease runs out).
          if (durable !== undefined && out.length > 0) {
            const held = new Set(out.map((a) => bases[partitionOfToken(a.leaseToken)!]!))
            yield* run("claim", () => replicated("claim", [...held].map(K.leases)))
          }
          return out
        }),

      extend: (key, token, { leaseMillis, now }) =>
        leased("extend", token, async (b) => {
          const renewed = await script.extend([K.leases(b)], [b, key, token, now, leaseMillis, leaseClock])
          // The holder keeps calling the far side on a renewal: one the replicas never got would
          // let another worker take the action early after a failover.
          if (renewed === 1) await replicated("extend", [K.leases(b)])
          return renewed
        }),

      ack: (key, token) =>
        leased("ack", token, (b) =>
          script.ack([K.queue(b), K.leases(b), K.delayed(b), K.count(b)], [b, key, token, doneTtl])
        ),

      retry: (key, token, update) =>
        leased("retry", token, (b) =>
          script.retry(
            [K.queue(b), K.leases(b), K.delayed(b), K.seq(b)],
            [b, key, token, update.availableAt, update.attempts, update.lastError]
          )
        ),

      deadLetter: (key, token, letter) =>
        leased("deadLetter", token, (b) =>
          script.deadLetter(
            [K.queue(b), K.leases(b), K.delayed(b), K.count(b), K.dead(b), K.deadIndex(b)],
            [b, key, token, letter.id, JSON.stringify(letter)]
          )
        ),

      outboxSize: () =>
        Effect.map(everyPartition("outboxSize", (b) => client.get(K.count(b))), (counts) =>
          counts.reduce((sum, n) => sum + Number(n ?? 0), 0)
        ),

      outboxStats: () =>
        Effect.map(
          everyPartition("outboxStats", (b) =>
            Promise.all([client.zcard(K.queue(b)), client.zcard(K.leases(b)), client.zcard(K.delayed(b)), client.get(K.count(b))])
          ),
          (rows) =>
            rows.reduce(
              (acc, [ready, leased, delayed, total]) => ({
                ready: acc.ready + ready,
                leased: acc.leased + leased,
                delayed: acc.delayed + delayed,
                total: acc.total + Number(total ?? 0)
              }),
              { ready: 0, leased: 0, delayed: 0, total: 0 }
            )
        ),

      isDone: (key) =>
        Effect.map(everyPartition("isDone", (b) => client.exists(K.done(b, key))), (found) => found.some((n) => n === 1)),

      putDeadLetter: (letter) => {
        // An inbound letter lives where its id puts it: the same message kept again (a replay that
        // failed again) may now name a shipment, or another one, and must replace the letter, not
        // add a second one in another partition. An action letter lives with its action.
        const b = baseOf(letter.kind === "inbound" ? letter.id : letter.shipmentId ?? letter.id)
        // Where an inbound letter naming a shipment was kept before (by its shipment).
        const before = letter.kind === "inbound" && letter.shipmentId !== undefined ? baseOf(letter.shipmentId) : b
        return run("putDeadLetter", async () => {
          // One script: a letter stored without its index entry would never be listed.
          await script.putDeadLetter([K.dead(b), K.deadIndex(b)], [b, letter.id, JSON.stringify(letter)])
          // Then the copy kept the old way goes (a crash in between leaves both, never neither).
          if (before !== b) await script.removeDeadLetters([K.queue(before), K.dead(before), K.deadIndex(before)], [before, letter.id])
          await replicated("putDeadLetter", before !== b ? [K.dead(b), K.dead(before)] : [K.dead(b)])
        })
      },

      deadLetters: ({ after, limit }) =>
        Effect.gen(function* () {
          if (limit <= 0) return []
          const from = after === undefined ? "-" : `(${after}`
          const heads = yield* everyPartition("deadLetters", (b) =>
            client.zrangebylex(K.deadIndex(b), from, "+", "LIMIT", 0, limit)
          )
          const picked = heads
            .flatMap((ids, p) => ids.map((id) => ({ id, p })))
            .sort((x, y) => bytewise(x.id, y.id))
            .slice(0, limit)
          const bodies = yield* run("deadLetters", () =>
            Promise.all(picked.map(({ id, p }) => client.hget(K.dead(bases[p]!), id)))
          )
          return bodies.flatMap((body) => (body === null ? [] : [JSON.parse(body) as Store.DeadLetter]))
        }),

      requeue: (ids, now) =>
        Effect.gen(function* () {
          if (ids.length === 0) return 0
          const found = yield* everyPartition("requeue", (b) => client.hmget(K.dead(b), ...ids))
          let count = 0
          for (const [p, bodies] of found.entries()) {
            const b = bases[p]!
            for (const body of bodies) {
              if (body === null) continue
              const letter = JSON.parse(body) as Store.DeadLetter
              if (letter.kind !== "action") continue
              let action: Store.OutboxAction
              try {
                action = JSON.parse(letter.payload) as Store.OutboxAction
              } catch {
                continue
              }
              if (typeof action.key !== "string" || typeof action.shipmentId !== "string") continue
              const done = yield* run("requeue", () =>
                script.requeue([K.queue(b), K.count(b), K.dead(b), K.deadIndex(b), K.seq(b)], [
                  b,
                  letter.id,
                  action.key,
                  actionJson(action),
                  now,
                  0,
                  flag(action.after),
                  flag(action.lastError),
                  typeof action.claims === "number" ? action.claims : 0
                ])
              )
              if (done === 1) count++
            }
          }
          if (count > 0) yield* run("requeue", () => replicated("requeue", found.map((_, p) => K.queue(bases[p]!))))
          return count
        }),

      removeDeadLetters: (ids) =>
        ids.length === 0
          ? Effect.succeed(0)
          : Effect.map(
              everyPartition("removeDeadLetters", (b) =>
                script.removeDeadLetters([K.queue(b), K.dead(b), K.deadIndex(b)], [b, ...ids])
              ),
              (counts) => counts.reduce((sum: number, n) => sum + Number(n), 0)
            ),

      appendAudit: (entry) => {
        const b = baseOf(entry.stream)
        return Effect.map(
          run("appendAudit", async () => {
            const appended = await script.appendAudit([K.audit(b, entry.stream), K.head(b, entry.stream), K.streams(b)], [
              entry.seq,
              entry.hash,
              JSON.stringify(entry),
              entry.stream
            ])
            if (appended === 1) await replicated("appendAudit", [K.head(b, entry.stream)])
            return appended
          }),
          (r) => r === 1
        )
      },

      auditHead: (stream) =>
        Effect.map(run("auditHead", () => client.hmget(K.head(baseOf(stream), stream), "seq", "hash")), ([seq, hash]) =>
          seq === null || seq === undefined || hash === null || hash === undefined ? undefined : { seq: Number(seq), hash }
        ),

      readAudit: (stream, fromSeq, limit) => {
        if (limit <= 0) return Effect.succeed([])
        const from = Math.max(0, fromSeq - 1)
        // By position, never filtered by seq: verification must see an entry out of place.
        return Effect.map(
          run("readAudit", () => client.lrange(K.audit(baseOf(stream), stream), from, from + limit - 1)),
          (list) => list.map((s) => auditEntryOf(stream, s))
        )
      },

      auditStreams: (cursor, limit) =>
        Effect.map(walkStreams(cursor, limit), ({ cursor, items }) => ({ streams: items, cursor })),

      putShipment: (shipmentId, trackingNumber, body) =>
        run("putShipment", async () => {
          // The entity first: a tracking number found always leads to a stored shipment.
          const ref = K.ref(baseOf(shipmentId), shipmentId)
          await client.set(ref, body)
          if (trackingNumber === undefined) return replicated("putShipment", [ref])
          const tracking = K.tracking(baseOf(trackingNumber), trackingNumber)
          await client.set(tracking, shipmentId)
          await replicated("putShipment", [ref, tracking])
        }),

      swapShipment: (shipmentId, expected, body, trackingNumbers) =>
        run("swapShipment", async () => {
          const b = baseOf(shipmentId)
          const ref = K.ref(b, shipmentId)
          const swapped = await script.swapShipment([ref], [b, expected === undefined ? "-" : `+${expected}`, body])
          if (Number(swapped) !== 1) return false
          // The entity first: a tracking number found always leads to a stored shipment.
          const indexes = trackingNumbers.map((n) => K.tracking(baseOf(n), n))
          await Promise.all(indexes.map((key) => client.set(key, shipmentId)))
          await replicated("swapShipment", [ref, ...indexes])
          return true
        }),

      getShipment: (shipmentId) => run("getShipment", () => getShipmentOne(shipmentId)),

      findByTracking: (trackingNumber) => run("findByTracking", () => findByTrackingOne(trackingNumber)),

      getShipments: (shipmentIds) =>
        shipmentIds.length === 0
          ? Effect.succeed([])
          : run("getShipments", () => settleAll(shipmentIds.map(getShipmentOne))),

      findManyByTracking: (trackingNumbers) =>
        trackingNumbers.length === 0
          ? Effect.succeed([])
          : run("findManyByTracking", () => settleAll(trackingNumbers.map(findByTrackingOne))),

      getCursor: (name) => Effect.map(run("getCursor", () => client.hget(`${meta}cursors`, name)), (s) => s ?? undefined),

      setCursor: (name, value) =>
        run("setCursor", async () => {
          await client.hset(`${meta}cursors`, name, value)
        })
    }
    return store
  })

const context = (store: RedisStoreShape) => Context.make(RedisStore, store).pipe(Context.add(Store.Store, store))

/**
 * A layer providing the Redis store and the generic `Store`, with a client of its own.
 *
 * @since 0.1.0
 */
export const layer = (options: Omit<Options, "client"> = {}): Layer.Layer<RedisStore | Store.Store, PortError.StorageError> =>
  Layer.scopedContext(Effect.map(make(options), context))

/**
 * A layer providing the Redis store and the generic `Store` over a client the host owns (and
 * closes).
 *
 * @since 0.1.0
 */
export const layerFromClient = (
  client: Internal.Client,
  options: Omit<Options, "client" | "url" | "redisOptions"> = {}
): Layer.Layer<RedisStore | Store.Store, PortError.StorageError> =>
  Layer.scopedContext(Effect.map(make({ ...options, client }), context))

/**
 * A layer reading its options from config, e.g.
 * `layerConfig({ url: Config.redacted("REDIS_URL"), prefix: Config.string("WAYBILL_PREFIX") })`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<Omit<Options, "client" | "redisOptions">>
): Layer.Layer<RedisStore | Store.Store, PortError.StorageError | ConfigError.ConfigError> =>
  Layer.scopedContext(Effect.flatMap(Config.unwrap(config), (options) => Effect.map(make(options), context)))
