/**
 * The private half of `RedisStore` and `RedisTransport`: the connection, error translation,
 * Lua script registration and key partitioning.
 */
import { PortError } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import calculateSlot from "cluster-key-slot"
import { Redis } from "ioredis"
import type { Cluster, RedisOptions } from "ioredis"

/** A standalone (or Sentinel) client or a Cluster client. */
export type Client = Redis | Cluster

/** How to reach Redis: a URL (we own the client) or a client the host owns. */
export interface ConnectionOptions {
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly client?: Client | undefined
  readonly redisOptions?: RedisOptions | undefined
}

const transient = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS|OOM|MISCONF|CROSSSLOT|MOVED|ASK|UNBLOCKED)\b/

/**
 * What a node that became a replica answers a `WAIT` (sent before the client noticed the
 * failover); a `WAIT` in flight when it was demoted gets `UNBLOCKED` (above).
 */
const waitOnReplica = /^ERR WAIT cannot be used with replica instances/

/**
 * What a Cluster node answers when a script reaches a key of its slot that the node does not
 * hold right now (the slot is being migrated) or the cluster is down. Every script of this
 * package stays in one slot, so this is a slot in motion, not a mistake.
 */
const slotInMotion = /^ERR Script attempted to (access a non local key in a cluster node|execute a (write )?command while the cluster is down)/

/** The `reason` of a failed Redis call. */
export const reasonOf = (cause: unknown): PortError.Reason => {
  if (!(cause instanceof Error)) return "Bug"
  const message = cause.message
  if (cause.name === "ReplyError") {
    // OOM, MISCONF (persistence failing), failover and cluster resharding: the server cannot take
    // writes right now; everything else the server rejects is a mistake in this package. MOVED
    // and ASK reach the caller when a Cluster's slots moved under a pipeline that mixed slots
    // (ioredis follows a redirection only when every command of the pipeline got the same one).
    // UNBLOCKED: a blocking command (a durability `WAIT`) was cut short because its master was
    // turned into a replica.
    if (transient.test(message)) return message.startsWith("CROSSSLOT") ? "Bug" : "Unavailable"
    return slotInMotion.test(message) || waitOnReplica.test(message) ? "Unavailable" : "Bug"
  }
  if (cause.name === "MaxRetriesPerRequestError") return "Unavailable"
  if (/timed? ?out/i.test(message)) return "Timeout"
  const code = (cause as { readonly code?: unknown }).code
  if (code === "ECONNRESET" || code === "EPIPE") return "Transport"
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "EAI_AGAIN") {
    return "Unavailable"
  }
  if (/connection|closed|stream isn't writeable|enableOfflineQueue/i.test(message)) return "Unavailable"
  return "Transport"
}

/** Translates anything a Redis call threw into the core storage error. */
export const storageError =
  (module: string, method: string) =>
  (cause: unknown): PortError.StorageError =>
    cause instanceof PortError.StorageError
      ? cause
      : new PortError.StorageError({
          reason: reasonOf(cause),
          module,
          method,
          description: cause instanceof Error ? cause.message : String(cause),
          cause
        })

/** Runs a Redis call as an Effect failing with `StorageError`. */
export const call =
  (module: string, client?: Client) =>
  <A>(method: string, f: () => Promise<A>): Effect.Effect<A, PortError.StorageError> =>
    Effect.tryPromise({
      try: f,
      catch: (cause) => {
        // A redirection the client did not follow: its slot map is stale, refresh it for the retry.
        if (client?.isCluster && cause instanceof Error && /^(MOVED|ASK) /.test(cause.message)) {
          ;(client as Cluster).refreshSlotsCache()
        }
        return storageError(module, method)(cause)
      }
    })

/**
 * What is wrong with a `<scheme>://` URL, checked before ioredis sees it. ioredis parses it with
 * Node's legacy `url.parse`, which prints a URL whose port is not a number, password included, in
 * a deprecation warning on stderr (and ioredis then connects to the default port), and throws on
 * one it cannot parse a `TypeError` that carries the whole URL. Other forms ioredis takes
 * (`host:port`, a socket path) pass.
 */
const urlProblem = (url: string): string | undefined => {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return undefined
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "it cannot be parsed (a port that is not a number, a bracket or a character left unescaped?)"
  }
  // Other schemes (`unix:///path`) name a socket by their path.
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return undefined
  if (parsed.hostname === "") return "it names no host"
  if (!/^\/?\d*$/.test(parsed.pathname)) return "its path must be a database number"
  return undefined
}

/**
 * The client to use: the host's (left open) or a new one from the URL (closed with the scope).
 * A new client pipelines automatically: every command issued in the same tick goes out in one
 * write, which is what makes commits of many shipments cheap.
 */
