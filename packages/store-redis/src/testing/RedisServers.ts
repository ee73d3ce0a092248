/**
 * Throwaway Redis servers for tests and benchmarks. `startCluster()` starts a Redis Cluster:
 * `redis-server` child processes (the binary from `REDIS_SERVER`, else `redis-server` on PATH)
 * on free ports of 127.0.0.1, joined into a cluster with plain commands (no `redis-cli`):
 *
 * 1. every node starts with `--cluster-enabled yes` and a config file in a fresh temp dir;
 * 2. the masters get their config epochs (1..n) and the 16,384 slots, split evenly
 *    (`CLUSTER ADDSLOTSRANGE`);
 * 3. the first node meets every other node (`CLUSTER MEET`); gossip does the rest;
 * 4. each replica, once it knows its master's node id, follows it (`CLUSTER REPLICATE`);
 * 5. it waits (20 s at most) until every node knows every other, reports `cluster_state:ok`,
 *    and every replica's link to its master is up.
 *
 * ```ts
 * const cluster = await startCluster()            // 3 masters, 1 replica each
 * const client = cluster.client()                 // an ioredis Cluster, auto-pipelining on
 * …
 * await client.quit()
 * await cluster.stop()                            // kills the nodes, removes the temp dir
 * ```
 *
 * `startReplicated()` starts a standalone master with one replica the same way;
 * `replicasCaughtUp(master)` waits until a master's replicas acknowledged everything.
 *
 * The nodes are also killed when the test process exits. When `redis-server` cannot be started
 * `startCluster` throws, naming what is missing: a Redis test never skips.
 *
 * @since 0.2.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { rmSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cluster, type ClusterOptions, Redis } from "ioredis"

/**
 * One node of the cluster.
 *
 * @since 0.2.0
 */
export interface ClusterNode {
  readonly host: string
  readonly port: number
  /** The node id (`CLUSTER MYID`). */
  readonly id: string
  readonly role: "master" | "replica"
  /** The first and last slot a master serves; undefined for a replica. */
  readonly slots: readonly [number, number] | undefined
  /** For a replica, the id of the master it follows. */
  readonly masterId: string | undefined
  /** The server's process (SIGSTOP/SIGCONT it to make a node stop answering for a while). */
  readonly process: ChildProcess
}

/**
 * A running test cluster.
 *
 * @since 0.2.0
 */
export interface TestCluster {
  /** Every node, masters first. */
  readonly nodes: ReadonlyArray<ClusterNode>
  readonly masters: ReadonlyArray<ClusterNode>
  readonly replicas: ReadonlyArray<ClusterNode>
  /** A new ioredis Cluster client (auto-pipelining on) seeded with the masters. The caller closes it. */
  readonly client: (options?: ClusterOptions) => Cluster
  /**
   * Starts a node again on its port with its cluster config (a node that was killed): it
   * rejoins the cluster, as a replica of whoever took its slots meanwhile. Returns the node with
   * its new process.
   */
  readonly restart: (node: ClusterNode) => Promise<ClusterNode>
  /** Closes the clients still open, kills the nodes and removes the temp dir. Idempotent. */
  readonly stop: () => Promise<void>
}

/**
 * Options of `startCluster`.
 *
 * @since 0.2.0
 */
export interface StartOptions {
  /** Default 3 (a cluster needs at least 1). */
  readonly masters?: number
  /** Default 1. */
  readonly replicasPerMaster?: number
  /** How long forming the cluster may take. Default 20 s. */
  readonly timeoutMillis?: number
}

const HOST = "127.0.0.1"
const SLOTS = 16384

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Whether a TCP port of 127.0.0.1 can be listened on right now. */
const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once("error", () => resolve(false))
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)))
  })

/** A random port in 20000–29999 whose cluster bus port (+10000) is free too. */
const freePort = async (taken: Set<number>): Promise<number> => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000)
    if (taken.has(port)) continue
    if ((await isFree(port)) && (await isFree(port + 10000))) {
      taken.add(port)
      return port
    }
  }
  throw new Error("test cluster: no free port pair (P, P+10000) found in 20000–29999")
}

interface Spawned {
  readonly port: number
  readonly child: ChildProcess
}

