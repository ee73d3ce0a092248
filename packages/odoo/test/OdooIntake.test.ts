/**
 * Order intake by `(write_date, id)` cursor: no gaps and no repeats, across restarts, with many
 * orders in one second, with commit order (microseconds) disagreeing with id order, and with new
 * orders arriving while paging.
 */
import { describe, expect, it } from "@effect/vitest"
import { ErpPort, PortError } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as IntakeCursor from "../src/internal/IntakeCursor.js"
import { FakeDatabase } from "../src/internal/fake/database.js"
import * as OdooDomain from "../src/OdooDomain.js"
import * as OdooErp from "../src/OdooErp.js"
import { OdooFake } from "../src/testing/index.js"
import { connect, FetchLayer } from "./helpers.js"

const base = Date.UTC(2026, 10, 27, 12, 0, 0)

const decodeRows = Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ id: Schema.Number, write_date: Schema.String })))

describe("the cursor (against the fake's ORM, in process)", () => {
  const order = FastCheck.record({
    second: FastCheck.integer({ min: 0, max: 3 }),
    ms: FastCheck.integer({ min: 0, max: 999 }),
    confirmed: FastCheck.boolean()
  })
  const scenario = FastCheck.record({
    initial: FastCheck.array(order, { maxLength: 30 }),
    later: FastCheck.array(order, { maxLength: 10 }),
    arriveAfterPoll: FastCheck.integer({ min: 0, max: 6 }),
    limit: FastCheck.integer({ min: 1, max: 8 })
  })

  it("hands out every confirmed order exactly once, whatever the timing and the page size", () => {
    FastCheck.assert(
      FastCheck.property(scenario, ({ arriveAfterPoll, initial, later, limit }) => {
        let now = base
        const db = new FakeDatabase({ version: 17, now: () => now, helpdesk: false, deliveryState: false })
        const confirmed: Array<number> = []
        const add = (o: { second: number; ms: number; confirmed: boolean }, offset: number) => {
          now = base + (o.second + offset) * 1000 + o.ms
          const id = db.create("sale.order", { partner_id: 3 })
          if (o.confirmed) {
            db.confirmOrder(id)
            confirmed.push(id)
          }
        }
        initial.forEach((o) => add(o, 0))
        const query: IntakeCursor.Query<never> = (domain, sort, size) =>
          Effect.sync(() => {
            const ids = db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size })
            return decodeRows(db.read("sale.order", ids, ["write_date"]))
          })
        const confirmedDomain = OdooDomain.isIn("state", ["sale", "done"])
        const seen: Array<number> = []
        let stored: string | undefined // what a Store would keep across restarts
        let polls = 0
        let arrived = later.length === 0
        for (;;) {
          if (!arrived && polls === arriveAfterPoll) {
            later.forEach((o) => add(o, 10))
            arrived = true
          }
          const cursor = stored === undefined ? undefined : IntakeCursor.decode(stored)
          const { cursor: next, page } = Effect.runSync(IntakeCursor.nextPage(query, confirmedDomain, cursor, limit))
          polls++
          seen.push(...page.map((r) => r.id))
          if (next !== undefined) stored = IntakeCursor.encode(next)
          if (page.length === 0 && arrived) break
          if (polls > 500) throw new Error("no progress")
        }
        expect([...seen].sort((a, b) => a - b)).toEqual([...confirmed].sort((a, b) => a - b))
      }),
      { numRuns: 300 }
    )
  })

  it("pages through one crowded second by id even when microseconds order the ids backwards", () => {
    let now = base
    const db = new FakeDatabase({ version: 18, now: () => now, helpdesk: false, deliveryState: false })
    const ids: Array<number> = []
    for (let i = 0; i < 12; i++) {
      now = base + 900 - i * 70 // later ids committed earlier within the same second
      const id = db.create("sale.order", { partner_id: 3 })
      db.confirmOrder(id)
      ids.push(id)
    }
    const query: IntakeCursor.Query<never> = (domain, sort, size) =>
      Effect.sync(() =>
        decodeRows(db.read("sale.order", db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size }), ["write_date"]))
      )
    const pages: Array<Array<number>> = []
    let cursor: IntakeCursor.Cursor | undefined
    for (let i = 0; i < 10; i++) {
      const r = Effect.runSync(IntakeCursor.nextPage(query, OdooDomain.all, cursor, 5))
      if (r.page.length === 0) break
      pages.push(r.page.map((x) => x.id))
      cursor = r.cursor
    }
    expect(pages).toEqual([ids.slice(0, 5), ids.slice(5, 10), ids.slice(10)])
    expect(cursor).toEqual({ writeDate: "2026-11-27 12:00:00", id: ids[11], ids })
  })

  it("hands out an older quotation confirmed later within the second of the last poll", () => {
    let now = base - 60_000
    const db = new FakeDatabase({ version: 17, now: () => now, helpdesk: false, deliveryState: false })
    const quotation = db.create("sale.order", { partner_id: 3 }) // a draft from a minute ago
    now = base + 200
    const other = db.create("sale.order", { partner_id: 3 })
    db.confirmOrder(other)
    const query: IntakeCursor.Query<never> = (domain, sort, size) =>
      Effect.sync(() =>
        decodeRows(db.read("sale.order", db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size }), ["write_date"]))
      )
    const confirmed = OdooDomain.isIn("state", ["sale", "done"])
    const first = Effect.runSync(IntakeCursor.nextPage(query, confirmed, undefined, 10))
    expect(first.page.map((r) => r.id)).toEqual([other])
    // confirmed in the same second, after the poll: same write_date second, smaller id
    now = base + 700
    db.confirmOrder(quotation)
    const stored = IntakeCursor.encode(first.cursor!)
    const second = Effect.runSync(IntakeCursor.nextPage(query, confirmed, IntakeCursor.decode(stored), 10))
    expect(second.page.map((r) => r.id)).toEqual([quotation])
    const third = Effect.runSync(IntakeCursor.nextPage(query, confirmed, second.cursor, 10))
    expect(third.page).toEqual([])
  })

  it("refuses a cursor it did not issue", () =>
    Effect.gen(function*() {
      expect(IntakeCursor.decode("2026-11-27 12:00:00|5")).toBeUndefined()
      // the first format (persisted by earlier versions) is still read
      expect(IntakeCursor.decode("v1|2026-11-27 12:00:00|5")).toEqual({ writeDate: "2026-11-27 12:00:00", id: 5 })
      expect(IntakeCursor.decode(IntakeCursor.encode({ writeDate: "2026-11-27 12:00:00", id: 9, ids: [2, 9] }))).toEqual({
        writeDate: "2026-11-27 12:00:00",
        id: 9,
        ids: [2, 9]
      })
    }).pipe(Effect.runSync))
})

