/**
 * bench/redis: events per second end to end through the Redis transport and store, with 1 and 4
 * worker processes, beside a baseline measured in the same run on the same Redis: BullMQ
 * (`addBulk` + a Worker at concurrency 50 with a trivial handler).
 *
 *   pnpm --filter @waybill/bench redis [shipments=2000] [rounds=3] [--profile]
 *
 * It measures the built packages (`pnpm build` first; `./built.ts` refuses a stale build).
 *
 * Workload: every event of `shipments` realistic histories (`Histories.generate`: shuffled
 * across shipments, ~30% retransmitted duplicates, retractions, stale scans), pre-loaded into
 * the queue; shipments registered beforehand. A waybill worker process runs the core `Worker`
 * (Redis Streams consumer group) and `Pipeline` over `RedisStore`: per event a seen check, a
 * record load and one commit script (version CAS + state + event + audit entry + outbox actions),
 * commits pipelined across shipments. BullMQ gets the same number of jobs and a handler that
 * does nothing. Each figure is the median of the rounds, measured from "go" (all worker
 * processes connected and idle) until the queue is drained; process start-up is excluded.
 *
 * "Where time goes" reports, for the median 1-worker waybill round: Redis server time per
 * command (INFO commandstats), Redis CPU, worker CPU per event, and with `--profile` the
 * worker's CPU profile by component.
 *
 * Every key the bench writes is deleted afterwards (waybill prefix `{bench:<id>…`, BullMQ
 * prefix `bench-bull-<id>`).
 */
import "./built.js"
import { Metrics, Pipeline, Store, Transport, Worker } from "@waybill/core"
import { Histories } from "@waybill/core/simulation"
import { RedisStore, RedisTransport } from "@waybill/store-redis"
import { Queue, Worker as BullWorker } from "bullmq"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import { Redis } from "ioredis"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
/** Batches each waybill worker keeps in flight (`Worker` option `concurrency`). */
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 2)
const self = fileURLToPath(import.meta.url)
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

// ------------------------------------------------------------------------------------------------
// child processes: one worker each, waiting for "go" on stdin, reporting on "stop"
// ------------------------------------------------------------------------------------------------

const child = async (role: string, prefix: string) => {
  const lines = createInterface({ input: process.stdin })
  const next = () => new Promise<string>((resolve) => lines.once("line", resolve))
  const say = (line: string) => process.stdout.write(`${line}\n`)
  if (role === "bullmq") {
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
    let done = 0
    const worker = new BullWorker("bench", async () => undefined, { connection, prefix, concurrency: 50, autorun: false })
    worker.on("completed", () => done++)
    await worker.waitUntilReady()
    say("ready")
    await next()
    const cpu = process.cpuUsage()
    void worker.run()
    await next()
    const used = process.cpuUsage(cpu)
    await worker.close(true)
    connection.disconnect()
    say(`stats ${JSON.stringify({ processed: done, cpuMillis: (used.user + used.system) / 1000 })}`)
    return
  }
  // waybill
  const layer = Pipeline.layer().pipe(
    Layer.provideMerge(Layer.mergeAll(RedisStore.layer({ url: REDIS_URL, prefix }), RedisTransport.layer({ url: REDIS_URL, prefix })))
  )
  await Effect.runPromise(
    Effect.gen(function* () {
      const worker = yield* Worker.make({ batch: 256, waitMillis: 50, concurrency: WORKER_CONCURRENCY })
      say("ready")
      yield* Effect.promise(next)
      const cpu = process.cpuUsage()
      const from = Number(process.hrtime.bigint() / 1000n)
      const fiber = yield* Effect.fork(worker.run)
      yield* Effect.promise(next)
      const used = process.cpuUsage(cpu)
      const to = Number(process.hrtime.bigint() / 1000n)
      yield* Fiber.interrupt(fiber)
      const conflicts = Number((yield* Metric.value(Metrics.conflicts)).count)
      const cache = (yield* RedisStore.RedisStore).cacheStats()
      say(`stats ${JSON.stringify({ cpuMillis: (used.user + used.system) / 1000, window: [from, to], conflicts, cache })}`)
    }).pipe(Effect.provide(layer), Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error))
  )
}

interface Running {
  readonly process: ChildProcess
  readonly lines: Array<string>
  readonly waitFor: (prefix: string) => Promise<string>
}

