/**
 * Test helpers: the Redis under test (`REDIS_URL`, default `redis://127.0.0.1:6379`), fresh key
 * prefixes and their cleanup. Redis tests never skip: when Redis is unreachable they fail.
 */
import { type Pipeline, ShipmentState } from "@waybill/core"
import type { Histories } from "@waybill/core/simulation"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { randomUUID } from "node:crypto"
import * as Internal from "../src/internal/redis.js"

export const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

/** Fails (never skips) when Redis cannot be reached. */
export const requireRedis = async (): Promise<void> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  try {
    await client.connect()
    await client.ping()
  } catch (cause) {
    throw new Error(
      `Redis is not reachable at ${url.replace(/\/\/[^@]*@/, "//***@")} (${String(cause)}). The Redis tests need it: ` +
        "start redis-server or set REDIS_URL."
    )
  } finally {
    client.disconnect()
  }
}

export const freshPrefix = (): string => `test:${randomUUID()}`

/** Deletes every key of a prefix (all keys start with `{<prefix>:`). */
export const deleteKeys = async (client: Internal.Client, prefix: string): Promise<number> => {
  let deleted = 0
  await Internal.scanAll(client, `{${Internal.globEscape(prefix)}:*`, async (keys) => {
    // One UNLINK per key on a Cluster: a SCAN page mixes slots.
    deleted += client.isCluster
      ? (await Promise.all(keys.map((k) => client.unlink(k)))).reduce((a, b) => a + b, 0)
      : await client.unlink(...keys)
  })
  return deleted
}

/** The action keys marked done under a prefix (its `dn:` keys, on every master). */
export const doneKeys = async (client: Internal.Client, prefix: string): Promise<Set<string>> => {
  const done = new Set<string>()
  await Internal.scanAll(client, `{${Internal.globEscape(prefix)}:p*}:dn:*`, async (keys) => {
    for (const k of keys) done.add(k.slice(k.indexOf("}:dn:") + 5))
  })
  return done
}

/**
 * How the far side's effects and the store's done marks disagree: keys whose effect happened
 * other than once, effects with no done mark, and done marks with no effect. All empty when every
 * action was done and took effect exactly once.
 */
export const effectMismatches = (effects: ReadonlyArray<{ readonly key: string }>, done: ReadonlySet<string>) => {
  const counts = new Map<string, number>()
  for (const e of effects) counts.set(e.key, (counts.get(e.key) ?? 0) + 1)
  return {
    notOnce: [...counts].filter(([, n]) => n !== 1).map(([key]) => key),
    notDone: [...counts.keys()].filter((k) => !done.has(k)),
    noEffect: [...done].filter((k) => !counts.has(k))
  }
}

/** Deletes the prefix's keys when the scope closes (before the client is closed). */
export const cleanupOnClose = (client: Internal.Client, prefix: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer(() => Effect.promise(() => deleteKeys(client, prefix)).pipe(Effect.asVoid))

const encodeView = Schema.encodeSync(ShipmentState.ShipmentView)
const canonicalView = (s: ShipmentState.ShipmentState) => JSON.stringify(encodeView(s.view))

/**
 * How many shipments' stored states differ from the batch-fold oracle of their histories: other
 * facts (`ShipmentState.sameFacts`), another view (byte for byte), or an event of the history
 * missing.
 */
export const oracleMismatches = (
  pipeline: Pipeline.PipelineShape,
  histories: ReadonlyArray<Histories.History>
): Effect.Effect<number, unknown> =>
  Effect.gen(function* () {
    let mismatches = 0
    for (const h of histories) {
      const record = yield* pipeline.record(h.shipmentId)
      const oracle = ShipmentState.fold(h.shipmentId, h.companyId, h.events)
      if (record === undefined || !ShipmentState.sameFacts(record.state, oracle)) mismatches++
      else if (canonicalView(record.state) !== canonicalView(oracle)) mismatches++
      else {
        const ids = new Set([...record.state.events, ...record.state.variants].map((e) => e.id))
        if (h.events.some((e) => !ids.has(e.id))) mismatches++
      }
    }
    return mismatches
  })