describe("a poller restart (over HTTP)", () => {
  it.scopedLive("a new OdooErp resuming from the persisted cursor neither skips nor repeats orders", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 1000)
      const created: Array<number> = []
      const orderAt = (ms: number) => {
        fake.setClock(() => ms)
        created.push(fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] }).orderId)
      }
      // 23 orders in one second, committed in an order unrelated to their ids, then a few more
      for (let i = 0; i < 23; i++) orderAt(base + ((i * 389) % 997))
      for (let i = 0; i < 5; i++) orderAt(base + 1000 + ((i * 211) % 997))

      // the Store's cursor (getCursor / setCursor of the Store port)
      const cursors = new Map<string, string>()
      const store = {
        getCursor: (name: string) => Effect.sync(() => cursors.get(name)),
        setCursor: (name: string, value: string) => Effect.sync(() => void cursors.set(name, value))
      }
      const handled = yield* Ref.make<Array<string>>([])
      const pollWith = (erp: OdooErp.OdooErpShape) =>
        OdooErp.poll({
          store,
          limit: 4,
          handle: (intakes) => Ref.update(handled, (all) => [...all, ...intakes.map((i) => i.order.id)])
        }).pipe(Effect.provideService(ErpPort.ErpPort, erp))

      const first = yield* connect(fake)
      for (let i = 0; i < 3; i++) expect(yield* pollWith(first.erp)).toBe(4)
      // a handler that fails does not move the cursor: the same page comes again
      const failing = OdooErp.poll({
        store,
        limit: 4,
        handle: () => Effect.fail(new PortError.StorageError({ reason: "Transport", module: "test", method: "handle", description: "down" }))
      }).pipe(Effect.provideService(ErpPort.ErpPort, first.erp))
      expect((yield* Effect.flip(failing))._tag).toBe("StorageError")

      // restart: a new client and adapter, only the stored cursor survives
      const second = yield* connect(fake)
      let rounds = 0
      while ((yield* pollWith(second.erp)) > 0) rounds++
      // orders confirmed after the restart are picked up too
      for (let i = 0; i < 3; i++) orderAt(base + 5000 + (900 - i * 100))
      while ((yield* pollWith(second.erp)) > 0) rounds++
      expect(rounds).toBeGreaterThan(4)

      const ids = yield* Ref.get(handled)
      expect(ids).toHaveLength(created.length)
      expect(new Set(ids).size).toBe(created.length)
      expect([...ids].sort()).toEqual(created.map((id) => `waybill:sale.order:${id}`).sort())
      expect(cursors.get("odoo:orders")).toMatch(/^v2\|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\|\d+(,\d+)*$/)
      const bad = yield* Effect.flip(second.erp.fetchOrders({ cursor: "garbage", limit: 4 }))
      expect(bad.reason).toBe("Invalid")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("an order that cannot be taken in is reported and skipped; intake goes on", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const good = fake.admin.createPartner()
      const noAddress = fake.admin.createPartner({ street: false, city: false, country_id: false })
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 10)
      const bad = fake.admin.createOrder({ partnerId: noAddress, lines: [{ productId: product, quantity: 1 }] }).orderId
      const ok = fake.admin.createOrder({ partnerId: good, lines: [{ productId: product, quantity: 1 }] }).orderId
      const rejected = yield* Ref.make<Array<OdooErp.RejectedOrder>>([])
      const { erp } = yield* connect(fake, {}, { onInvalidOrder: (r) => Ref.update(rejected, (all) => [...all, r]) })
      const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
      expect(batch.intakes.map((i) => i.order.refs.odoo?.id)).toEqual([ok])
      const [r] = yield* Ref.get(rejected)
      expect(r?.orderId).toBe(bad)
      expect(r?.error.issues.map((i) => i.path)).toContain("order.shipTo.street")
      expect((yield* erp.fetchOrders({ cursor: batch.cursor, limit: 10 })).intakes).toHaveLength(0)
    }).pipe(Effect.provide(FetchLayer)))
})