const start = (role: string, prefix: string, profileDir?: string): Running => {
  const args = [
    ...(profileDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
    "--import",
    "tsx",
    self,
    "child",
    role,
    prefix
  ]
  const proc = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] })
  const lines: Array<string> = []
  const waiters: Array<{ prefix: string; resolve: (line: string) => void }> = []
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    lines.push(line)
    for (const w of [...waiters]) {
      if (line.startsWith(w.prefix)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  })
  return {
    process: proc,
    lines,
    waitFor: (prefix) => {
      const seen = lines.find((l) => l.startsWith(prefix))
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ prefix, resolve }))
    }
  }
}

// ------------------------------------------------------------------------------------------------
// parent
// ------------------------------------------------------------------------------------------------

const deleteByPattern = async (client: Redis, pattern: string) => {
  let cursor = "0"
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000)
    cursor = next
    if (keys.length > 0) await client.unlink(...keys)
  } while (cursor !== "0")
}

const commandStats = async (client: Redis): Promise<Map<string, { calls: number; usec: number }>> => {
  const out = new Map<string, { calls: number; usec: number }>()
  for (const line of (await client.info("commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line)
    if (m !== null) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) })
  }
  return out
}

const redisCpu = async (client: Redis): Promise<number> => {
  const info = await client.info("cpu")
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0)
  const user = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0)
  return (sys + user) * 1000
}

interface Round {
  /** The measured window of the first worker (monotonic microseconds), for its CPU profile. */
  readonly window?: readonly [number, number]
  readonly rate: number
  readonly events: number
  readonly seconds: number
  readonly workerCpuMillis: number
  /** Version CAS conflicts the workers re-applied (another process committed the shipment first). */
  readonly conflicts: number
  /** Record loads that found the current version in the worker's cache, and those that did not. */
  readonly cache: { readonly hits: number; readonly misses: number }
  readonly redisCpuMillis: number
  readonly commands: Map<string, { calls: number; usec: number }>
  readonly profileDir?: string
}

const drainWhile = async (busy: () => Promise<boolean>) => {
  while (await busy()) await new Promise((r) => setTimeout(r, 25))
}

const goAndMeasure = async (
  admin: Redis,
  workers: ReadonlyArray<Running>,
  events: number,
  busy: () => Promise<boolean>
): Promise<Omit<Round, "profileDir">> => {
  await Promise.all(workers.map((w) => w.waitFor("ready")))
  const before = await commandStats(admin)
  const cpuBefore = await redisCpu(admin)
  const t0 = performance.now()
  for (const w of workers) w.process.stdin!.write("go\n")
  await drainWhile(busy)
  const seconds = (performance.now() - t0) / 1000
  const cpuAfter = await redisCpu(admin)
  const after = await commandStats(admin)
  for (const w of workers) w.process.stdin!.write("stop\n")
  const stats = await Promise.all(workers.map((w) => w.waitFor("stats")))
  await Promise.all(workers.map((w) => new Promise((r) => (w.process.exitCode !== null ? r(undefined) : w.process.once("exit", r)))))
  const commands = new Map<string, { calls: number; usec: number }>()
  for (const [name, a] of after) {
    const b = before.get(name) ?? { calls: 0, usec: 0 }
    if (a.calls > b.calls) commands.set(name, { calls: a.calls - b.calls, usec: a.usec - b.usec })
  }
  const parsed = stats.map(
    (s) =>
      JSON.parse(s.slice(6)) as {
        cpuMillis: number
        window?: [number, number]
        conflicts?: number
        cache?: { hits: number; misses: number }
      }
  )
  return {
    ...(parsed[0]?.window !== undefined ? { window: parsed[0].window } : {}),
    rate: events / seconds,
    events,
    seconds,
    workerCpuMillis: parsed.reduce((sum, s) => sum + s.cpuMillis, 0),
    conflicts: parsed.reduce((sum, s) => sum + (s.conflicts ?? 0), 0),
    cache: parsed.reduce(
      (sum, s) => ({ hits: sum.hits + (s.cache?.hits ?? 0), misses: sum.misses + (s.cache?.misses ?? 0) }),
      { hits: 0, misses: 0 }
    ),
    redisCpuMillis: cpuAfter - cpuBefore,
    commands
  }
}

const histories = (shipments: number, round: number) =>
  Array.from({ length: shipments }, (_, i) => Histories.generate(i * 7919 + 1 + round * 104729, {}, i))

