/**
 * The waybill `Transport` on Redis Streams with consumer groups.
 *
 * - A topic is `partitions` streams (default 16); a message goes to the stream of its key
 *   (`fnv1a(key) % partitions`), so one shipment's messages stay in order in one stream. `publish`
 *   is one script per batch: `XADD` with ids `<n>-<partition>`, `n` from one counter per topic,
 *   so ids order messages across partitions in publish order; the counter never falls behind the
 *   server's clock in microseconds, so a failover that lost the last publishes does not hand
 *   their ids out again (a late ack of a lost message would acknowledge another).
 * - `receive` runs one script: a heartbeat in the group's member set; `XAUTOCLAIM` of entries
 *   idle past the visibility timeout on every partition (each claim counts a delivery; an entry
 *   delivered `maxDeliveries` times moves to the group's dead-letter stream and is
 *   acknowledged); then `XREADGROUP >` on the partitions this consumer owns. Ownership is
 *   rendezvous hashing with bounded load over the live members (no member holds more than
 *   `ceil(partitions / members)`), so while the members stay the same one shipment's
 *   messages go to one process (its record cache stays warm, no version conflicts with the
 *   others); a member silent longer than the member timeout (default: the visibility timeout)
 *   loses its partitions to the others. Groups are created from id 0 with `MKSTREAM`, so a new
 *   group sees everything still in the streams. When nothing is ready the call polls (never a
 *   blocking read on the shared, pipelined connection).
 * - `ack` is `XACK`. `pending` is the group's pending count plus its lag (entries not yet
 *   delivered) over all partitions, from `XINFO GROUPS`.
 * - Trimming never drops an entry some group still needs: every `trimEvery` published messages
 *   each stream is trimmed (`XTRIM MINID ~`) below the smallest pending id, or last-delivered id,
 *   of all its groups. Dead-letter streams are never trimmed. Trimming also forgets the stream
 *   consumers that left their group (silent past the member timeout) with nothing pending.
 *
 * @since 0.1.0
 */
import { PortError, Transport } from "@waybill/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import * as Lua from "./internal/lua.js"
import * as Internal from "./internal/redis.js"

const MODULE = "@waybill/store-redis/RedisTransport"

/**
 * Options of the Redis transport.
 *
 * @since 0.1.0
 */
export interface Options {
  /** `redis://…` (use `Redacted` when it carries a password). Ignored when `client` is given. */
  readonly url?: string | Redacted.Redacted<string>
  /** A client the host owns; it is not closed by the transport. */
  readonly client?: Internal.Client
  readonly redisOptions?: RedisOptions
  /** Every key starts with `{<prefix>:t:<topic>}`. No braces. Default `waybill`. */
  readonly prefix?: string
  /**
   * Streams per topic; messages are spread by key. Fixed for the life of a topic: the first
   * transport to use a topic records its count, and one configured with another count is refused
   * (`Invalid`) on that topic. Default 16; 1 gives one stream and no consumer affinity.
   */
  readonly partitions?: number
  /** A consumer silent for longer than this loses its partitions. Default: the receive's visibility timeout. */
  readonly memberTimeoutMillis?: number
  /** Trim a topic's stream after this many messages published by this process (0: never). Default 1,000. */
  readonly trimEvery?: number
  /** Pause between polls while a receive waits for messages. Default 10 ms. */
  readonly pollMillis?: number
  /**
   * Replicas that must hold a published message before `publish` returns (`WAIT` on the topic's
   * master). Off by default. See `RedisStore.Durability`.
   */
  readonly durability?: Internal.Durability
}

/**
 * The Redis transport: the port's operations plus trimming and key names for operators.
 *
 * @since 0.1.0
 */
export interface RedisTransportShape extends Transport.TransportShape {
  readonly client: Internal.Client
  readonly prefix: string
  readonly partitions: number
  /** The stream key of a topic's partition. */
  readonly streamKey: (topic: string, partition: number) => string
  /** The partition of a message id (ids are `<n>-<partition>`), or undefined for a foreign id. */
  readonly partitionOfId: (id: string) => number | undefined
  /** The dead-letter stream key of a topic's group. */
  readonly deadKey: (topic: string, group: string) => string
  /**
   * Trims a topic's stream below what every group still needs and forgets the consumers that left
   * with nothing pending; returns the entries removed.
   */
  readonly trim: (topic: string) => Effect.Effect<number, PortError.StorageError>
}

/**
 * The tag of the Redis transport (layers also provide the generic `Transport`).
 *
 * @since 0.1.0
 */
export class RedisTransport extends Context.Tag("@waybill/store-redis/RedisTransport")<
  RedisTransport,
  RedisTransportShape
>() {}

const messageId = /^\d+-(\d+)$/

