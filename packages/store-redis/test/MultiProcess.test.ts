/**
 * Scale-out on one Redis with nothing lost and nothing doubled.
 *
 * Four worker processes (each: RedisStore + RedisTransport + core Pipeline, Worker and
 * Dispatcher) share one Redis and ingest thousands of shipments' shuffled, duplicated event
 * histories; their business effects go to a far side served over HTTP by this process (it behaves
 * like the core fakes: idempotent by request key, an effect log, transient faults). One worker is
 * killed with SIGKILL while it holds unacknowledged messages and leased actions, and restarted.
 *
 * Afterwards: every state equals the batch-fold oracle (the same facts, `ShipmentState.sameFacts`,
 * and the same view byte for byte), no event lost; every action the runtime enqueued is
 * done and its effect happened exactly once at the far side; no message is pending, nothing is
 * dead-lettered, the audit chains are intact; the killed worker's messages and actions were
 * reclaimed by the others; and late duplicates, re-published after completion (half of them
 * with their seen marks deleted, as after the seen TTL), change nothing.
 *
 * `WAYBILL_MP_SHIPMENTS` changes the size (default 5,000); `WAYBILL_MP_PROFILE=<dir>` writes a CPU
 * profile of worker w1 there.
 */
import { describe, expect, it } from "@effect/vitest"
import { Audit, Pipeline, Store, Transport, Worker } from "@waybill/core"
import { Histories } from "@waybill/core/simulation"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { staleBuilds } from "../../../scripts/build-freshness.mjs"
import * as RedisStore from "../src/RedisStore.js"
import * as RedisTransport from "../src/RedisTransport.js"
import * as FarSide from "./fixtures/FarSide.js"
import { deleteKeys, doneKeys, effectMismatches, freshPrefix, oracleMismatches, requireRedis, url } from "./helpers.js"

await requireRedis()

const SHIPMENTS = Number(process.env.WAYBILL_MP_SHIPMENTS ?? 5000)
const WORKERS = 4
const VISIBILITY_MS = 10_000
const LEASE_MS = 10_000
const LATE_DUPLICATES = 400

const root = fileURLToPath(new URL("../../../", import.meta.url))
/**
 * The workers run the built packages when their builds are current (CI builds before it tests),
 * as a host runs them: about a fifth less CPU than the sources through tsx, and no transpiling
 * at start. Otherwise (never built, or edited since) they run the sources.
 */
const BUILT = staleBuilds(["core", "store-redis"]).length === 0
const workerFile = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))

interface Running {
  readonly id: string
  readonly child: ChildProcess
  readonly consumer: Promise<string>
  readonly exited: Promise<number | null>
  readonly stderr: Array<string>
  readonly stdout: Array<string>
}

