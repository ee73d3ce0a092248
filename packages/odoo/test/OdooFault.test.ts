/**
 * The error mapping table, over every error the real servers sent (`shared/fixtures/odoo`): each
 * recorded exception name has an expected reason, and an unknown name in a new recording fails
 * this test until it is classified.
 */
import { describe, expect, it } from "@effect/vitest"
import { PortError, Privacy } from "@waybill/core"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"
import * as OdooFault from "../src/OdooFault.js"

const root = new URL("../../../../shared/fixtures/odoo/", import.meta.url)

/** The table the adapter promises (see OdooFault.ts). */
const expected: Record<string, PortError.Reason> = {
  "odoo.exceptions.AccessDenied": "Unauthorized",
  "werkzeug.exceptions.Unauthorized": "Unauthorized",
  "odoo.exceptions.AccessError": "Forbidden",
  "odoo.exceptions.UserError": "Invalid",
  "odoo.exceptions.ValidationError": "Invalid",
  "builtins.ValueError": "Invalid",
  "odoo.exceptions.MissingError": "NotFound",
  "werkzeug.exceptions.NotFound": "NotFound",
  "builtins.AttributeError": "Bug",
  "builtins.KeyError": "Bug",
  "builtins.TypeError": "Bug",
  "werkzeug.exceptions.UnprocessableEntity": "Bug",
  "werkzeug.exceptions.BadRequest": "Bug",
  "psycopg2.OperationalError": "Unavailable" // when the database is down; an unknown one is Invalid
}

interface Recorded {
  readonly file: string
  readonly status: number
  readonly fault: OdooFault.OdooFault
}

const recordedErrors = (): Array<Recorded> => {
  const out: Array<Recorded> = []
  for (const dir of ["17.0/", "18.0/", "19.0/", "19.0/json2/"]) {
    const base = new URL(dir, root)
    for (const file of Fs.readdirSync(base).filter((f) => f.endsWith(".json") && f !== "index.json")) {
      const step = JSON.parse(Fs.readFileSync(new URL(file, base), "utf8")) as {
        http_status: number
        response: unknown
      }
      const r = step.response as Record<string, unknown> | null
      if (dir.includes("json2")) {
        const fault = step.http_status === 200 ? undefined : OdooFault.fromJson2Body(step.http_status, r)
        if (fault !== undefined) out.push({ file: dir + file, status: step.http_status, fault })
      } else if (r !== null && typeof r === "object" && "error" in r) {
        out.push({ file: dir + file, status: step.http_status, fault: OdooFault.fromJsonRpcError(r.error) })
      }
    }
  }
  return out
}