export const acquire = (
  module: string,
  options: ConnectionOptions
): Effect.Effect<Client, PortError.StorageError, Scope.Scope> => {
  if (options.client !== undefined) return Effect.succeed(options.client)
  const url = options.url === undefined ? "redis://127.0.0.1:6379" : Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
  const problem = urlProblem(url)
  if (problem !== undefined) {
    return Effect.fail(
      new PortError.StorageError({
        reason: "Invalid",
        module,
        method: "make",
        // Never the URL: it may carry a password.
        description: `the Redis URL is not valid: ${problem}`
      })
    )
  }
  return Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(url, { enableAutoPipelining: true, lazyConnect: true, ...options.redisOptions })
      // Connection problems surface as failed commands (Unavailable); the event itself needs no handler.
      client.on("error", () => undefined)
      return client
    }),
    (client) =>
      Effect.promise(() =>
        client.status === "end" ? Promise.resolve() : client.quit().then(() => undefined, () => client.disconnect())
      )
  ).pipe(
    Effect.tap((client) =>
      client.status === "wait"
        ? Effect.tryPromise({
            try: () => client.connect(),
            catch: (cause) =>
              new PortError.StorageError({
                reason: "Unavailable",
                module,
                method: "connect",
                // Never the URL: it may carry a password.
                description: `cannot connect to Redis: ${cause instanceof Error ? cause.message : String(cause)}`,
                cause
              })
          })
        : Effect.void
    )
  )
}

/** A Lua script run with EVALSHA (falling back to EVAL once per connection, as ioredis does). */
export interface Script {
  readonly name: string
  readonly lua: string
}

type Invoke = (...args: ReadonlyArray<string | number>) => Promise<unknown>

/** A Lua script and the number of keys every call passes (its first key routes the call). */
export interface ScriptDefinition {
  readonly lua: string
  readonly keys: number
}

/**
 * Registers the scripts on the client with `defineCommand` (names carry the script's hash, so
 * two versions of this package can share a client) and returns a caller for each.
 *
 * Each script is registered with its fixed number of keys, so its first argument is its first
 * key: an auto-pipelining Cluster client groups calls by the slot of their first argument, and a
 * call passing the key count first would be grouped with calls for other masters and refused
 * (ioredis#2109). All are registered here, up front: an auto-pipeline created before a command
 * existed cannot run it.
 */
export const defineScripts = <const Names extends string>(
  client: Client,
  scripts: Readonly<Record<Names, ScriptDefinition>>
): Readonly<Record<Names, (keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) => Promise<unknown>>> => {
  const out = {} as Record<Names, (keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) => Promise<unknown>>
  const registry = client as unknown as Record<string, Invoke | undefined>
  for (const name of Object.keys(scripts) as Array<Names>) {
    const { keys: count, lua } = scripts[name]
    const command = `waybill_${name}_${fnv1a(lua).toString(36)}_${count}`
    if (typeof registry[command] !== "function") client.defineCommand(command, { lua, numberOfKeys: count })
    const invoke = registry[command] as Invoke
    out[name] = (keys, args) =>
      keys.length === count
        ? invoke.call(client, ...keys, ...args)
        : Promise.reject(
            new PortError.StorageError({
              reason: "Bug",
              module: "@waybill/store-redis",
              method: name,
              description: `script ${name} takes ${count} keys, called with ${keys.length}`
            })
          )
  }
  return out
}

/** FNV-1a over UTF-16 code units: stable across processes and versions (never change it). */
export const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** Rejects prefixes that would break the hash tags. */
export const checkPrefix = (module: string, prefix: string): Effect.Effect<string, PortError.StorageError> =>
  prefix.length > 0 && !/[{}]/.test(prefix)
    ? Effect.succeed(prefix)
    : Effect.fail(
        new PortError.StorageError({
          reason: "Invalid",
          module,
          method: "make",
          description: `prefix must be non-empty and must not contain '{' or '}': ${JSON.stringify(prefix)}`
        })
      )