/**
 * Starts one `redis-server` and resolves once it accepts connections. A port lost to a race
 * (someone bound it after the check) is retried on another port; anything else fails loudly.
 */
const spawnNode = async (
  binary: string,
  dir: string,
  taken: Set<number>,
  children: Set<ChildProcess>,
  mode: "cluster" | "standalone" = "cluster",
  /** The port of a node started again (its cluster config file is kept); a free one otherwise. */
  again?: number
): Promise<Spawned> => {
  for (let attempt = 0; ; attempt++) {
    const port = again ?? (await freePort(taken))
    // prettier-ignore
    const args = [
      "--port", String(port),
      "--bind", HOST,
      ...(mode === "cluster"
        ? ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-node-timeout", "2000"]
        : []),
      "--save", "",
      "--appendonly", "no",
      "--dir", dir,
      "--daemonize", "no",
      // A replica's first sync starts at once instead of after the default 5 s wait for more replicas.
      "--repl-diskless-sync-delay", "0"
    ]
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] })
    children.add(child)
    child.once("exit", () => children.delete(child))
    const output: Array<string> = []
    const outcome = await new Promise<"ready" | "in-use" | Error>((resolve) => {
      const onData = (d: Buffer) => {
        output.push(d.toString())
        const text = output.join("")
        if (/Ready to accept connections/.test(text)) resolve("ready")
      }
      child.stdout!.on("data", onData)
      child.stderr!.on("data", onData)
      child.once("error", (cause: NodeJS.ErrnoException) =>
        resolve(
          new Error(
            cause.code === "ENOENT"
              ? `test cluster: cannot start Redis: the binary "${binary}" was not found. The Redis Cluster tests need ` +
                  "redis-server (7.0 or later): put it on PATH or set REDIS_SERVER to its path."
              : `test cluster: cannot start "${binary}": ${String(cause)}`
          )
        )
      )
      child.once("exit", (code, signal) => {
        const text = output.join("")
        resolve(
          /Address already in use/i.test(text)
            ? "in-use"
            : new Error(
                `test cluster: "${binary}" on port ${port} exited (${signal ?? code}) before it was ready. ` +
                  `Its output:\n${text.trim() || "(none)"}`
              )
        )
      })
    })
    child.stdout!.removeAllListeners("data")
    child.stderr!.removeAllListeners("data")
    // Keep draining the pipes so a chatty node never blocks on a full pipe.
    child.stdout!.resume()
    child.stderr!.resume()
    if (outcome === "ready") return { port, child }
    if (outcome === "in-use" && again === undefined && attempt < 5) continue
    if (outcome === "in-use") throw new Error(`test cluster: ports kept being taken while starting redis-server`)
    throw outcome
  }
}

const info = (text: string, field: string): string | undefined =>
  new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim()

/**
 * A temp dir and the server processes started in it: `stop` (once, idempotent) runs `before`,
 * kills the processes, waits for them and removes the dir; a test process exiting without
 * `stop` (a crash, a timeout) takes the processes and their files with it.
 */
const servers = async (dirPrefix: string, before: () => void = () => undefined) => {
  const dir = await mkdtemp(join(tmpdir(), dirPrefix))
  const children = new Set<ChildProcess>()
  const killAll = () => {
    for (const child of children) child.kill("SIGKILL")
  }
  const onExit = () => {
    killAll()
    rmSync(dir, { recursive: true, force: true })
  }
  process.on("exit", onExit)
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      before()
      const exited = [...children].map(
        (child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())))
      )
      killAll()
      await Promise.all(exited)
      process.off("exit", onExit)
      await rm(dir, { recursive: true, force: true })
    })())
  return { dir, children, stop }
}

/**
 * Starts a cluster of `masters` masters with `replicasPerMaster` replicas each and waits until it
 * serves every slot.
 *
 * @since 0.2.0
 */
