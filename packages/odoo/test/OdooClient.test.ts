/**
 * The client against the fake: version and transport detection, typed reads, both transports,
 * every failure family with the right retry reason, the concurrency cap and the rate limit.
 */
import { describe, expect, it } from "@effect/vitest"
import { PortError } from "@waybill/core"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as OdooClient from "../src/OdooClient.js"
import * as OdooCommand from "../src/OdooCommand.js"
import * as D from "../src/OdooDomain.js"
import * as F from "../src/OdooField.js"
import { OdooFake } from "../src/testing/index.js"
import { FetchLayer, seedOrder } from "./helpers.js"

const realWait = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Waits (in real time) until the fake has seen `n` calls of `method`. */
const untilCalls = (fake: OdooFake.OdooFake, method: string, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && fake.calls(undefined, method) < n; i++) yield* realWait(5)
  })

describe("version and transport", () => {
  for (
    const [version, overrides, transport] of [
      [17, {}, "jsonrpc"],
      [18, {}, "jsonrpc"],
      [19, {}, "json2"],
      [19, { apiKey: undefined, password: Redacted.make("admin-pw") }, "jsonrpc"],
      [19, { transport: "jsonrpc" }, "jsonrpc"]
    ] as const
  ) {
    it.scopedLive(`Odoo ${version} with ${JSON.stringify(Object.keys(overrides))} → ${transport}`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version })
        const client = yield* OdooClient.make(fake.clientOptions(overrides))
        const info = yield* client.info
        expect(info).toMatchObject({ major: version, transport })
        expect(info.uid === undefined).toBe(transport === "json2")
        const count = yield* client.searchCount("res.country", D.eq("code", "US"))
        expect(count).toBe(1)
        yield* client.info
        expect(fake.calls("common", "version")).toBe(1) // detected once
        expect(fake.callLog().at(-1)?.transport).toBe(transport)
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("JSON-2 on Odoo 17 is refused before any call", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const client = yield* OdooClient.make(fake.clientOptions({ transport: "json2" }))
      const error = yield* Effect.flip(client.searchCount("res.partner", D.all))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("JSON-2 needs Odoo 19")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a refused login is Unauthorized, and the secret appears nowhere in the error", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const client = yield* OdooClient.make(fake.clientOptions({ apiKey: Redacted.make("s3cr3t-wrong") }))
      const error = yield* Effect.flip(client.searchCount("res.partner", D.all))
      expect(error.reason).toBe("Unauthorized")
      expect(JSON.stringify(error)).not.toContain("s3cr3t")
      expect(error.message).not.toContain("s3cr3t")
      expect(PortError.isRetryable(error.reason)).toBe(false)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a failed detection is not cached: the next call detects again", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const client = yield* OdooClient.make(fake.clientOptions())
      fake.failNext({ model: "common", method: "version" }, OdooFake.http(503))
      expect((yield* Effect.flip(client.info)).reason).toBe("Unavailable")
      expect((yield* client.info).major).toBe(17)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("typed operations", () => {
  for (const version of [17, 19] as const) {
    it.scopedLive(`reads decode many2one, datetimes and false on ${version}`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version, now: () => Date.UTC(2026, 10, 27, 11, 21, 26, 400) })
        const client = yield* OdooClient.make(fake.clientOptions())
        const partner = yield* client.create("res.partner", { name: "Ada", country_id: 233, street: "1 Loopback Way" })
        expect(typeof partner).toBe("number")
        const rows = yield* client.read("res.partner", [partner, 999_999], {
          fields: { name: Schema.String, country_id: F.Many2one, parent_id: F.Many2one, email: F.Text, write_date: F.DateTimeUtc }
        })
        expect(rows).toHaveLength(1) // a missing id is left out, as Odoo does
        expect(rows[0]).toMatchObject({ id: partner, name: "Ada", country_id: { id: 233, name: "United States" }, parent_id: null, email: null })
        expect(DateTime.formatIso(rows[0]!.write_date)).toBe("2026-11-27T11:21:26.000Z")
        const found = yield* client.searchRead("res.partner", D.and(D.ilike("name", "ad"), D.gt("id", 3)), {
          fields: { name: Schema.String },
          order: "id desc",
          limit: 5
        })
        expect(found.map((r) => r.name)).toEqual(["Ada"])
        yield* client.write("res.partner", [partner], { email: "ada@example.com" })
        expect((yield* client.search("res.partner", D.eq("email", "ada@example.com")))).toEqual([partner])
        // a method returning None is a success with null
        const { product } = seedOrder(fake)
        const quant = yield* client.create("stock.quant", { product_id: product, location_id: fake.admin.stockLocationId, inventory_quantity: 7 }, {
          context: { inventory_mode: true }
        })
        expect(yield* client.call("stock.quant", "action_apply_inventory", { ids: [quant], context: { inventory_mode: true } })).toBeNull()
        // x2many commands
        const order = yield* client.create("sale.order", {
          partner_id: partner,
          order_line: [OdooCommand.create({ product_id: product, product_uom_qty: 2, price_unit: 5 })]
        })
        const [read] = yield* client.read("sale.order", [order], { fields: { order_line: F.X2many, amount_untaxed: F.Float } })
        expect(read?.order_line).toHaveLength(1)
        expect(read?.amount_untaxed).toBe(10)
        const fields = yield* client.fieldsGet("stock.picking", { fields: ["state", "no_such_field"], attributes: ["type"] })
        expect(fields).toEqual({ state: { type: "selection" } })
        // a response of an unexpected shape is a typed error, not a defect
        const wrong = yield* Effect.flip(client.read("res.partner", [partner], { fields: { name: Schema.Number } }))
        expect(wrong.reason).toBe("Invalid")
        expect(wrong.description).toContain("unexpected answer")
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("JSON-2 takes named arguments only: positional args are a client bug", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 19 })
      const client = yield* OdooClient.make(fake.clientOptions())
      const error = yield* Effect.flip(client.call("res.partner", "search_count", { args: [[]] }))
      expect(error.reason).toBe("Bug")
      expect(yield* client.call("res.partner", "search_count", { kwargs: { domain: [] } })).toBeGreaterThan(0)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("failures and their reasons", () => {
  for (const [version, transport] of [[17, "jsonrpc"], [18, "jsonrpc"], [19, "json2"], [19, "jsonrpc"]] as const) {
    it.scopedLive(`Odoo ${version} over ${transport}`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version })
        const client = yield* OdooClient.make(fake.clientOptions({ transport }))
        const { orderId } = seedOrder(fake)
        const json2 = transport === "json2"
        const failure = <A>(effect: Effect.Effect<A, PortError.ErpError>) => Effect.flip(effect)

        const userError = yield* failure(client.unlink("sale.order", [orderId]))
        expect(userError).toMatchObject({ reason: "Invalid", ...(json2 ? { status: 422 } : {}) })
        expect(userError.description).toBe(
          "UserError: You can not delete a sent quotation or a confirmed sales order. You must first cancel it."
        )
        expect((yield* failure(client.call("sale.order", "_create_invoices", { ids: [orderId] }))).reason).toBe("Forbidden")
        const missing = yield* failure(client.write("res.partner", [999_999], { name: "x" }))
        expect(missing.reason).toBe("NotFound")
        expect(missing.description).toContain("res.partner(999999,)")
        const unknownMethod = yield* failure(client.call("res.partner", "no_such_method", { ids: [3] }))
        expect(unknownMethod.reason).toBe(json2 ? "NotFound" : "Bug")
        const unknownField = yield* failure(client.write("res.partner", [3], { x_does_not_exist: 1 }))
        expect(unknownField.reason).toBe(version === 19 ? "Bug" : "Invalid") // 19: KeyError, 17/18: ValueError
        const badDomain = yield* failure(client.searchCount("res.partner", D.eq("no_such_field", 1)))
        expect(badDomain.reason).toBe("Invalid")
        const unknownModel = yield* failure(client.searchCount("x.no.such.model", D.all))
        expect(unknownModel.reason).toBe(json2 ? "NotFound" : "Invalid")
        for (const e of [userError, missing, unknownMethod, unknownField, badDomain, unknownModel]) {
          expect(PortError.isRetryable(e.reason)).toBe(false)
        }

        // transient failures retry
        fake.failNext({ model: "res.partner" }, OdooFake.operationalError())
        fake.failNext({ model: "res.country" }, OdooFake.serializationFailure)
        fake.failNext({ model: "res.company" }, OdooFake.http(503))
        fake.failNext({ model: "res.users" }, OdooFake.http(429, { headers: { "retry-after": "7" } }))
        fake.failNext({ model: "res.currency" }, OdooFake.drop)
        fake.failNext({ model: "uom.uom" }, OdooFake.http(502, { body: "Bad Gateway" }))
        const transient = [
          yield* failure(client.searchCount("res.partner", D.all)),
          yield* failure(client.searchCount("res.country", D.all)),
          yield* failure(client.searchCount("res.company", D.all)),
          yield* failure(client.searchCount("res.users", D.all)),
          yield* failure(client.searchCount("res.currency", D.all)),
          yield* failure(client.searchCount("uom.uom", D.all))
        ]
        expect(transient.map((e) => e.reason)).toEqual(["Unavailable", "Conflict", "Unavailable", "RateLimited", "Transport", "Unavailable"])
        expect(transient[2]?.status).toBe(503)
        expect(transient[3]?.retryAfterMillis).toBe(7000)
        for (const e of transient) expect(PortError.isRetryable(e.reason)).toBe(true)
        // and the next call goes through
        expect(yield* client.searchCount("res.partner", D.eq("id", 3))).toBe(1)

        // A Retry-After date is counted from the server's Date header, not this host's clock
        // (here years apart): the server asked for 90 s, and 90 s it is.
        const serverNow = Date.UTC(2021, 5, 1, 8, 0, 0)
        fake.failNext(
          { model: "res.partner" },
          OdooFake.http(503, {
            headers: { date: new Date(serverNow).toUTCString(), "retry-after": new Date(serverNow + 90_000).toUTCString() }
          })
        )
        expect((yield* failure(client.searchCount("res.partner", D.all))).retryAfterMillis).toBe(90_000)

        // a malformed request (HTTP 400 HTML) is a client bug
        fake.failNext({ model: "res.partner" }, OdooFake.http(400, { body: "Invalid JSON data" }))
        const malformed = yield* failure(client.searchCount("res.partner", D.all))
        expect(malformed).toMatchObject({ reason: "Bug", status: 400 })
        expect(malformed.description).toContain("malformed request")
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("JSON-2: a wrong API key is Unauthorized, an unknown database NotFound", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 19, databases: ["waybill", "other"] })
      const wrongKey = yield* OdooClient.make(fake.clientOptions({ apiKey: Redacted.make("nope") }))
      const e1 = yield* Effect.flip(wrongKey.searchCount("res.partner", D.all))
      expect(e1).toMatchObject({ reason: "Unauthorized", status: 401 })
      expect(e1.description).toBe("Unauthorized: Invalid apikey")
      const wrongDb = yield* OdooClient.make(fake.clientOptions({ database: "nope" }))
      const e2 = yield* Effect.flip(wrongDb.searchCount("res.partner", D.all))
      expect(e2).toMatchObject({ reason: "NotFound", status: 404 })
    }).pipe(Effect.provide(FetchLayer)))

  for (const version of [17, 18, 19] as const) {
    it.scopedLive(`JSON-RPC on ${version}: an unknown database is a permanent configuration error`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version })
        const client = yield* OdooClient.make(fake.clientOptions({ database: "no_such_db", transport: "jsonrpc" }))
        const error = yield* Effect.flip(client.searchCount("res.partner", D.all))
        expect(error.reason).toBe("Invalid")
        expect(PortError.isRetryable(error.reason)).toBe(false)
        expect(error.description).toContain(`database "no_such_db" does not exist on this Odoo server`)
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("Odoo's login cooldown (too many failed logins from this address) is retried after it, a wrong secret is not", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const client = yield* OdooClient.make(fake.clientOptions())
      yield* client.info
      // `res.users._assert_can_auth` refuses every check of the credentials during the cooldown
      fake.failNext({ model: "res.partner" }, {
        _tag: "OdooError",
        name: "odoo.exceptions.AccessDenied",
        message: "Too many login failures, please wait a bit before trying again.",
        status: 401
      })
      const cooldown = yield* Effect.flip(client.searchCount("res.partner", D.all))
      expect(cooldown.reason).toBe("RateLimited")
      expect(cooldown.retryAfterMillis).toBe(60_000)
      expect(cooldown.description).toContain("Too many login failures")
      expect(PortError.isRetryable(cooldown.reason)).toBe(true)
      expect(yield* client.searchCount("res.partner", D.eq("id", 3))).toBe(1)
      fake.failNext({ model: "res.partner" }, { _tag: "OdooError", name: "odoo.exceptions.AccessDenied", message: "Access Denied", status: 401 })
      expect((yield* Effect.flip(client.searchCount("res.partner", D.all))).reason).toBe("Unauthorized")
    }).pipe(Effect.provide(FetchLayer)))

  for (const version of [17, 19] as const) {
    it.scopedLive(`Odoo ${version}: a fault with a huge message gives an error of 500 characters at most`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version })
        const client = yield* OdooClient.make(fake.clientOptions())
        yield* client.info
        const message = `Invalid e-mail for the partners:\n${
          Array.from({ length: 2000 }, (_, i) => `res.partner(${i},) partner${i}@example.com`).join("\n")
        }`
        fake.failNext({ model: "res.partner" }, { _tag: "OdooError", name: "odoo.exceptions.ValidationError", message, status: 422 })
        const error = yield* Effect.flip(client.searchCount("res.partner", D.all))
        expect(error.reason).toBe("Invalid")
        expect(error.description.length).toBeLessThanOrEqual(500)
        expect(error.description).toMatch(/^ValidationError: Invalid e-mail for the partners:/)
        expect((error.cause as { message: string }).message.length).toBeLessThanOrEqual(500)
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("JSON-RPC: a user id that no longer exists (user recreated, database restored) logs in again", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const client = yield* OdooClient.make(fake.clientOptions())
      const uid = (yield* client.info).uid
      // what Odoo answers `execute_kw` for an unknown uid (fixture 82), before running the call
      const gone: OdooFake.Fault = {
        _tag: "OdooError",
        name: "odoo.exceptions.MissingError",
        message: `Record does not exist or has been deleted.\n(Record: res.users(${uid},), User: ${uid})`,
        status: 404
      }
      fake.failNext({ model: "res.partner" }, gone)
      expect(yield* client.searchCount("res.partner", D.eq("id", 3))).toBe(1)
      expect(fake.calls("common", "authenticate")).toBe(2)
      expect(fake.calls("res.partner", "search_count")).toBe(2)
      // once only: a user that stays unknown is Unauthorized, not a missing record
      fake.failNext({ model: "res.partner" }, gone, 2)
      const error = yield* Effect.flip(client.searchCount("res.partner", D.all))
      expect(error.reason).toBe("Unauthorized")
      expect(error.description).toContain(`user id ${uid}`)
      // a missing record is still NotFound
      expect((yield* Effect.flip(client.write("res.partner", [999_999], { name: "x" }))).reason).toBe("NotFound")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("no server at all is a Transport failure", () =>
    Effect.gen(function*() {
      const client = yield* OdooClient.make({ url: "http://127.0.0.1:9", database: "x", login: "x", apiKey: Redacted.make("x") })
      const error = yield* Effect.flip(client.info)
      expect(error.reason).toBe("Transport")
    }).pipe(Effect.provide(FetchLayer)))

  it.scoped("a call that gets no answer times out (TestClock)", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const client = yield* OdooClient.make(fake.clientOptions({ timeout: "5 seconds" }))
      yield* client.info
      fake.failNext({ model: "res.partner", method: "search_count" }, OdooFake.hang)
      const fiber = yield* Effect.fork(client.searchCount("res.partner", D.all))
      yield* untilCalls(fake, "search_count", 1)
      yield* TestClock.adjust("5 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error.reason).toBe("Timeout")
      expect(PortError.isRetryable(error.reason)).toBe(true)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("limits per instance", () => {
  for (const cap of [4, 2]) {
    it.scopedLive(`at most ${cap} calls in flight`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17, latencyMs: 10 })
        const client = yield* OdooClient.make(fake.clientOptions(cap === 4 ? {} : { maxConcurrency: cap }))
        yield* Effect.all(Array.from({ length: 12 }, () => client.searchCount("res.partner", D.all)), { concurrency: "unbounded" })
        expect(fake.calls("res.partner", "search_count")).toBe(12)
        expect(fake.stats().maxInFlight).toBe(cap)
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scoped("a rate limit spaces the calls (TestClock)", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const client = yield* OdooClient.make(fake.clientOptions({ rateLimit: { limit: 2, interval: "10 seconds" } }))
      yield* client.info // common.version + common.authenticate: the first window
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 4 }, () => client.searchCount("res.partner", D.all)), { concurrency: "unbounded" })
      )
      yield* realWait(50)
      expect(fake.calls("res.partner")).toBe(0)
      yield* TestClock.adjust("10 seconds")
      yield* untilCalls(fake, "search_count", 2)
      yield* realWait(20)
      expect(fake.calls("res.partner")).toBe(2)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toHaveLength(4)
      expect(fake.calls("res.partner")).toBe(4)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("spans", () => {
  it.scopedLive("a faulted call's span records reason and place, not Odoo's message quoting a personal value", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const client = yield* OdooClient.make(fake.clientOptions())
      yield* client.info
      const email = "jane.doe@example.com"
      fake.failNext({ model: "res.partner" }, {
        _tag: "OdooError",
        name: "odoo.exceptions.ValidationError",
        message: `Invalid e-mail address ${email} for partner Jane Doe`,
        status: 422
      })
      // a tracer that keeps every span's end exit, as an exporter sees it
      const native = yield* Effect.tracer
      const ended: Array<{ readonly name: string; readonly exit: Exit.Exit<unknown, unknown> }> = []
      const tracer = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          const end = span.end.bind(span)
          span.end = (endTime, exit) => {
            ended.push({ name: span.name, exit })
            end(endTime, exit)
          }
          return span
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      const error = yield* Effect.flip(Effect.withTracer(client.searchCount("res.partner", D.all), tracer))
      // the caller gets the original error, description and all
      expect(error).toBeInstanceOf(PortError.ErpError)
      expect(error).toMatchObject({ _tag: "ErpError", reason: "Invalid" })
      expect(error.description).toContain(email)
      const span = ended.find((s) => s.name === "Odoo res.partner.search_count")
      expect(span).toBeDefined()
      expect(Exit.isFailure(span!.exit)).toBe(true)
      const failed = ended.filter((s) => Exit.isFailure(s.exit))
      for (const { exit } of failed) {
        if (!Exit.isFailure(exit)) continue
        const text = [
          Cause.pretty(exit.cause, { renderErrorCause: true }),
          ...Cause.prettyErrors(exit.cause).map((e) => `${e.name}: ${e.message}\n${e.stack ?? ""}`)
        ].join("\n")
        expect(text).toContain("Invalid")
        expect(text).not.toContain(email)
        expect(text).not.toContain("Jane")
      }
      expect(Exit.isFailure(span!.exit) && Cause.pretty(span!.exit.cause)).toContain(`res.partner.search_count: Invalid`)
    }).pipe(Effect.provide(FetchLayer)))
})