/** Escapes a string for a `SCAN MATCH` glob. */
export const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`)

/** Reads `SCAN` over every master (one node when standalone), calling `f` with each page of keys. */
export const scanAll = async (
  client: Client,
  match: string,
  f: (keys: ReadonlyArray<string>) => Promise<void>
): Promise<void> => {
  const nodes: ReadonlyArray<Redis> = client.isCluster ? (client as Cluster).nodes("master") : [client as Redis]
  for (const node of nodes) {
    let cursor = "0"
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", match, "COUNT", 1000)
      cursor = next
      if (keys.length > 0) await f(keys)
    } while (cursor !== "0")
  }
}

/**
 * How many replicas must hold a write before the operation that made it returns.
 *
 * Redis replicates asynchronously: a master that fails right after answering may take its last
 * writes with it, and a promoted replica never saw them. With `replicas` > 0 every write a
 * caller builds on (a commit, a registration, a dead letter, a published message) is followed by
 * `WAIT <replicas> <timeoutMillis>` on the master that holds it; when fewer replicas acknowledged
 * in time the operation fails with `Unavailable` (the write stays on the master; the caller
 * retries and the retry deduplicates).
 */
export interface Durability {
  /** Replicas that must acknowledge each write. 0 (default): do not wait. */
  readonly replicas: number
  /** How long to wait for them, in milliseconds. Default 1,000. */
  readonly timeoutMillis?: number
}

/** Checks a durability setting; `undefined` when writes need not wait. */
export const checkDurability = (
  module: string,
  durability: Durability | undefined
): Effect.Effect<{ readonly replicas: number; readonly timeoutMillis: number } | undefined, PortError.StorageError> => {
  if (durability === undefined) return Effect.succeed(undefined)
  const { replicas, timeoutMillis = 1000 } = durability
  const problem = !Number.isInteger(replicas) || replicas < 0
    ? `durability.replicas must be a non-negative integer, got ${String(replicas)}`
    : !Number.isInteger(timeoutMillis) || timeoutMillis < 1
      ? `durability.timeoutMillis must be a positive integer, got ${String(timeoutMillis)}`
      : undefined
  if (problem !== undefined) {
    return Effect.fail(new PortError.StorageError({ reason: "Invalid", module, method: "make", description: problem }))
  }
  return Effect.succeed(replicas === 0 ? undefined : { replicas, timeoutMillis })
}

/**
 * Waits until the replicas of the masters holding `keys` acknowledged every write this client
 * sent them before the call (resolves at once when `durability` is off). Calls made in the same
 * tick share one `WAIT` per master, so a batch of commits costs one replica round trip. On a
 * Cluster the master is found from the client's slot map (`WAIT` counts only the replicas of
 * the node it runs on).
 */
export const replicaWaiter = (
  module: string,
  client: Client,
  durability: { readonly replicas: number; readonly timeoutMillis: number } | undefined
): ((method: string, keys: ReadonlyArray<string>) => Promise<void>) => {
  if (durability === undefined) return () => Promise.resolve()
  const { replicas, timeoutMillis } = durability
  /**
   * Connections each node has lost so far. `WAIT` counts the replicas holding what the server it
   * reaches holds: one ioredis sends (or sends again) after a reconnect may reach another server,
   * the master a failover promoted, which never had the write, and confirm nothing about it.
   */
  const drops = new WeakMap<Redis, { count: number }>()
  const dropsOf = (node: Redis): { count: number } => {
    let seen = drops.get(node)
    if (seen === undefined) {
      const counter = { count: 0 }
      node.on("close", () => void counter.count++)
      drops.set(node, counter)
      seen = counter
    }
    return seen
  }
  /** WAITs not sent yet, by node: a write finished before the request is covered by the WAIT sent after it. */
  const queued = new Map<Redis, Promise<number>>()
  const waitOn = (node: Redis): Promise<number> => {
    let reply = queued.get(node)
    if (reply === undefined) {
      reply = new Promise<void>((resolve) => process.nextTick(resolve)).then(() => {
        queued.delete(node)
        return node.call("WAIT", replicas, timeoutMillis) as Promise<number>
      })
      queued.set(node, reply)
    }
    return reply
  }
  const mastersOf = (method: string, keys: ReadonlyArray<string>): ReadonlyArray<Redis> => {
    if (!client.isCluster) return [client as Redis]
    const cluster = client as Cluster
    const byAddress = new Map(cluster.nodes("master").map((n) => [`${n.options.host}:${n.options.port}`, n]))
    const nodes = new Set<Redis>()
    for (const key of keys) {
      const slot = calculateSlot(key)
      const address = cluster.slots[slot]?.[0]
      const node = address === undefined ? undefined : byAddress.get(address)
      if (node === undefined) {
        throw new PortError.StorageError({
          reason: "Unavailable",
          module,
          method,
          description: `no master is known for slot ${slot} (the cluster is failing over or resharding); the write's replication is unconfirmed`
        })
      }
      nodes.add(node)
    }
    return [...nodes]
  }
  if (!client.isCluster) dropsOf(client as Redis)
  return async (method, keys) => {
    const nodes = mastersOf(method, keys)
    // Called as the write's reply came in, on the connection that wrote it.
    const before = nodes.map((node) => dropsOf(node).count)
    const acked = await Promise.all(nodes.map(waitOn))
    const unconfirmed = (node: Redis, why: string) =>
      new PortError.StorageError({
        reason: "Unavailable",
        module,
        method,
        description: `${why.replace("%s", `${node.options.host}:${node.options.port}`)}; ` +
          "it is not confirmed durable (retry: the retry deduplicates)"
      })
    const lost = nodes.findIndex((node, i) => dropsOf(node).count !== before[i])
    if (lost >= 0) {
      throw unconfirmed(
        nodes[lost]!,
        "the connection to the master (%s) dropped before WAIT answered, and a WAIT on a new connection may reach another server"
      )
    }
    const short = acked.findIndex((n) => n < replicas)
    if (short >= 0) {
      throw unconfirmed(
        nodes[short]!,
        `the write is on the master (%s) but only ${acked[short]} of ${replicas} replicas acknowledged it within ${timeoutMillis} ms`
      )
    }
  }
}