export const startCluster = async (options: StartOptions = {}): Promise<TestCluster> => {
  const masterCount = options.masters ?? 3
  const replicasPerMaster = options.replicasPerMaster ?? 1
  const timeout = options.timeoutMillis ?? 20_000
  if (!Number.isInteger(masterCount) || masterCount < 1 || masterCount > 100) {
    throw new Error(`test cluster: masters must be an integer in 1..100, got ${masterCount}`)
  }
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`test cluster: replicasPerMaster must be a non-negative integer, got ${replicasPerMaster}`)
  }
  const binary = process.env.REDIS_SERVER ?? "redis-server"
  const admins: Array<Redis> = []
  const clients = new Set<Cluster>()
  const { children, dir, stop } = await servers("waybill-redis-cluster-", () => {
    for (const client of clients) client.disconnect()
    for (const admin of admins) admin.disconnect()
  })

  try {
    const total = masterCount * (1 + replicasPerMaster)
    const taken = new Set<number>()
    // Settle every start before failing, so no node starts after `stop` killed the others.
    const started = await Promise.allSettled(Array.from({ length: total }, () => spawnNode(binary, dir, taken, children)))
    const failed = started.find((s) => s.status === "rejected")
    if (failed !== undefined) throw failed.reason
    const spawned = started.map((s) => (s as PromiseFulfilledResult<Spawned>).value)
    for (const s of spawned) {
      const admin = new Redis({ host: HOST, port: s.port, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true })
      admin.on("error", () => undefined)
      admins.push(admin)
    }
    await Promise.all(admins.map((a) => a.connect()))
    const ids = await Promise.all(admins.map((a) => a.call("CLUSTER", "MYID") as Promise<string>))

    // Slots and epochs on the masters (a distinct epoch each: no collision to resolve later).
    const nodes: Array<ClusterNode> = []
    for (let m = 0; m < masterCount; m++) {
      const first = Math.floor((m * SLOTS) / masterCount)
      const last = Math.floor(((m + 1) * SLOTS) / masterCount) - 1
      await admins[m]!.call("CLUSTER", "SET-CONFIG-EPOCH", String(m + 1))
      await admins[m]!.call("CLUSTER", "ADDSLOTSRANGE", String(first), String(last))
      nodes.push({
        host: HOST,
        port: spawned[m]!.port,
        id: ids[m]!,
        role: "master",
        slots: [first, last],
        masterId: undefined,
        process: spawned[m]!.child
      })
    }
    for (let i = masterCount; i < total; i++) {
      const masterIndex = (i - masterCount) % masterCount
      nodes.push({
        host: HOST,
        port: spawned[i]!.port,
        id: ids[i]!,
        role: "replica",
        slots: undefined,
        masterId: ids[masterIndex],
        process: spawned[i]!.child
      })
    }

    // The first node meets everyone; gossip introduces the rest.
    for (let i = 1; i < total; i++) await admins[0]!.call("CLUSTER", "MEET", HOST, String(spawned[i]!.port))

    const deadline = Date.now() + timeout
    const waitFor = async (what: string, check: () => Promise<string | undefined>) => {
      let problem: string | undefined
      while (Date.now() < deadline) {
        problem = await check()
        if (problem === undefined) return
        await sleep(50)
      }
      throw new Error(`test cluster: ${what} within ${timeout} ms (${masterCount} masters, ${replicasPerMaster} replicas each): ${problem}`)
    }

    // Replicas follow their master once they know it as a master.
    await Promise.all(
      nodes.map(async (node, i) => {
        if (node.role !== "replica") return
        await waitFor(`replica ${node.port} did not learn its master ${node.masterId}`, async () => {
          const table = (await admins[i]!.call("CLUSTER", "NODES")) as string
          const line = table.split("\n").find((l) => l.startsWith(`${node.masterId} `))
          return line !== undefined && /\bmaster\b/.test(line.split(" ")[2] ?? "") && !/handshake|noaddr/.test(line)
            ? undefined
            : `not in its CLUSTER NODES yet`
        })
        await admins[i]!.call("CLUSTER", "REPLICATE", node.masterId!)
      })
    )

    await waitFor("the cluster did not become ready", async () => {
      for (const [i, node] of nodes.entries()) {
        const clusterInfo = (await admins[i]!.call("CLUSTER", "INFO")) as string
        if (info(clusterInfo, "cluster_state") !== "ok") return `node ${node.port}: cluster_state ${info(clusterInfo, "cluster_state")}`
        if (info(clusterInfo, "cluster_known_nodes") !== String(total)) {
          return `node ${node.port} knows ${info(clusterInfo, "cluster_known_nodes")} of ${total} nodes`
        }
        const table = (await admins[i]!.call("CLUSTER", "NODES")) as string
        const replicasSeen = table.split("\n").filter((l) => /\bslave\b/.test(l.split(" ")[2] ?? "")).length
        if (replicasSeen !== total - masterCount) return `node ${node.port} sees ${replicasSeen} of ${total - masterCount} replicas`
        if (node.role === "replica") {
          const replication = await admins[i]!.info("replication")
          if (info(replication, "master_link_status") !== "up") {
            return `replica ${node.port}: master_link_status ${info(replication, "master_link_status")}`
          }
        }
      }
      return undefined
    })

    const masters = nodes.filter((n) => n.role === "master")
    return {
      nodes,
      masters,
      replicas: nodes.filter((n) => n.role === "replica"),
      client: (clientOptions = {}) => {
        const client = new Cluster(
          masters.map((m) => ({ host: m.host, port: m.port })),
          { enableAutoPipelining: true, ...clientOptions }
        )
        clients.add(client)
        client.once("end", () => clients.delete(client))
        return client
      },
      restart: async (node) => {
        const { child } = await spawnNode(binary, dir, taken, children, "cluster", node.port)
        return { ...node, process: child }
      },
      stop
    }
  } catch (cause) {
    await stop()
    throw cause
  }
}

