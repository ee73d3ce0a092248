/**
 * The error mapping table, over every error the real servers sent (`shared/fixtures/odoo`): each
 * recorded exception name has an expected reason, and an unknown name in a new recording fails
 * this test until it is classified.
 */
import { describe, expect, it } from "@effect/vitest"
import { PortError } from "@waybill/core"
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
  "psycopg2.OperationalError": "Unavailable"
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

  for (const e of errors) {
    it(`${e.file}: ${e.fault.name} → ${expected[e.fault.name] ?? "?"}`, () => {
      const error = OdooFault.toErpError(e.fault, "test.method")
      expect(error.reason).toBe(expected[e.fault.name])
      expect(error.description).toBe(`${e.fault.shortName}: ${e.fault.message}`)
      expect(e.fault.message.length).toBeGreaterThan(0)
      if (e.file.includes("json2")) expect(error.status).toBe(e.status)
      else expect(error.status).toBeUndefined()
      expect(OdooFault.fromError(error)?.name).toBe(e.fault.name)
    })
  }

  it("only operational database failures are worth a retry", () => {
    const retried = errors.filter((e) => PortError.isRetryable(OdooFault.toErpError(e.fault, "m").reason))
    expect(new Set(retried.map((e) => e.fault.name))).toEqual(new Set(["psycopg2.OperationalError"]))
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
    [502, "Unavailable"],
    [503, "Unavailable"],
    [504, "Timeout"]
  ] as const)("HTTP %s without an Odoo exception → %s", (status, reason) => {
    expect(OdooFault.reasonOfStatus(status)).toBe(reason)
  })
})
