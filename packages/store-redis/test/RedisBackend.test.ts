/**
 * `RedisBackend.open`: the Promise way for a host without Effect to run the facade on Redis.
 */
import { PortError, ShipmentState, Waybill } from "@waybill/core"
import { FakePorts, Histories } from "@waybill/core/simulation"
import * as Effect from "effect/Effect"
import { Redis } from "ioredis"
import { describe, expect, it } from "vitest"
import * as RedisBackend from "../src/RedisBackend.js"
import { deleteKeys, doneKeys, effectMismatches, freshPrefix, requireRedis, url } from "./helpers.js"

await requireRedis()

const rejection = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e)

describe("RedisBackend", () => {
  it("runs the facade on Redis: every state as the oracle's, every effect once, rate limit shared, then closes", async () => {
    const prefix = freshPrefix()
    const redis = await RedisBackend.open({ url, prefix })
    try {
      const far = FakePorts.make({ rate: 0.15, kinds: ["timeout", "rate-limited", "server-error"], retryAfterMillis: 2 })
      const waybill = await Waybill.create({
        erp: far.erp,
        helpdesk: far.helpdesk,
        notifier: far.notifier,
        store: redis.store,
        transport: redis.transport,
        worker: { waitMillis: 5 },
        dispatcher: {
          idleMillis: 5,
          retry: { base: "1 millis", cap: "5 millis", maxAttempts: 30 },
          rateLimits: { erp: { limit: 100_000, interval: "1 hour" } },
          sharedRateLimit: redis.rateLimit
        }
      })
      const histories = Array.from({ length: 25 }, (_, i) => Histories.generate(i + 101, { cancellations: false }, i))
      for (const [i, h] of histories.entries()) await waybill.registerOrder(Histories.intake(h, i))
      await waybill.start()
      // Each history's arrivals (retransmissions included), then every event once more.
      for (const h of histories) for (const event of h.events) await waybill.ingest({ _tag: "Event", event })
      for (const h of histories) for (const event of h.events) await waybill.ingest({ _tag: "Event", event })
      await waybill.drain({ timeoutMillis: 60_000 })
      for (const h of histories) {
        const oracle = ShipmentState.fold(h.shipmentId, h.companyId, h.events)
        const summary = await waybill.shipment(h.shipmentId)
        expect(summary?.status).toBe(oracle.view.status)
        expect(summary?.milestones).toEqual([...ShipmentState.milestoneKeys(oracle)])
      }
      await waybill.stop()
      expect(far.effects.length).toBeGreaterThan(histories.length)
      expect(effectMismatches(far.effects, await doneKeys(redis.store.client, prefix))).toEqual({ notOnce: [], notDone: [], noEffect: [] })
      // The shared limit's window lives in Redis, under the prefix.
      expect(await redis.store.client.exists(redis.rateLimit.windowKey("erp"))).toBe(1)
      expect(await deleteKeys(redis.store.client, prefix)).toBeGreaterThan(0)
    } finally {
      await deleteKeys(redis.store.client, prefix).catch(() => 0)
      await redis.close()
    }
    // The connection `open` made is closed: nothing can be sent on it any more.
    await expect(redis.store.client.ping()).rejects.toThrow(/closed/i)
    await redis.close() // a second close is harmless
  }, 90_000)

  it("leaves a client the host owns open, and shares it among the three drivers", async () => {
    const client = new Redis(url)
    const prefix = freshPrefix()
    try {
      const redis = await RedisBackend.open({ client, prefix })
      expect(redis.store.client).toBe(client)
      expect(redis.transport.client).toBe(client)
      expect(redis.rateLimit.client).toBe(client)
      const take = () => Effect.runPromise(redis.rateLimit.take("erp", 1, 60_000))
      expect(await take()).toBe(0)
      expect(await take()).toBeGreaterThan(0)
      await redis.close()
      expect(await client.ping()).toBe("PONG")
    } finally {
      await deleteKeys(client, prefix)
      client.disconnect()
    }
  })

  it("rejects with a typed error naming what is wrong, never the URL's password", async () => {
    const badPrefix = await rejection(RedisBackend.open({ url, prefix: "a{b}" }))
    expect(badPrefix).toBeInstanceOf(PortError.StorageError)
    expect(badPrefix).toMatchObject({ reason: "Invalid", message: expect.stringMatching(/prefix/) })

    const badUrl = await rejection(RedisBackend.open({ url: "redis://localhost:port" }))
    expect(badUrl).toMatchObject({ _tag: "StorageError", reason: "Invalid" })

    // Nothing listens on port 1: Unavailable, and the password stays out of the message.
    const down = await rejection(
      RedisBackend.open({ url: "redis://:s3cret-pw@127.0.0.1:1", redisOptions: { retryStrategy: () => null, maxRetriesPerRequest: 0 } })
    )
    expect(down).toMatchObject({ _tag: "StorageError", reason: "Unavailable" })
    expect(String((down as Error).message)).not.toContain("s3cret-pw")
  })
})
