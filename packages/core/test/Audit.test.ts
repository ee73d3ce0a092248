/**
 * `Audit.append` over a store whose answer can be lost: a re-sent append (a client that resends a
 * command whose reply never came, as ioredis does after a reconnect) must not chain the entry twice.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Audit from "../src/Audit.js"
import * as MemoryStore from "../src/MemoryStore.js"
import * as Store from "../src/Store.js"

describe("Audit.append", () => {
  it.effect("an append whose reply was lost and whose resend was refused as stale is not chained twice", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryStore.make
      let lost = 1
      // The first append reaches the store, but the caller hears `false`: the reply of the first
      // send was lost and the client's resend found the head moved (by that first send).
      const store: Store.StoreShape = {
        ...memory,
        appendAudit: (entry) =>
          Effect.map(memory.appendAudit(entry), (appended) => {
            if (appended && lost > 0) {
              lost--
              return false
            }
            return appended
          })
      }
      const entry = yield* Audit.append("ops", { at: 5, kind: "replay", body: '{"by":"ops@example.com"}' }).pipe(
        Effect.provideService(Store.Store, store)
      )
      const stored = yield* memory.readAudit("ops", 1, 10)
      expect(stored.map((e) => e.kind)).toEqual(["replay"])
      expect(entry).toEqual(stored[0])
      expect((yield* Audit.verify.pipe(Effect.provideService(Store.Store, memory))).ok).toBe(true)
    }))

  it.effect("another writer's entry at the same seq is not taken for this one: it is chained after it", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryStore.make
      let raced = false
      const store: Store.StoreShape = {
        ...memory,
        appendAudit: (entry) =>
          Effect.gen(function* () {
            if (!raced) {
              raced = true
              // another process appends first, with other content
              yield* Audit.append("ops", { at: 4, kind: "replay", body: '{"by":"other@example.com"}' }).pipe(
                Effect.provideService(Store.Store, memory)
              )
            }
            return yield* memory.appendAudit(entry)
          })
      }
      yield* Audit.append("ops", { at: 5, kind: "replay", body: '{"by":"ops@example.com"}' }).pipe(
        Effect.provideService(Store.Store, store)
      )
      const stored = yield* memory.readAudit("ops", 1, 10)
      expect(stored.map((e) => JSON.parse(e.body).by)).toEqual(["other@example.com", "ops@example.com"])
    }))
})
