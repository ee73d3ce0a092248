/**
 * bench/redis-memory: Redis memory per shipment, by key kind (the table in
 * docs/operations/redis.md).
 *
 *   pnpm --filter @waybill/bench redis-memory [shipments=1000]
 *
 * Registers `shipments` realistic histories (`Histories.generate`: every event, retransmissions
 * included) and ingests them through the `Pipeline` over `RedisStore`, then reads
 * `MEMORY USAGE` of every key of the bench's prefix (SCAN) and sums per key kind. The outbox is
 * not dispatched: its actions are reported as pending (`o:`, queues); once done, each leaves a
 * done mark (`dn:`) instead. Every key the bench wrote is deleted afterwards.
 */
import "./built.js"
import { Pipeline } from "@waybill/core"
import { Histories } from "@waybill/core/simulation"
import { RedisStore } from "@waybill/store-redis"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import { randomUUID } from "node:crypto"

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const SHIPMENTS = Number(process.argv[2] ?? 1000)
const prefix = `bench-mem-${randomUUID().slice(0, 8)}`

const kindOf = (key: string): string => {
  const rest = key.slice(key.indexOf("}") + 2)
  const tag = rest.slice(0, rest.indexOf(":") < 0 ? rest.length : rest.indexOf(":"))
  switch (tag) {
    case "r":
      return "record (r:)"
    case "e":
      return "raw events (e:)"
    case "a":
    case "h":
      return "audit stream (a:, h:)"
    case "k":
      return "seen marks (k:)"
    case "ref":
    case "trk":
      return "shipment entity and tracking index (ref:, trk:)"
    case "o":
    case "q":
    case "seq":
    case "n":
      return "pending outbox actions (o:, q, seq, n)"
    default:
      return "indexes (ships, streams, meta)"
  }
}

const main = async () => {
  const histories = Array.from({ length: SHIPMENTS }, (_, i) => Histories.generate(i * 7919 + 1, {}, i))
  const events = histories.flatMap((h) => h.events)
  await Effect.runPromise(
    Effect.gen(function* () {
      const pipeline = yield* Pipeline.Pipeline
      for (const [i, h] of histories.entries()) yield* pipeline.register(Histories.intake(h, i))
      for (let i = 0; i < events.length; i += 256) yield* pipeline.ingestMany(events.slice(i, i + 256))
    }).pipe(Effect.provide(Layer.provideMerge(Pipeline.layer(), RedisStore.layer({ url: REDIS_URL, prefix }))), Effect.scoped)
  )
  const redis = new Redis(REDIS_URL)
  const sizes = new Map<string, { bytes: number; keys: number }>()
  let cursor = "0"
  const all: Array<string> = []
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `{${prefix}:*`, "COUNT", 1000)
    cursor = next
    all.push(...keys)
  } while (cursor !== "0")
  for (const key of all) {
    const bytes = (await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0")) as number
    const kind = kindOf(key)
    const s = sizes.get(kind) ?? { bytes: 0, keys: 0 }
    s.bytes += bytes
    s.keys += 1
    sizes.set(kind, s)
  }
  for (let i = 0; i < all.length; i += 500) await redis.unlink(...all.slice(i, i + 500))
  await redis.quit()
  console.log(`bench/redis-memory: ${SHIPMENTS} shipments, ${(events.length / SHIPMENTS).toFixed(1)} events each (retransmissions included)`)
  let total = 0
  for (const [kind, s] of [...sizes].sort((a, b) => b[1].bytes - a[1].bytes)) {
    total += s.bytes
    console.log(`  ${kind.padEnd(52)} ${Math.round(s.bytes / SHIPMENTS).toLocaleString("en-US").padStart(7)} bytes per shipment (${(s.keys / SHIPMENTS).toFixed(1)} keys)`)
  }
  console.log(`  ${"total".padEnd(52)} ${Math.round(total / SHIPMENTS).toLocaleString("en-US").padStart(7)} bytes per shipment`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
