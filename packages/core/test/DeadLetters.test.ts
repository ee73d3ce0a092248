/**
 * Dead letter replay when the store fails part way.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { DeadLetters, MemoryStore, Pipeline, PortError, Store } from "../src/index.js"

const letter = (id: string): Store.DeadLetter => ({
  id,
  kind: "action",
  target: "notifier",
  shipmentId: "shp-1",
  failedAt: 0,
  attempts: 8,
  error: JSON.stringify({ _tag: "NotifierError", reason: "Unavailable" }),
  payload: JSON.stringify({
    key: id,
    shipmentId: "shp-1",
    target: "notifier",
    kind: "notifier.notify",
    payload: "{}",
    createdAt: 0,
    availableAt: 0,
    attempts: 8
  })
})

describe("DeadLetters.replay", () => {
  it.effect("a requeue the store stops part way is recorded in the ops audit stream", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      yield* store.putDeadLetter(letter("k1"))
      yield* store.putDeadLetter(letter("k2"))
      // The store requeues the first letter, then fails over.
      const flaky: Store.StoreShape = {
        ...store,
        requeue: (ids, now) =>
          Effect.zipRight(
            store.requeue(ids.slice(0, 1), now),
            Effect.fail(
              new PortError.StorageError({ reason: "Unavailable", module: "test", method: "requeue", description: "failover" })
            )
          )
      }
      const exit = yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.make()
        return yield* DeadLetters.replay({ target: "notifier" }, "ops@example.com").pipe(
          Effect.provideService(Pipeline.Pipeline, pipeline)
        )
      }).pipe(Effect.provideService(Store.Store, flaky), Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* store.deadLetters({ limit: 10 })).map((l) => l.id)).toEqual(["k2"])
      // k1 is back in the outbox: the replay that put it there is on record.
      const entries = yield* store.readAudit("ops", 1, 10)
      expect(entries.map((e) => JSON.parse(e.body))).toEqual([
        expect.objectContaining({ by: "ops@example.com", ids: ["k1", "k2"], stopped: "Unavailable" })
      ])
    }))
})