/**
 * A standalone master with one replica.
 *
 * @since 0.2.0
 */
export interface ReplicatedPair {
  readonly master: { readonly host: string; readonly port: number; readonly url: string; readonly process: ChildProcess }
  readonly replica: { readonly host: string; readonly port: number; readonly url: string; readonly process: ChildProcess }
  /** Kills both servers and removes the temp dir. Idempotent. */
  readonly stop: () => Promise<void>
}

/**
 * Starts a standalone (non-cluster) master and a replica following it, and waits until the
 * replica's link is up. Same binary, ports and cleanup rules as `startCluster`.
 *
 * @since 0.2.0
 */
export const startReplicated = async (timeoutMillis = 20_000): Promise<ReplicatedPair> => {
  const binary = process.env.REDIS_SERVER ?? "redis-server"
  const { children, dir, stop } = await servers("waybill-redis-pair-")
  try {
    const taken = new Set<number>()
    const [master, replica] = await Promise.all([
      spawnNode(binary, dir, taken, children, "standalone"),
      spawnNode(binary, dir, taken, children, "standalone")
    ])
    const admin = new Redis({ host: HOST, port: replica!.port, maxRetriesPerRequest: 1 })
    admin.on("error", () => undefined)
    try {
      await admin.call("REPLICAOF", HOST, String(master!.port))
      const deadline = Date.now() + timeoutMillis
      while (info(await admin.info("replication"), "master_link_status") !== "up") {
        if (Date.now() > deadline) throw new Error(`test pair: the replica's link to its master was not up within ${timeoutMillis} ms`)
        await sleep(50)
      }
    } finally {
      admin.disconnect()
    }
    const node = (s: Spawned) => ({ host: HOST, port: s.port, url: `redis://${HOST}:${s.port}`, process: s.child })
    return { master: node(master!), replica: node(replica!), stop }
  } catch (cause) {
    await stop()
    throw cause
  }
}

/**
 * Resolves once every replica of a master acknowledged everything the master sent it. After a
 * `WAIT` that timed out, Redis 7.0's replica may report its offset only with its once-a-second
 * ACK, so a test that froze a replica waits for this before it expects `WAIT` to succeed again.
 *
 * @since 0.2.0
 */
export const replicasCaughtUp = async (master: { readonly host: string; readonly port: number }, timeoutMillis = 10_000): Promise<void> => {
  const admin = new Redis({ host: master.host, port: master.port, maxRetriesPerRequest: 1 })
  admin.on("error", () => undefined)
  try {
    const deadline = Date.now() + timeoutMillis
    while (Date.now() < deadline) {
      const replication = await admin.info("replication")
      const offset = info(replication, "master_repl_offset")
      const acked = [...replication.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((m) => m[1])
      if (acked.length > 0 && acked.every((a) => a === offset)) return
      await sleep(20)
    }
    throw new Error(`test cluster: the replicas of ${master.host}:${master.port} did not catch up within ${timeoutMillis} ms`)
  } finally {
    admin.disconnect()
  }
}
