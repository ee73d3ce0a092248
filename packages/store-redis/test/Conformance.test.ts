/**
 * The core conformance suites against a real Redis: the store with seen marks written inside
 * the commit script (standalone) and after it (the Cluster mode), and the transport with
 * partitioned and single streams.
 */
import { StoreSuite, TransportSuite } from "@waybill/core/testing"
import * as Effect from "effect/Effect"
import * as RedisStore from "../src/RedisStore.js"
import * as RedisTransport from "../src/RedisTransport.js"
import { cleanupOnClose, freshPrefix, requireRedis, url } from "./helpers.js"

await requireRedis()

const store = (options: Partial<RedisStore.Options>) =>
  Effect.gen(function* () {
    const prefix = freshPrefix()
    const store = yield* RedisStore.make({ url, prefix, ...options })
    yield* cleanupOnClose(store.client, prefix)
    return store
  })

StoreSuite.run("RedisStore", store({}))
StoreSuite.run("RedisStore (seen marks after the script, 3 partitions)", store({ seenMarks: "after", partitions: 3 }))
StoreSuite.run("RedisStore (one partition)", store({ partitions: 1 }))

const transport = (options: Partial<RedisTransport.Options>) =>
  Effect.gen(function* () {
    const prefix = freshPrefix()
    const transport = yield* RedisTransport.make({ url, prefix, ...options })
    yield* cleanupOnClose(transport.client, prefix)
    return transport
  })

TransportSuite.run("RedisTransport", transport({}))
TransportSuite.run("RedisTransport (one stream per topic)", transport({ partitions: 1 }))