/**
 * Renews the lease of entries a consumer still holds: `XCLAIM … 0 <id> JUSTID` resets an entry's
 * idle time without counting a delivery; an entry acknowledged, dead-lettered or claimed by
 * another consumer meanwhile (not in this consumer's pending list) is left alone. Starts with the
 * same guard as the other transport scripts (see `internal/lua.ts`): it fails before writing
 * while the topic's slot migrates.
 *
 * KEYS: 1 the topic's counter (routes the call). ARGV: 1 stream base, 2 group, 3 consumer, then
 * (partition, id) pairs. Returns the number of entries renewed.
 */
const extendLua = `redis.call('EXISTS', ARGV[1] .. 'slot', ARGV[1] .. 'slot:')
local base, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local renewed = 0
for i = 4, #ARGV - 1, 2 do
  local stream, id = base .. ARGV[i], ARGV[i + 1]
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) > 0 then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
`

/**
 * Records a topic's partition count unless one is recorded, and answers the recorded one.
 *
 * KEYS: 1 the topic's partition count. ARGV: 1 this transport's partition count.
 */
const partitionsLua = `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`

/**
 * Creates the transport.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<RedisTransportShape, PortError.StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = yield* Internal.checkPrefix(MODULE, options.prefix ?? "waybill")
    const P = options.partitions ?? 16
    if (!Number.isInteger(P) || P < 1 || P > 1024) {
      return yield* new PortError.StorageError({
        reason: "Invalid",
        module: MODULE,
        method: "make",
        description: `partitions must be an integer in 1..1024, got ${P}`
      })
    }
    const trimEvery = options.trimEvery ?? 1000
    const pollMillis = options.pollMillis ?? 10
    const memberTimeout = options.memberTimeoutMillis
    // An infinite member timeout would keep a dead consumer's partitions with it for good; a
    // negative or NaN trim interval would never trim.
    const problem = memberTimeout !== undefined && (!Number.isSafeInteger(memberTimeout) || memberTimeout < 1)
      ? `memberTimeoutMillis must be a positive integer, got ${String(memberTimeout)}`
      : !Number.isSafeInteger(trimEvery) || trimEvery < 0
        ? `trimEvery must be a non-negative integer (0: never), got ${String(trimEvery)}`
        : !Number.isFinite(pollMillis) || pollMillis < 0
          ? `pollMillis must be a non-negative number, got ${String(pollMillis)}`
          : undefined
    if (problem !== undefined) {
      return yield* new PortError.StorageError({ reason: "Invalid", module: MODULE, method: "make", description: problem })
    }
    const durable = yield* Internal.checkDurability(MODULE, options.durability)
    const client = yield* Internal.acquire(MODULE, options)
    const replicated = Internal.replicaWaiter(MODULE, client, durable)
    const run = Internal.call(MODULE, client)
    const script = Internal.defineScripts(client, {
      publish: { lua: Lua.publish, keys: 1 },
      createGroups: { lua: Lua.createGroups, keys: 1 },
      receive: { lua: Lua.receive, keys: 2 },
      trim: { lua: Lua.trim, keys: 1 },
      streamGroups: { lua: Lua.streamGroups, keys: 1 },
      extend: { lua: extendLua, keys: 1 },
      partitions: { lua: partitionsLua, keys: 1 }
    })
    const tag = (topic: string) => `{${prefix}:t:${topic}}:`
    const base = (topic: string) => `${tag(topic)}s:`
    const streamKey = (topic: string, partition: number) => `${base(topic)}${partition}`
    const deadKey = (topic: string, group: string) => `${tag(topic)}d:${group}`
    const membersKey = (topic: string, group: string) => `${tag(topic)}m:${group}`
    const partitionOfId = (id: string): number | undefined => {
      const match = messageId.exec(id)
      const p = match === null ? NaN : Number(match[1])
      return Number.isInteger(p) && p < P ? p : undefined
    }
    const groups = new Set<string>()
    const cursors = new Map<string, Array<string>>()
    const published = new Map<string, number>()
    const checked = new Set<string>()

    /**
     * A topic's partition count is fixed: the first transport to use the topic records its own,
     * and one configured with another count is refused (`Invalid`). Otherwise a consumer with
     * fewer partitions than the publishers never read (nor counted as pending, nor trimmed) the
     * streams past its own count, and their messages were silently never delivered.
     */
    const checkTopic = (topic: string, method: string) =>
      checked.has(topic)
        ? Effect.void
        : Effect.flatMap(run(method, () => script.partitions([`${tag(topic)}partitions`], [P])), (stored) =>
          String(stored) === String(P)
            ? Effect.sync(() => void checked.add(topic))
            : Effect.fail(
              new PortError.StorageError({
                reason: "Invalid",
                module: MODULE,
                method,
                description: `topic ${topic} was created with ${String(stored)} partitions; this transport is configured with ${P}`
              })
            ))

    const ensureGroup = (topic: string, group: string) => {
      const id = `${topic}\u0000${group}`
      if (groups.has(id)) return Effect.void
      return checkTopic(topic, "createGroup").pipe(
        Effect.zipRight(run("createGroup", () => script.createGroups([`${tag(topic)}n`], [base(topic), P, group]))),
        Effect.tap(() => Effect.sync(() => groups.add(id)))
      )
    }

    /** Runs a group operation, recreating the group once if someone deleted it. */
    const withGroup = <A>(topic: string, group: string, f: Effect.Effect<A, PortError.StorageError>) =>
      Effect.zipRight(
        ensureGroup(topic, group),
        Effect.catchIf(
          f,
          (e) => e.description.includes("NOGROUP"),
          () => {
            groups.delete(`${topic}\u0000${group}`)
            return Effect.zipRight(ensureGroup(topic, group), f)
          }
        )
      )

    const trim = (topic: string) =>
      Effect.zipRight(
        checkTopic(topic, "trim"),
        Effect.map(run("trim", () => script.trim([`${tag(topic)}n`], [base(topic), P, `${tag(topic)}m:`])), (n) => Number(n))
      )

    type Row = [string, string, string, number]
    const order = (a: Row, b: Row) => Number(a[0].slice(0, a[0].indexOf("-"))) - Number(b[0].slice(0, b[0].indexOf("-")))

    const take = (topic: string, group: string, consumer: string, o: Transport.ReceiveOptions) => {
      const id = `${topic}\u0000${group}`
      return withGroup(
        topic,
        group,
        Effect.map(
          run("receive", () =>
            script.receive([membersKey(topic, group), deadKey(topic, group)], [
              base(topic),
              P,
              group,
              consumer,
              Math.max(1, o.max),
              Math.max(0, Math.round(o.visibilityMillis)),
              o.maxDeliveries,
              memberTimeout ?? Math.max(1, Math.round(o.visibilityMillis)),
              ...(cursors.get(id) ?? Array.from({ length: P }, () => "0-0"))
            ])
          ),
          (reply) => {
            const [next, reclaimed, fresh] = reply as [Array<string>, Array<Row>, Array<Row>]
            cursors.set(id, next)
            // Redelivered first, then new ones; each in publish order.
            return [...reclaimed.sort(order), ...fresh.sort(order)].map(
              ([id, key, body, deliveries]): Transport.Delivery => ({ id, key, body, deliveries })
            )
          }
        )
      )
    }

    const countAfter = (key: string, last: string) =>
      run("pending", async () => {
        let from = `(${last}`
        let n = 0
        while (true) {
          const page = await client.xrange(key, from, "+", "COUNT", 1000)
          n += page.length
          if (page.length < 1000) return n
          from = `(${page[page.length - 1]![0]}`
        }
      })

    const pendingOf = (key: string, group: string) =>
      Effect.gen(function* () {
        const info = (yield* run("pending", () => script.streamGroups([key], []))) as Array<Array<unknown>>
        for (const row of info) {
          const fields = new Map<string, unknown>()
          for (let i = 0; i + 1 < row.length; i += 2) fields.set(String(row[i]), row[i + 1])
          if (fields.get("name") !== group) continue
          const pending = Number(fields.get("pending"))
          const lag = fields.get("lag")
          if (typeof lag === "number") return pending + lag
          // Lag is unknown (Redis < 7, or entries deleted after the group's position): count.
          return pending + (yield* countAfter(key, String(fields.get("last-delivered-id"))))
        }
        return 0
      })

    const transport: RedisTransportShape = {
      client,
      prefix,
      partitions: P,
      streamKey,
      partitionOfId,
      deadKey,
      trim,

      publish: (topic, messages) =>
        Effect.gen(function* () {
          if (messages.length === 0) return []
          yield* checkTopic(topic, "publish")
          const ids: Array<string> = []
          for (let i = 0; i < messages.length; i += 1000) {
            const args: Array<string | number> = [base(topic)]
            for (const m of messages.slice(i, i + 1000)) args.push(Internal.fnv1a(m.key) % P, m.key, m.body)
            const chunk = yield* run("publish", async () => {
              const ids = await script.publish([`${tag(topic)}n`], args)
              // Before the publisher answers its source (a webhook's 200): on the master's replicas.
              await replicated("publish", [`${tag(topic)}n`])
              return ids
            })
            ids.push(...(chunk as Array<string>))
          }
          if (trimEvery > 0) {
            const count = (published.get(topic) ?? 0) + messages.length
            published.set(topic, count % trimEvery)
            if (count >= trimEvery) yield* trim(topic)
          }
          return ids
        }),

      receive: (topic, group, consumer, o) =>
        Effect.gen(function* () {
          const deadline = (yield* Clock.currentTimeMillis) + o.waitMillis
          while (true) {
            const out = yield* take(topic, group, consumer, o)
            const left = deadline - (yield* Clock.currentTimeMillis)
            if (out.length > 0 || left <= 0) return out
            yield* Effect.sleep(Math.min(pollMillis, left))
          }
        }),

      ack: (topic, group, ids) => {
        const byPartition = new Map<number, Array<string>>()
        for (const id of ids) {
          const p = partitionOfId(id)
          if (p !== undefined) byPartition.set(p, [...(byPartition.get(p) ?? []), id])
        }
        if (byPartition.size === 0) return Effect.void
        return withGroup(
          topic,
          group,
          run("ack", async () => {
            await Promise.all([...byPartition].map(([p, list]) => client.xack(streamKey(topic, p), group, ...list)))
          })
        )
      },

      // Entries are leased by idle time, measured by the server: a renewal resets it, so the
      // entry is not reclaimed for another visibility timeout of the receivers (the
      // `visibilityMillis` passed here is theirs too, and is not needed).
      extend: (topic, group, consumer, ids) => {
        const args: Array<string | number> = [base(topic), group, consumer]
        for (const id of ids) {
          const p = partitionOfId(id)
          if (p !== undefined) args.push(p, id)
        }
        if (args.length === 3) return Effect.void
        return withGroup(topic, group, Effect.asVoid(run("extend", () => script.extend([`${tag(topic)}n`], args))))
      },

      pending: (topic, group) =>
        withGroup(
          topic,
          group,
          Effect.map(
            Effect.forEach(Array.from({ length: P }, (_, p) => streamKey(topic, p)), (key) => pendingOf(key, group), {
              concurrency: "unbounded"
            }),
            (counts) => counts.reduce((a, b) => a + b, 0)
          )
        ),

      deadLetters: (topic, group, limit) =>
        limit <= 0
          ? Effect.succeed([])
          : Effect.map(run("deadLetters", () => client.xrange(deadKey(topic, group), "-", "+", "COUNT", limit)), (rows) =>
              rows.map(([, fields]): Transport.Delivery => {
                const f = new Map<string, string>()
                for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!)
                return { id: f.get("id") ?? "", key: f.get("k") ?? "", body: f.get("b") ?? "", deliveries: Number(f.get("n")) }
              })
            ),

      // The dead-letter stream's entries carry the message id in a field: they are found by it,
      // page by page, and deleted by their own entry id (a repeated call finds nothing).
      dropDeadLetters: (topic, group, ids) =>
        ids.length === 0
          ? Effect.succeed(0)
          : run("dropDeadLetters", async () => {
            const key = deadKey(topic, group)
            const wanted = new Set(ids)
            let removed = 0
            let from = "-"
            while (wanted.size > 0) {
              const rows = await client.xrange(key, from, "+", "COUNT", 500)
              if (rows.length === 0) break
              const entries: Array<string> = []
              for (const [entry, fields] of rows) {
                for (let i = 0; i + 1 < fields.length; i += 2) {
                  if (fields[i] === "id" && wanted.delete(fields[i + 1]!)) entries.push(entry)
                }
              }
              if (entries.length > 0) removed += await client.xdel(key, ...entries)
              if (rows.length < 500) break
              from = `(${rows[rows.length - 1]![0]}`
            }
            return removed
          })
    }
    return transport
  })

const context = (transport: RedisTransportShape) =>
  Context.make(RedisTransport, transport).pipe(Context.add(Transport.Transport, transport))

/**
 * A layer providing the Redis transport and the generic `Transport`, with a client of its own.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Omit<Options, "client"> = {}
): Layer.Layer<RedisTransport | Transport.Transport, PortError.StorageError> =>
  Layer.scopedContext(Effect.map(make(options), context))

/**
 * A layer providing the Redis transport and the generic `Transport` over a client the host owns.
 *
 * @since 0.1.0
 */
export const layerFromClient = (
  client: Internal.Client,
  options: Omit<Options, "client" | "url" | "redisOptions"> = {}
): Layer.Layer<RedisTransport | Transport.Transport, PortError.StorageError> =>
  Layer.scopedContext(Effect.map(make({ ...options, client }), context))

/**
 * A layer reading its options from config, e.g. `layerConfig({ url: Config.redacted("REDIS_URL") })`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<Omit<Options, "client" | "redisOptions">>
): Layer.Layer<RedisTransport | Transport.Transport, PortError.StorageError | ConfigError.ConfigError> =>
  Layer.scopedContext(Effect.flatMap(Config.unwrap(config), (options) => Effect.map(make(options), context)))