const start = (id: string, prefix: string, farSide: string): Running => {
  const profile = process.env.WAYBILL_MP_PROFILE !== undefined && id === "w1" ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.WAYBILL_MP_PROFILE}`] : []
  const child = spawn(process.execPath, [...profile, ...(BUILT ? [] : ["--conditions=source"]), "--import", "tsx", workerFile], {
    cwd: root,
    env: {
      ...process.env,
      REDIS_URL: url,
      WAYBILL_PREFIX: prefix,
      FAR_SIDE_URL: farSide,
      WORKER_ID: id,
      VISIBILITY_MS: String(VISIBILITY_MS),
      LEASE_MS: String(LEASE_MS)
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const stderr: Array<string> = []
  const stdout: Array<string> = []
  child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()))
  const consumer = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      stdout.push(d.toString())
      const match = /ready (\S+)/.exec(stdout.join(""))
      if (match !== null) resolve(match[1]!)
    })
    child.once("exit", (code) => reject(new Error(`worker ${id} exited (${code}) before it was ready: ${stderr.join("")}`)))
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { id, child, consumer, exited, stderr, stdout }
}

const stop = async (w: Running): Promise<void> => {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return
  w.child.kill("SIGTERM")
  const timer = setTimeout(() => w.child.kill("SIGKILL"), 5000)
  await w.exited
  clearTimeout(timer)
}

const log = (...parts: Array<unknown>) => console.log("[multi-process]", ...parts)

/** Sums the counters the workers printed when they stopped. */
const counters = (workers: ReadonlyArray<Running>): Record<string, number> => {
  const sum: Record<string, number> = {}
  for (const w of workers) {
    for (const match of w.stdout.join("").matchAll(/^metrics (.*)$/gm)) {
      for (const [k, v] of Object.entries(JSON.parse(match[1]!) as Record<string, number>)) sum[k] = (sum[k] ?? 0) + v
    }
  }
  return sum
}

describe("RedisStore and RedisTransport shared by worker processes", () => {
  it.live(
    `${WORKERS} processes ingest ${SHIPMENTS} shipments' histories; one is killed with SIGKILL and restarted`,
    () =>
      Effect.gen(function* () {
        const began = Date.now()
        const prefix = freshPrefix()
        const far = yield* Effect.acquireRelease(
          Effect.promise(() =>
            FarSide.serve({ rate: 0.03, kinds: ["timeout", "server-error", "crash-after-act"], seed: 11 })
          ),
          (server) => Effect.promise(() => server.close())
        )
        const store = yield* RedisStore.make({ url, prefix })
        const transport = yield* RedisTransport.make({ url, prefix })
        yield* Effect.addFinalizer(() => Effect.promise(() => deleteKeys(store.client, prefix)))
        const pipeline = yield* Pipeline.make().pipe(Effect.provideService(Store.Store, store))
        const workers: Array<Running> = []
        yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all(workers.map(stop))))

        // 1. Four workers start (they wait for messages) while this process generates the
        //    histories, registers the shipments and publishes the shuffled, duplicated stream.
        const spawned = Date.now()
        for (let i = 0; i < WORKERS; i++) workers.push(start(`w${i}`, prefix, far.url))
        let t = Date.now()
        const histories = Array.from({ length: SHIPMENTS }, (_, i) => Histories.generate(i * 7919 + 1, {}, i))
        const messages = histories.flatMap((h) => h.events.map((event) => ({ _tag: "Event" as const, event })))
        let seed = 99
        for (let i = messages.length - 1; i > 0; i--) {
          seed = (seed * 1103515245 + 12345) >>> 0
          const j = seed % (i + 1)
          ;[messages[i], messages[j]] = [messages[j]!, messages[i]!]
        }
        const distinct = new Set(messages.map((m) => Pipeline.idempotencyKey(m.event))).size
        expect((messages.length - distinct) / messages.length).toBeGreaterThan(0.15)
        const generated = Date.now() - t
        t = Date.now()
        yield* Effect.forEach(histories, (h, i) => pipeline.register(Histories.intake(h, i)), {
          concurrency: 64,
          discard: true
        })
        const registered = Date.now() - t
        t = Date.now()
        yield* Worker.publish(messages).pipe(Effect.provideService(Transport.Transport, transport))
        const published = Date.now() - t
        log(`${SHIPMENTS} shipments, ${messages.length} messages (${messages.length - distinct} duplicates): generated in ${generated} ms, registered in ${registered} ms, published in ${published} ms`)

        // 2. The workers consume.
        const consumers = yield* Effect.promise(() => Promise.all(workers.map((w) => w.consumer)))
        const ingestStart = Date.now()
        log(`${WORKERS} workers (${BUILT ? "the built packages" : "the sources, through tsx"}) ready ${ingestStart - spawned} ms after spawning`)

        // 3. Kill w0 while it holds unacknowledged messages and leased actions.
        const streamOf = (id: string) => transport.streamKey(Worker.TOPIC, transport.partitionOfId(id)!)
        const leasedBy = (owner: string) =>
          Effect.promise(async () => {
            const out: Array<{ key: string; base: string }> = []
            for (let p = 0; p < store.partitions; p++) {
              const base = `{${prefix}:p${p}}:`
              const keys = await store.client.zrange(`${base}l`, 0, -1)
              const owners = await Promise.all(keys.map((k) => store.client.hget(`${base}o:${k}`, "w")))
              keys.forEach((k, i) => owners[i] === owner && out.push({ key: k, base }))
            }
            return out
          })
        const heldBy = (consumer: string) =>
          Effect.promise(async () => {
            const rows = await Promise.all(
              Array.from({ length: transport.partitions }, (_, p) =>
                store.client.xpending(transport.streamKey(Worker.TOPIC, p), Worker.GROUP, "-", "+", 100_000, consumer)
              )
            )
            return (rows.flat() as Array<[string]>).map((row) => row[0])
          })
        let victimMessages: Array<string> = []
        let victimActions: Array<{ key: string; base: string }> = []
        const total = messages.length
        while (true) {
          const pending = yield* transport.pending(Worker.TOPIC, Worker.GROUP)
          if (pending < total * 0.75) {
            victimMessages = yield* heldBy(consumers[0]!)
            victimActions = yield* leasedBy(consumers[0]!)
            // Mid-run for real: a batch of messages and a good number of far-side calls in flight.
            if (victimMessages.length > 0 && victimActions.length >= 10) break
          }
          if (Date.now() - ingestStart > 120_000) throw new Error("w0 never held messages and actions at once")
          yield* Effect.sleep("20 millis")
        }
        workers[0]!.child.kill("SIGKILL")
        const killedAt = Date.now()
        yield* Effect.promise(() => workers[0]!.exited)
        const pendingAtKill = yield* transport.pending(Worker.TOPIC, Worker.GROUP)
        log(`killed w0 (SIGKILL) ${killedAt - ingestStart} ms in: it held ${victimMessages.length} unacknowledged messages and ${victimActions.length} leased actions; ${total - pendingAtKill} of ${total} messages acknowledged so far`)
        yield* Effect.sleep("200 millis")
        workers[0] = start("w0", prefix, far.url)
        yield* Effect.promise(() => workers[0]!.consumer)

        // 4. Wait until every message is acknowledged and the outbox is empty.
        let messagesRecoveredAt: number | undefined
        let actionsRecoveredAt: number | undefined
        let reported = Date.now()
        while (true) {
          const now = Date.now()
          const still = yield* Effect.promise(() =>
            Promise.all(victimMessages.map((id) => store.client.xpending(streamOf(id), Worker.GROUP, id, id, 1)))
          )
          const messagesLeft = still.filter((rows) => (rows as Array<unknown>).length > 0).length
          if (messagesRecoveredAt === undefined && messagesLeft === 0) messagesRecoveredAt = now
          const done = yield* Effect.promise(() =>
            Promise.all(victimActions.map(({ key, base }) => store.client.exists(`${base}dn:${key}`)))
          )
          const actionsLeft = done.filter((n) => n === 0).length
          if (actionsRecoveredAt === undefined && actionsLeft === 0) actionsRecoveredAt = now
          const pending = yield* transport.pending(Worker.TOPIC, Worker.GROUP)
          const outbox = yield* store.outboxStats()
          if (pending === 0 && outbox.total === 0) {
            expect({ messagesLeft, actionsLeft }).toEqual({ messagesLeft: 0, actionsLeft: 0 })
            break
          }
          if (now - reported > 10_000) {
            reported = now
            log(`${now - ingestStart} ms: pending ${pending}, outbox ${JSON.stringify(outbox)}, the killed worker's messages left ${messagesLeft}, actions left ${actionsLeft}`)
          }
          if (now - ingestStart > 240_000) throw new Error(`not drained: pending ${pending}, outbox ${JSON.stringify(outbox)}`)
          yield* Effect.sleep("50 millis")
        }
        const drained = Date.now() - ingestStart
        log(`drained ${drained} ms after the workers started (${Math.round((total / drained) * 1000)} messages/s end to end); the killed worker's messages were all acknowledged ${messagesRecoveredAt! - killedAt} ms and its leased actions all done ${actionsRecoveredAt! - killedAt} ms after the kill (visibility ${VISIBILITY_MS} ms, lease ${LEASE_MS} ms)`)

        // 5. Late duplicates after completion: half still marked seen, half with the mark gone.
        const effectsBefore = far.effects.length
        const late = messages.filter((_, i) => i % Math.floor(messages.length / LATE_DUPLICATES) === 0).slice(0, LATE_DUPLICATES)
        const expired = late.slice(0, LATE_DUPLICATES / 2)
        yield* Effect.promise(() =>
          Promise.all(
            expired.map((m) => {
              const key = Pipeline.idempotencyKey(m.event)
              return store.client.del(`{${prefix}:p${store.partitionOf(key)}}:k:${key}`)
            })
          )
        )
        expect(yield* store.seen(expired.map((m) => Pipeline.idempotencyKey(m.event)))).toEqual(expired.map(() => false))
        const versionsBefore = yield* Effect.forEach(late, (m) => store.load(m.event.shipmentId))
        yield* transport.publish(
          Worker.TOPIC,
          late.map((m) => ({ key: m.event.shipmentId, body: JSON.stringify(Schema.encodeSync(Pipeline.InboundMessage)(m)) }))
        )
        while ((yield* transport.pending(Worker.TOPIC, Worker.GROUP)) > 0) yield* Effect.sleep("20 millis")
        const versionsAfter = yield* Effect.forEach(late, (m) => store.load(m.event.shipmentId))
        expect(versionsAfter.map((r) => r?.version)).toEqual(versionsBefore.map((r) => r?.version))
        expect(yield* store.outboxSize()).toBe(0)
        expect(far.effects.length).toBe(effectsBefore)

        const restarted = workers[0]!
        yield* Effect.promise(() => Promise.all(workers.map(stop)))
        for (const w of workers) expect(w.stderr.join("")).not.toMatch(/failed/)
        const c = counters([...workers.slice(1), restarted])
        log(`counters of the surviving and restarted workers: ${JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => /events_total|conflicts|actions_total/.test(k))))}`)

        // 6. Every state holds the oracle's facts and shows its view byte for byte; nothing was lost.
        expect(yield* oracleMismatches(pipeline, histories)).toBe(0)

        // 7. Every enqueued action is done, and its effect happened exactly once at the far side.
        const done = yield* Effect.promise(() => doneKeys(store.client, prefix))
        const mismatches = effectMismatches(far.effects, done)
        expect(mismatches.notOnce).toEqual([])
        expect(mismatches.notDone).toEqual([])
        expect(mismatches.noEffect).toEqual([])
        expect(done.size).toBeGreaterThan(SHIPMENTS * 5)
        expect([...far.invoices.values()].every((n) => n === 1)).toBe(true)
        const calls = [...far.calls.values()].reduce((a, b) => a + b, 0)
        const victimRecalled = victimActions.filter(({ key }) => (far.calls.get(key) ?? 0) > 1).length
        log(`${done.size} actions done, ${far.effects.length} effects, each exactly once (${calls} far-side calls: transient faults and reclaimed leases were retried; ${victimRecalled} of the killed worker's ${victimActions.length} in-flight actions were called again after the reclaim and deduplicated by key at the far side)`)

        // 8. Nothing pending, nothing dead, the audit trail intact.
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        expect(yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 10)).toEqual([])
        expect(yield* store.deadLetters({ limit: 10 })).toEqual([])
        const audit = yield* Audit.verify.pipe(Effect.provideService(Store.Store, store))
        expect(audit.problems).toEqual([])
        expect(audit.streams).toBe(SHIPMENTS)
        log(`verified ${SHIPMENTS} states and ${audit.entries} audit entries; total ${Date.now() - began} ms`)
      }).pipe(Effect.scoped),
    300_000
  )
})