const shuffled = <A>(items: Array<A>, seed: number): Array<A> => {
  let s = seed
  for (let i = items.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0
    const j = s % (i + 1)
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

const waybillRound = async (admin: Redis, shipments: number, workerCount: number, round: number, profile: boolean): Promise<Round> => {
  const prefix = `bench:${randomUUID()}`
  const hs = histories(shipments, round)
  const messages = shuffled(hs.flatMap((h) => h.events.map((event) => ({ _tag: "Event" as const, event }))), 99 + round)
  // With --profile, the first worker process of the round writes a CPU profile.
  const profileDir = profile ? mkdtempSync(join(tmpdir(), "waybill-bench-")) : undefined
  const workers = Array.from({ length: workerCount }, (_, i) => start("waybill", prefix, i === 0 ? profileDir : undefined))
  try {
    // Registration and publishing happen before "go" and are not measured.
    const measured = await Effect.runPromise(
      Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const transport = yield* Transport.Transport
        yield* Effect.forEach(hs, (h, i) => pipeline.register(Histories.intake(h, i)), { concurrency: 64, discard: true })
        yield* Worker.publish(messages)
        return yield* Effect.promise(() =>
          goAndMeasure(admin, workers, messages.length, () =>
            Effect.runPromise(Effect.map(transport.pending(Worker.TOPIC, Worker.GROUP), (n) => n > 0))
          )
        )
      }).pipe(
        Effect.provide(
          Pipeline.layer().pipe(
            Layer.provideMerge(
              Layer.mergeAll(
                RedisStore.layer({ url: REDIS_URL, prefix }),
                RedisTransport.layer({ url: REDIS_URL, prefix })
              )
            )
          )
        ),
        Effect.scoped
      )
    )
    return { ...measured, ...(profileDir !== undefined ? { profileDir } : {}) }
  } finally {
    for (const w of workers) if (w.process.exitCode === null) w.process.kill("SIGKILL")
    await deleteByPattern(admin, `{${prefix}:*`)
  }
}

const bullRound = async (admin: Redis, jobs: ReadonlyArray<unknown>): Promise<Round> => {
  const prefix = `bench-bull-${randomUUID()}`
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const queue = new Queue("bench", { connection, prefix })
  const workers = [start("bullmq", prefix)]
  try {
    for (let i = 0; i < jobs.length; i += 5000) {
      await queue.addBulk(jobs.slice(i, i + 5000).map((data, j) => ({ name: "event", data, opts: { jobId: `e${i + j}` } })))
    }
    return await goAndMeasure(admin, workers, jobs.length, async () => (await queue.getCompletedCount()) < jobs.length)
  } finally {
    for (const w of workers) if (w.process.exitCode === null) w.process.kill("SIGKILL")
    await queue.obliterate({ force: true })
    await queue.close()
    connection.disconnect()
    await deleteByPattern(admin, `${prefix}:*`)
  }
}

/** Raw store throughput from this process: commits of distinct shipments, 256 in flight. */
const commitRate = async (shipments: number): Promise<number> => {
  const prefix = `bench:${randomUUID()}`
  const body = JSON.stringify({ pad: "x".repeat(3000) })
  return Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* RedisStore.make({ url: REDIS_URL, prefix })
      yield* Effect.addFinalizer(() => Effect.promise(() => deleteByPattern(store.client as Redis, `{${prefix}:*`)))
      const commit = (i: number): Store.Commit => ({
        shipmentId: `s${i}`,
        expectedVersion: 0,
        body,
        idempotencyKeys: [`src|e${i}|fingerprint`],
        events: [{ id: `src|e${i}`, body: "{\"e\":\"x\"}".padEnd(200, " ") }],
        audit: [{ stream: `s${i}`, seq: 1, at: 1, kind: "event", body: "{}", prevHash: "0".repeat(64), hash: "f".repeat(64) }],
        outbox: [
          { key: `s${i}:erp.postNote:x`, shipmentId: `s${i}`, target: "erp", kind: "erp.postNote", payload: "{}".padEnd(600, " "), createdAt: 1, availableAt: 1, attempts: 0 }
        ]
      })
      const t0 = performance.now()
      yield* Effect.forEach(Array.from({ length: shipments }, (_, i) => i), (i) => store.commit(commit(i)), {
        concurrency: 256,
        discard: true
      })
      return shipments / ((performance.now() - t0) / 1000)
    }).pipe(Effect.scoped)
  )
}

