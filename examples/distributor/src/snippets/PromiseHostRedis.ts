/**
 * The Promise host of `PromiseHost.ts` on Redis, so that several processes share the work: the
 * store, transport and shared rate limit from `RedisBackend.open`, quoted in
 * `docs/getting-started.md` (a test checks that the guide and this file agree;
 * `tsc -b examples/distributor` checks that it compiles).
 *
 * @since 0.2.0
 */
// #region redis
import { type ErpPort, Waybill } from "@waybill/core"
import { RedisBackend } from "@waybill/store-redis"

export const startOnRedis = async (erp: ErpPort.ErpPortShape) => {
  const redis = await RedisBackend.open({ url: process.env.REDIS_URL, prefix: "acme" })
  const waybill = await Waybill.create({
    erp,
    store: redis.store,
    transport: redis.transport,
    // At most 20 calls a second to Odoo from all the processes together.
    dispatcher: { rateLimits: { erp: { limit: 20, interval: "1 second" } }, sharedRateLimit: redis.rateLimit }
  })
  await waybill.start()
  const stop = async () => {
    await waybill.stop()
    await redis.close() // after stop(): no worker uses the connection any more
  }
  return { waybill, stop }
}
// #endregion redis
