/**
 * bench/redis-durability: what `durability: { replicas: 1 }` costs a commit.
 *
 *   pnpm --filter @waybill/bench redis-durability [commits=20000] [rounds=3]
 *
 * Starts its own master and replica (`RedisServers.startReplicated`, from `redis-server`) so the
 * replica's round trip is real, then commits the same workload through `RedisStore.commitMany`
 * in batches of 256 (as a worker commits a batch's shipments), once with replication left
 * asynchronous and once with every batch confirmed on the replica (`WAIT 1`), alternating, on
 * the same servers. Each commit: a 500-byte record, one event, one audit entry, one outbox
 * action, one seen mark. Figures are medians of the rounds; the ratio is durable/asynchronous.
 */
import "./built.js"
import type { Store } from "@waybill/core"
import { RedisStore } from "@waybill/store-redis"
import { RedisServers } from "@waybill/store-redis/testing"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"

const COMMITS = Number(process.argv[2] ?? 20_000)
const ROUNDS = Number(process.argv[3] ?? 3)
const BATCH = 256

const commit = (i: number): Store.Commit => ({
  shipmentId: `s${i}`,
  expectedVersion: 0,
  body: JSON.stringify({ pad: "x".repeat(480) }),
  idempotencyKeys: [`src|e${i}|fingerprint`],
  events: [{ id: `src|e${i}`, body: "{\"e\":\"x\"}".padEnd(200, " ") }],
  audit: [{ stream: `s${i}`, seq: 1, at: 1, kind: "event", body: "{}", prevHash: "0".repeat(64), hash: "f".repeat(64) }],
  outbox: [
    {
      key: `s${i}:erp.postNote:x`,
      shipmentId: `s${i}`,
      target: "erp",
      kind: "erp.postNote",
      payload: "{}".padEnd(600, " "),
      createdAt: 1,
      availableAt: 1,
      attempts: 0
    }
  ]
})
const commits = Array.from({ length: COMMITS }, (_, i) => commit(i))

const round = (url: string, durable: boolean) =>
  Effect.gen(function* () {
    const prefix = `bench:${randomUUID()}`
    const store = yield* RedisStore.make({ url, prefix, ...(durable ? { durability: { replicas: 1, timeoutMillis: 5000 } } : {}) })
    const start = performance.now()
    for (let i = 0; i < commits.length; i += BATCH) {
      const results = yield* store.commitMany(commits.slice(i, i + BATCH))
      if (results.some((r) => r._tag !== "Committed")) throw new Error("a commit lost its version CAS on a fresh prefix")
    }
    const seconds = (performance.now() - start) / 1000
    yield* Effect.promise(() => store.client.flushall())
    return commits.length / seconds
  }).pipe(Effect.scoped)

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

const main = async () => {
  const pair = await RedisServers.startReplicated()
  try {
    console.log(`bench/redis-durability: ${fmt(COMMITS)} commits in batches of ${BATCH}, ${ROUNDS} rounds, master ${pair.master.url} with one replica`)
    const plain: Array<number> = []
    const durable: Array<number> = []
    for (let r = 0; r < ROUNDS; r++) {
      plain.push(await Effect.runPromise(round(pair.master.url, false)))
      durable.push(await Effect.runPromise(round(pair.master.url, true)))
      console.log(`  round ${r + 1}: asynchronous ${fmt(plain[r]!)} commits/s, durable ${fmt(durable[r]!)} commits/s`)
    }
    const p = median(plain), d = median(durable)
    console.log(`asynchronous replication (default): ${fmt(p)} commits/s (median)`)
    console.log(`durability { replicas: 1 } (one WAIT per batch): ${fmt(d)} commits/s (median)`)
    console.log(`ratio durable/asynchronous: ${(d / p).toFixed(2)}`)
  } finally {
    await pair.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