/** Self time of a CPU profile within the measured window, by component, and the top functions. */
const profileSummary = (
  dir: string,
  window: readonly [number, number] | undefined
): { readonly components: Array<[string, number]>; readonly functions: Array<[string, number]> } => {
  const files = readdirSync(dir)
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)
  const profile = JSON.parse(readFileSync(files[0]!, "utf8")) as {
    startTime: number
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>
    samples: Array<number>
    timeDeltas: Array<number>
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const components = new Map<string, number>()
  const functions = new Map<string, number>()
  const bucket = (fn: string, url: string): string => {
    if (fn === "(garbage collector)") return "garbage collection"
    if (fn === "(idle)") return "idle (waiting for Redis)"
    if (fn === "(program)") return "V8 / native (program)"
    if (/\/packages\/core\/(src|dist)\//.test(url)) return "waybill core (pipeline, state machine, flows, audit hash)"
    if (/\/packages\/store-redis\/(src|dist)\//.test(url)) return "store-redis (arguments, replies)"
    if (url.includes("/effect/dist/") && /Schema|ParseResult|SchemaAST/.test(url)) return "effect Schema (decode/encode)"
    if (url.includes("/effect/dist/")) return "effect runtime (fibers, scheduling, metrics, spans)"
    if (url.includes("/ioredis/") || url.includes("redis-parser") || url.includes("denque") || url.includes("standard-as-callback")) {
      return "ioredis (commands, reply parsing)"
    }
    if (/node:net|node:internal\/stream|stream_base|writeUtf8String|writev|writeBuffer|afterWrite|onStreamRead/.test(url + " " + fn)) {
      return "socket I/O"
    }
    if (fn === "stringify" || fn === "parse" || fn === "createHash" || fn === "digest" || fn === "update") return "JSON and hashing (native)"
    if (url === "") return "V8 builtins"
    return "other"
  }
  // Only the samples taken while the queue drained (the profile's clock is the monotonic one
  // `process.hrtime` reads); all of them if the clocks do not line up.
  let inWindow = 0
  let t = profile.startTime
  for (const dt of profile.timeDeltas) {
    t += dt
    if (window !== undefined && t >= window[0] && t <= window[1]) inWindow++
  }
  const within = window !== undefined && inWindow > 0 ? window : undefined
  t = profile.startTime
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (within !== undefined && (t < within[0] || t > within[1])) continue
    const node = byId.get(profile.samples[i]!)!
    const { functionName, url, lineNumber } = node.callFrame
    const key = bucket(functionName, url)
    components.set(key, (components.get(key) ?? 0) + dt)
    const fn = `${functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}:${lineNumber + 1}`
    functions.set(fn, (functions.get(fn) ?? 0) + dt)
    total += dt
  }
  rmSync(dir, { recursive: true, force: true })
  const shares = (m: Map<string, number>) =>
    [...m].map(([k, v]): [string, number] => [k, v / Math.max(1, total)]).sort((a, b) => b[1] - a[1])
  return { components: shares(components), functions: shares(functions).slice(0, 12) }
}

const main = async () => {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"))
  const shipments = Number(positional[0] ?? 2000)
  const rounds = Number(positional[1] ?? 3)
  const profile = process.argv.includes("--profile")
  const admin = new Redis(REDIS_URL)
  const server = await admin.info("server")
  const persistence = await admin.config("GET", "appendonly")
  const save = await admin.config("GET", "save")
  console.log(`bench/redis: ${shipments} shipments per round, ${rounds} rounds`)
  console.log(
    `environment: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}, Redis ${/redis_version:(\S+)/.exec(server)?.[1]} (appendonly ${(persistence as Array<string>)[1]}, save "${(save as Array<string>)[1]}")`
  )
  const results = new Map<string, Array<Round>>()
  const record = (name: string, round: Round) => {
    results.set(name, [...(results.get(name) ?? []), round])
    console.log(`  ${name}: ${fmt(round.rate)} events/s (${fmt(round.events)} in ${round.seconds.toFixed(2)} s)`)
  }
  let eventsPerRound = 0
  for (let r = 0; r < rounds; r++) {
    console.log(`round ${r + 1}`)
    const one = await waybillRound(admin, shipments, 1, r, profile && r === 0)
    eventsPerRound = one.events
    record("waybill, 1 worker", one)
    record("waybill, 4 workers", await waybillRound(admin, shipments, 4, r, profile && r === 0))
    const jobs = Array.from({ length: eventsPerRound }, (_, i) => ({ event: i, shipment: `s${i % shipments}` }))
    record("BullMQ, 1 worker (concurrency 50)", await bullRound(admin, jobs))
  }
  const rate = (name: string) => median(results.get(name)!.map((x) => x.rate))
  const bull = rate("BullMQ, 1 worker (concurrency 50)")
  console.log("")
  console.log(`results (median of ${rounds}; ${fmt(eventsPerRound)} events per round):`)
  console.log(`  BullMQ addBulk + Worker, concurrency 50, trivial handler: ${fmt(bull)} jobs/s (baseline)`)
  for (const name of ["waybill, 1 worker", "waybill, 4 workers"]) {
    console.log(`  ${name} (dedupe + load + CAS commit of state, event, audit, outbox): ${fmt(rate(name))} events/s = ${(rate(name) / bull).toFixed(2)} x BullMQ`)
  }
  console.log(`  scaling 1 -> 4 workers: ${(rate("waybill, 4 workers") / rate("waybill, 1 worker")).toFixed(2)} x`)
  const store = await commitRate(20_000)
  console.log(`  store alone (RedisStore.commit from one process, 256 in flight, 3 KB record + event + audit + 1 action): ${fmt(store)} commits/s`)

  // Where time goes, in the median 1-worker round.
  const ones = results.get("waybill, 1 worker")!
  const mid = [...ones].sort((a, b) => a.rate - b.rate)[Math.floor(ones.length / 2)]!
  console.log("")
  console.log(`where time goes (waybill, 1 worker, ${mid.seconds.toFixed(2)} s wall):`)
  console.log(`  worker process CPU: ${fmt(mid.workerCpuMillis)} ms = ${((mid.workerCpuMillis / 1000 / mid.seconds) * 100).toFixed(0)}% of one core, ${((mid.workerCpuMillis * 1000) / mid.events).toFixed(0)} µs per event`)
  console.log(`  Redis CPU: ${fmt(mid.redisCpuMillis)} ms = ${((mid.redisCpuMillis / 1000 / mid.seconds) * 100).toFixed(0)}% of one core, ${((mid.redisCpuMillis * 1000) / mid.events).toFixed(0)} µs per event`)
  const top = [...mid.commands].sort((a, b) => b[1].usec - a[1].usec).slice(0, 8)
  for (const [name, c] of top) {
    console.log(`    ${name.padEnd(12)} ${fmt(c.calls).padStart(9)} calls, ${(c.calls / mid.events).toFixed(2)} per event, ${(c.usec / c.calls).toFixed(1)} µs each, ${fmt(c.usec / 1000)} ms`)
  }
  const fourMid = [...results.get("waybill, 4 workers")!].sort((a, b) => a.rate - b.rate)[Math.floor(rounds / 2)]!
  const hitRate = (r: Round) => `${((r.cache.hits / Math.max(1, r.cache.hits + r.cache.misses)) * 100).toFixed(0)}%`
  console.log(`  CAS conflicts re-applied: ${fmt(mid.conflicts)}; record loads answered from the worker's cache: ${hitRate(mid)}`)
  console.log(
    `  4 workers: worker CPU ${((fourMid.workerCpuMillis * 1000) / fourMid.events).toFixed(0)} µs per event in all, Redis CPU ${((fourMid.redisCpuMillis / 1000 / fourMid.seconds) * 100).toFixed(0)}% of one core, ${fmt(fourMid.conflicts)} CAS conflicts re-applied (${((fourMid.conflicts / fourMid.events) * 100).toFixed(1)}% of events), record loads answered from the worker's cache: ${hitRate(fourMid)} (transport partitions keep each shipment with one process)`
  )
  for (const name of ["waybill, 1 worker", "waybill, 4 workers"]) {
    const profiled = results.get(name)!.find((x) => x.profileDir !== undefined)
    if (profiled === undefined) continue
    const summary = profileSummary(profiled.profileDir!, profiled.window)
    console.log(`  CPU profile of the first worker process (${name}, round 1) while it drained the queue, self time:`)
    for (const [component, share] of summary.components) console.log(`    ${(share * 100).toFixed(1).padStart(5)}%  ${component}`)
    console.log(`  top functions:`)
    for (const [fn, share] of summary.functions) console.log(`    ${(share * 100).toFixed(1).padStart(5)}%  ${fn}`)
  }
  admin.disconnect()
}

if (process.argv[2] === "child") {
  child(process.argv[3]!, process.argv[4]!).then(
    () => process.exit(0),
    (e) => {
      console.error(e)
      process.exit(1)
    }
  )
} else {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