describe("the error mapping table over the recorded errors", () => {
  const errors = recordedErrors()

  it("covers the recordings: every version and both transports", () => {
    expect(errors.length).toBeGreaterThan(60)
    expect(new Set(errors.map((e) => e.fault.name))).toEqual(new Set(Object.keys(expected)))
    // JSON-RPC errors are HTTP 200 with a code (200 on 17/18, 0 on 19); JSON-2 has real statuses
    for (const e of errors.filter((x) => !x.file.includes("json2"))) {
      expect(e.status).toBe(200)
      expect(e.fault.code).toBe(e.file.startsWith("19.0") ? 0 : 200)
    }
    expect(new Set(errors.filter((x) => x.file.includes("json2")).map((e) => e.status))).toEqual(new Set([400, 401, 403, 404, 422, 500]))
  })

  /** The recordings of a wrong `database`: a configuration error, whatever the exception name. */
  const isUnknownDb = (e: Recorded) => e.file.endsWith("83-ERROR.unknown-db.json")
  for (const e of errors) {
    const reason = isUnknownDb(e) ? "Invalid" : expected[e.fault.name]
    it(`${e.file}: ${e.fault.name} → ${reason ?? "?"}`, () => {
      const error = OdooFault.toErpError(e.fault, "test.method")
      expect(error.reason).toBe(reason)
      if (isUnknownDb(e)) expect(error.description).toContain(`(${e.fault.shortName}: ${e.fault.message.trim()})`)
      else expect(error.description).toBe(`${e.fault.shortName}: ${e.fault.message}`)
      expect(e.fault.message.length).toBeGreaterThan(0)
      if (e.file.includes("json2")) expect(error.status).toBe(e.status)
      else expect(error.status).toBeUndefined()
      expect(OdooFault.fromError(error)?.name).toBe(e.fault.name)
    })
  }

  it("no recorded error is worth a retry (the only OperationalError recorded is an unknown database)", () => {
    const retried = errors.filter((e) => PortError.isRetryable(OdooFault.toErpError(e.fault, "m").reason))
    expect(retried.map((e) => e.file)).toEqual([])
  })

  it("an unknown database (a wrong `database` option) is a permanent configuration error, not worth a retry", () => {
    const unknownDb = errors.filter((e) => e.file.endsWith("83-ERROR.unknown-db.json"))
    expect(unknownDb.map((e) => e.file.slice(0, 4))).toEqual(["17.0", "18.0", "19.0"])
    for (const e of unknownDb) {
      const error = OdooFault.toErpError(e.fault, "common.authenticate")
      expect(error.reason).toBe("Invalid")
      expect(PortError.isRetryable(error.reason)).toBe(false)
      expect(error.description).toMatch(/^database "no_such_db" does not exist on this Odoo server: check the configured database/)
      expect(OdooFault.fromError(error)?.name).toBe("psycopg2.OperationalError")
    }
    // a database that is down stays worth a retry
    expect(OdooFault.toErpError(new OdooFault.OdooFault({
      name: "psycopg2.OperationalError",
      message: "server closed the connection unexpectedly"
    }), "m").reason).toBe("Unavailable")
  })

  it("keeps the Odoo fault through the dead-letter round trip", () => {
    const fault = errors.find((e) => e.fault.name === "odoo.exceptions.UserError")!.fault
    const error = OdooFault.toErpError(fault, "account.move.action_post")
    const stored = JSON.parse(JSON.stringify(Schema.encodeSync(PortError.ErpError)(error)))
    const back = Schema.decodeUnknownSync(PortError.ErpError)(stored)
    expect(back.reason).toBe("Invalid")
    expect(OdooFault.fromError(back)).toEqual(fault)
  })
})

describe("names and statuses not in the recordings", () => {
  it.each([
    ["psycopg2.errors.SerializationFailure", undefined, "Conflict"],
    ["psycopg2.extensions.TransactionRollbackError", undefined, "Conflict"],
    ["psycopg2.errors.LockNotAvailable", undefined, "Conflict"],
    ["psycopg2.InterfaceError", undefined, "Unavailable"],
    // a value PostgreSQL cannot store fails the same way every time: permanent, and no outage
    ["psycopg2.errors.NumericValueOutOfRange", undefined, "Invalid"],
    ["psycopg2.errors.InvalidTextRepresentation", undefined, "Invalid"],
    ["psycopg2.errors.StringDataRightTruncation", undefined, "Invalid"],
    ["psycopg2.DataError", undefined, "Invalid"],
    ["psycopg2.errors.UniqueViolation", undefined, "Invalid"],
    ["psycopg2.errors.NotNullViolation", undefined, "Invalid"],
    ["psycopg2.IntegrityError", undefined, "Invalid"],
    ["psycopg2.errors.UndefinedColumn", undefined, "Bug"],
    ["psycopg2.ProgrammingError", undefined, "Bug"],
    ["psycopg2.errors.QueryCanceled", undefined, "Unavailable"],
    ["psycopg2.errors.AdminShutdown", undefined, "Unavailable"],
    ["odoo.exceptions.RedirectWarning", undefined, "Invalid"],
    ["builtins.ZeroDivisionError", undefined, "Bug"],
    ["builtins.ZeroDivisionError", 500, "Unavailable"],
    ["werkzeug.exceptions.TooManyRequests", 429, "RateLimited"],
    ["werkzeug.exceptions.GatewayTimeout", 504, "Timeout"]
  ] as const)("%s (HTTP %s) → %s", (name, status, reason) => {
    expect(OdooFault.reasonOf(name, status)).toBe(reason)
  })

  it.each([
    [400, "Bug"],
    [401, "Unauthorized"],
    [403, "Forbidden"],
    [404, "NotFound"],
    [408, "Timeout"],
    [409, "Conflict"],
    [422, "Invalid"],
    [429, "RateLimited"],
    [500, "Unavailable"],
    [501, "Invalid"],
    [502, "Unavailable"],
    [503, "Unavailable"],
    [504, "Timeout"],
    [505, "Invalid"]
  ] as const)("HTTP %s without an Odoo exception → %s", (status, reason) => {
    expect(OdooFault.reasonOfStatus(status)).toBe(reason)
  })
})

describe("the fault text a port error keeps", () => {
  /** A `ValidationError` naming every partner it refused, with their e-mails: 2,000 of them. */
  const huge = new OdooFault.OdooFault({
    name: "odoo.exceptions.ValidationError",
    message: `Invalid e-mail for the partners:\n${
      Array.from({ length: 2000 }, (_, i) => `res.partner(${i},) partner${i}@example.com`).join("\n")
    }`,
    code: 200
  })

  it("cuts the description and the cause's message to 500 characters, and still reads the fault back", () => {
    const error = OdooFault.toErpError(huge, "res.partner.write")
    expect(huge.message.length).toBeGreaterThan(50_000)
    expect(error.reason).toBe("Invalid")
    expect(error.description).toHaveLength(500)
    expect(error.description).toMatch(/^ValidationError: Invalid e-mail for the partners:\nres\.partner\(0,\) partner0@example\.com\n/)
    expect(error.description.endsWith("…")).toBe(true)
    const cause = error.cause as { name: string; message: string; code: number }
    expect(cause.message).toHaveLength(500)
    expect(cause.message.endsWith("…")).toBe(true)
    // what a dead letter keeps is bounded too, and the fault reads back from it
    const stored = JSON.stringify(Schema.encodeSync(PortError.ErpError)(error))
    expect(stored.length).toBeLessThan(2_000)
    const back = OdooFault.fromError(Schema.decodeUnknownSync(PortError.ErpError)(JSON.parse(stored)))
    expect(back).toMatchObject({ name: "odoo.exceptions.ValidationError", code: 200 })
    expect(back?.shortName).toBe("ValidationError")
  })

  it("cuts an unknown database's message too, keeping what it says first", () => {
    const error = OdooFault.toErpError(
      new OdooFault.OdooFault({
        name: "psycopg2.OperationalError",
        message: `connection to server failed: FATAL:  database "no_such_db" does not exist\n${"Traceback line\n".repeat(500)}`
      }),
      "common.authenticate"
    )
    expect(error.reason).toBe("Invalid")
    expect(error.description).toHaveLength(500)
    expect(error.description).toMatch(/^database "no_such_db" does not exist on this Odoo server/)
  })

  it("a short fault is kept whole", () => {
    const fault = new OdooFault.OdooFault({ name: "odoo.exceptions.UserError", message: "The entry INV/2026/00001 (id 1) must be in draft." })
    const error = OdooFault.toErpError(fault, "account.move.button_draft")
    expect(error.description).toBe("UserError: The entry INV/2026/00001 (id 1) must be in draft.")
    expect(OdooFault.fromError(error)).toEqual(fault)
  })

  it("a personal value the cut falls in the middle of leaves nothing of itself once withheld", () => {
    const street = "Flat 3, 12 Privet Drive"
    // the street starts 10 characters before the cut
    const lead = "x".repeat(500 - "ValidationError: ".length - 1 - 10)
    const error = OdooFault.toErpError(
      new OdooFault.OdooFault({ name: "odoo.exceptions.ValidationError", message: `${lead}${street} is not deliverable` }),
      "stock.picking.write"
    )
    expect(error.description).toContain(street.slice(0, 10))
    // what the dispatcher does with the action's personal values before it logs or stores the error
    const shown = Privacy.scrub(error.description, [street])
    expect(shown).not.toContain(street.slice(0, 4))
    expect(shown.endsWith("<redacted>…")).toBe(true)
  })
})
