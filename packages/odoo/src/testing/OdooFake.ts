/**
 * An in-process Odoo server for tests, behaving like the recorded Odoo 17, 18 and 19 servers
 * (`shared/fixtures/odoo`): JSON-RPC (`/jsonrpc`) on every version, JSON-2 (`/json/2`) with its
 * HTTP statuses on 19, the error envelopes and messages of each version, and the models and
 * workflows the adapter relies on (sale orders, deliveries with stock reservation, the SMS and
 * backorder wizards, invoicing, posting, payment, chatter, project tasks; optionally helpdesk
 * tickets and the OCA `delivery_state` fields).
 *
 * It listens on `127.0.0.1` on a free port for the lifetime of the `Scope`, counts calls per
 * model and method, and injects faults: a failing next call, an HTTP 503, a dropped connection,
 * or "act then drop the response" (the far side committed, the caller never heard back).
 *
 * @example
 * ```ts
 * import { OdooFake } from "@waybill/odoo/testing"
 *
 * it.scoped("retries", () =>
 *   Effect.gen(function* () {
 *     const fake = yield* OdooFake.make({ version: 19 })
 *     fake.failNext({ method: "create_invoices" }, OdooFake.actThenDrop)
 *     // ... run the client against fake.url / fake.clientOptions()
 *     expect(fake.calls("sale.advance.payment.inv", "create_invoices")).toBe(1)
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"
import { FakeDatabase } from "../internal/fake/database.js"
import type { Context as OdooContext } from "../internal/fake/orm.js"
import { Created, OdooException, Recordset, accessDenied, keyError, missingError, werkzeug } from "../internal/fake/orm.js"
import { jsonDecodeError } from "../internal/fake/python.js"
import * as T from "../internal/fake/templates.js"
import type * as OdooClient from "../OdooClient.js"

/**
 * A server version the fake reproduces.
 *
 * @since 0.1.0
 */
export type Version = 17 | 18 | 19

/**
 * How to start a fake.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Default 17. */
  readonly version?: Version | undefined
  /** Default `waybill`. */
  readonly database?: string | undefined
  /** Databases listed by `db.list`; with several, JSON-2 needs the `X-Odoo-Database` header. */
  readonly databases?: ReadonlyArray<string> | undefined
  /** Default `admin`. */
  readonly login?: string | undefined
  /** Default `admin-pw`. */
  readonly password?: string | undefined
  /** Default `fake-api-key`. */
  readonly apiKey?: string | undefined
  /** Extra modules: Enterprise helpdesk (`helpdesk.ticket`) and OCA `delivery_state`. */
  readonly modules?: { readonly helpdesk?: boolean | undefined; readonly deliveryState?: boolean | undefined } | undefined
  /** The server clock (epoch ms) for `write_date` and friends, and the `Date` header; default `Date.now`. */
  readonly now?: (() => number) | undefined
  /** Delay every answer by this many ms (default 0). */
  readonly latencyMs?: number | undefined
  /**
   * Answer a write to a record that another call is still writing with a serialization failure,
   * as PostgreSQL does once Odoo's own retries are exhausted (default: when `latencyMs` > 0).
   */
  readonly serializationConflicts?: boolean | undefined
}

/**
 * A fault to inject into matching calls.
 *
 * @since 0.1.0
 */
export type Fault =
  /** Answer with this Odoo exception (JSON-RPC envelope, or JSON-2 body with `status`). */
  | { readonly _tag: "OdooError"; readonly name: string; readonly message: string; readonly status: number }
  /** Answer with a bare HTTP response (a proxy's 502/503, a 429 with Retry-After, ...). */
  | {
    readonly _tag: "Http"
    readonly status: number
    readonly body: string
    readonly headers: Readonly<Record<string, string>>
  }
  /** Close the connection without acting and without answering. */
  | { readonly _tag: "Drop" }
  /** Act (commit), then close the connection without answering. */
  | { readonly _tag: "ActThenDrop" }
  /** Act, then answer after `millis`. */
  | { readonly _tag: "Delay"; readonly millis: number }
  /** Never answer (until the fake stops). */
  | { readonly _tag: "Hang" }

/** A transient database error (`psycopg2.OperationalError`). @since 0.1.0 */
export const operationalError = (message = "server closed the connection unexpectedly"): Fault => ({
  _tag: "OdooError",
  name: "psycopg2.OperationalError",
  message,
  status: 500
})

/** A serialization failure after Odoo's own retries (`psycopg2.errors.SerializationFailure`). @since 0.1.0 */
export const serializationFailure: Fault = {
  _tag: "OdooError",
  name: "psycopg2.errors.SerializationFailure",
  message: "could not serialize access due to concurrent update",
  status: 500
}

/** A bare HTTP error (default: 503 from a proxy). @since 0.1.0 */
export const http = (
  status = 503,
  options: { readonly body?: string; readonly headers?: Readonly<Record<string, string>> } = {}
): Fault => ({
  _tag: "Http",
  status,
  body: options.body ?? `<html><body><h1>${status} Service Unavailable</h1></body></html>`,
  headers: options.headers ?? {}
})

/** @since 0.1.0 */
export const drop: Fault = { _tag: "Drop" }
/** @since 0.1.0 */
export const actThenDrop: Fault = { _tag: "ActThenDrop" }
/** @since 0.1.0 */
export const delay = (millis: number): Fault => ({ _tag: "Delay", millis })
/** @since 0.1.0 */
export const hang: Fault = { _tag: "Hang" }

/**
 * Which calls a fault applies to; omitted parts match anything. Service calls use the service as
 * model (`common.authenticate`).
 *
 * @since 0.1.0
 */
export interface Target {
  readonly model?: string | undefined
  readonly method?: string | undefined
  readonly transport?: "jsonrpc" | "json2" | undefined
}

/**
 * One call the fake received.
 *
 * @since 0.1.0
 */
export interface CallRecord {
  readonly transport: "jsonrpc" | "json2" | "web"
  readonly model: string
  readonly method: string
  readonly ids: ReadonlyArray<number>
}

/**
 * Direct access to the fake's data, bypassing HTTP (not counted as calls).
 *
 * @since 0.1.0
 */
export interface Admin {
  readonly create: (model: string, values: Readonly<Record<string, unknown>>, context?: OdooContext) => number
  readonly write: (model: string, ids: ReadonlyArray<number>, values: Readonly<Record<string, unknown>>) => void
  readonly read: (
    model: string,
    ids: ReadonlyArray<number>,
    fields?: ReadonlyArray<string>
  ) => ReadonlyArray<Readonly<Record<string, unknown>>>
  readonly search: (
    model: string,
    domain: ReadonlyArray<unknown>,
    options?: { readonly limit?: number; readonly order?: string; readonly activeTest?: boolean }
  ) => ReadonlyArray<number>
  /** Runs a public method as a remote caller would (`ids` first), returning its raw result. */
  readonly call: (
    model: string,
    method: string,
    ids: ReadonlyArray<number>,
    kwargs?: Readonly<Record<string, unknown>>,
    context?: OdooContext
  ) => unknown
  /** A customer with an address (and a phone, which arms the first-delivery SMS wizard). */
  readonly createPartner: (values?: Readonly<Record<string, unknown>>) => number
  /** A product; storable by default, with the field spelling of the fake's version. */
  readonly createProduct: (options: {
    readonly name: string
    readonly code?: string
    readonly weightKg?: number
    readonly price?: number
    readonly storable?: boolean
    readonly invoicePolicy?: "order" | "delivery"
  }) => number
  /** Sets the on-hand quantity in WH/Stock. */
  readonly setStock: (productId: number, quantity: number) => void
  /** A sale order, confirmed by default (which creates and reserves its delivery). */
  readonly createOrder: (options: {
    readonly partnerId: number
    readonly lines: ReadonlyArray<{ readonly productId: number; readonly quantity: number; readonly price?: number }>
    readonly carrierId?: number
    readonly clientRef?: string
    readonly confirm?: boolean
  }) => { readonly orderId: number; readonly pickingIds: ReadonlyArray<number> }
  /** Registers a full payment of a posted invoice. */
  readonly registerPayment: (invoiceId: number) => void
  /** The id of WH/Stock (8 on 17/18, 5 on 19). */
  readonly stockLocationId: number
  /** The type (and relation) of a field, or undefined when the model has no such field. */
  readonly fieldInfo: (model: string, field: string) => { readonly type: string; readonly relation?: string } | undefined
}

/**
 * A running fake.
 *
 * @since 0.1.0
 */
export interface OdooFake {
  /** Base URL, e.g. `http://127.0.0.1:53211`. */
  readonly url: string
  readonly version: Version
  readonly database: string
  readonly login: string
  readonly password: string
  readonly apiKey: string
  /** Client options for this fake: API key (so JSON-2 on 19) unless overridden. */
  readonly clientOptions: (overrides?: Partial<OdooClient.Options>) => OdooClient.Options
  /** Calls received, optionally only those of a model (and method). */
  readonly calls: (model?: string, method?: string) => number
  /** Every call received, in order. */
  readonly callLog: () => ReadonlyArray<CallRecord>
  readonly resetCalls: () => void
  /** Concurrency seen so far: the most calls in flight at once, and serialization conflicts. */
  readonly stats: () => { readonly inFlight: number; readonly maxInFlight: number; readonly conflicts: number }
  /** Injects `fault` into the next `times` (default 1) calls matching `target`. */
  readonly failNext: (target: Target, fault: Fault, times?: number) => void
  readonly clearFaults: () => void
  /** Replaces the server clock (epoch ms). */
  readonly setClock: (now: () => number) => void
  /**
   * The carrier labels Odoo bought when validating a delivery (`send_to_shipper` of a shipping
   * connector at integration level "Get Rate and Create Shipment"), in order: each costs money
   * on a real server.
   *
   * @since 0.2.0
   */
  readonly labels: () => ReadonlyArray<{ readonly pickingId: number; readonly carrierId: number; readonly trackingNumber: string }>
  readonly admin: Admin
}

/**
 * The fake as a service, for `it.layer`.
 *
 * @since 0.1.0
 */
export class OdooFakeServer extends Context.Tag("@waybill/odoo/testing/OdooFake")<OdooFakeServer, OdooFake>() {}

const READ_METHODS = new Set(["read", "search", "search_read", "search_count", "fields_get", "context_get", "name_search"])

const traceback = (name: string, message: string): string =>
  `Traceback (most recent call last):\n  File "/opt/odoo/odoo/http.py", line 2273, in _serve_db\n    return service_model.retrying(serve_func, env=self.env)\n  File "/opt/odoo/odoo/service/model.py", line 184, in retrying\n    result = func()\n${name}: ${message}\n`

const asException = (error: unknown): OdooException => {
  if (error instanceof OdooException) return error
  if (error instanceof Error && error.message.startsWith("Expected singleton")) {
    return new OdooException("builtins.ValueError", error.message, 500)
  }
  const message = error instanceof Error ? error.message : String(error)
  return new OdooException("builtins.TypeError", message, 500)
}

interface Parsed {
  readonly transport: "jsonrpc" | "json2" | "web"
  readonly model: string
  readonly method: string
  readonly ids: ReadonlyArray<number>
  /** Runs the call; returns the HTTP answer. */
  readonly run: () => { readonly status: number; readonly headers: Record<string, string>; readonly body: string }
}

const JSON_TYPE = "application/json; charset=utf-8"
const HTML_TYPE = "text/html; charset=utf-8"

/**
 * Starts a fake for the lifetime of the scope.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<OdooFake, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ fake: OdooFake; server: Http.Server; sockets: Set<Net.Socket> }>((resume) => {
      const version: Version = options.version ?? 17
      const database = options.database ?? "waybill"
      const databases = options.databases ?? [database]
      const login = options.login ?? "admin"
      const password = options.password ?? "admin-pw"
      const apiKey = options.apiKey ?? "fake-api-key"
      let clock: () => number = options.now ?? Date.now
      const db = new FakeDatabase({
        version,
        now: () => clock(),
        helpdesk: options.modules?.helpdesk === true,
        deliveryState: options.modules?.deliveryState === true
      })
      const latency = options.latencyMs ?? 0
      const conflicts = options.serializationConflicts ?? latency > 0
      let log: Array<CallRecord> = []
      let faults: Array<{ target: Target; fault: Fault; remaining: number }> = []
      const locks = new Set<string>()
      const stats = { inFlight: 0, maxInFlight: 0, conflicts: 0 }
      const sockets = new Set<Net.Socket>()
      let baseUrl = ""

      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => ({
        status,
        headers: { "content-type": JSON_TYPE, ...headers },
        body: JSON.stringify(value)
      })
      const html = (status: number, body: string) => ({ status, headers: { "content-type": HTML_TYPE }, body })

      const serializeJsonRpc = (value: unknown): unknown => {
        if (value instanceof Recordset) return version >= 19 || value.ids.length !== 1 ? [...value.ids] : value.ids[0]
        if (value instanceof Created) return value.single ? value.ids[0] : [...value.ids]
        return value
      }
      const serializeJson2 = (value: unknown): unknown => {
        if (value instanceof Recordset || value instanceof Created) return [...value.ids]
        return value === undefined ? null : value
      }

      const rpcError = (id: unknown, e: OdooException) =>
        json(200, {
          jsonrpc: "2.0",
          id,
          error: {
            code: version >= 19 ? 0 : 200,
            message: "Odoo Server Error",
            data: { name: e.pyName, debug: traceback(e.pyName, e.message), message: e.message, arguments: [...e.args], context: {} }
          }
        })
      const json2Error = (e: OdooException) =>
        json(
          e.status,
          { name: e.pyName, message: e.message, arguments: [...e.args], context: {}, debug: traceback(e.pyName, e.message) },
          e.status === 401 ? { "www-authenticate": "Bearer " } : {}
        )

      const checkSecret = (secret: unknown) => secret === password || secret === apiKey

      const executeKw = (args: ReadonlyArray<unknown>, kw: boolean): unknown => {
        const [dbName, uid, secret, model, method, callArgs = [], callKwargs = {}] = args
        if (dbName !== database) {
          throw new OdooException(
            "psycopg2.OperationalError",
            `connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "${String(dbName)}" does not exist\n`,
            500
          )
        }
        if (typeof uid !== "number" || db.get("res.users", uid) === undefined) {
          throw missingError(
            `Record does not exist or has been deleted.\n(Record: res.users(${String(uid)},), User: ${String(uid)})`
          )
        }
        if (!checkSecret(secret)) throw accessDenied()
        const positional = kw ? (Array.isArray(callArgs) ? callArgs : []) : args.slice(5)
        const kwargs = kw && typeof callKwargs === "object" && callKwargs !== null ? { ...(callKwargs as Record<string, unknown>) } : {}
        const context = typeof kwargs.context === "object" && kwargs.context !== null ? (kwargs.context as OdooContext) : {}
        delete kwargs.context
        return db.execute({ model: String(model), method: String(method), transport: "jsonrpc", args: positional, kwargs, context })
      }

      const service = (name: string, method: string, args: ReadonlyArray<unknown>): unknown => {
        switch (name) {
          case "common": {
            if (method === "version") return T.versionInfo(version)
            if (method === "login" || method === "authenticate") {
              const [dbName, user, secret] = args
              if (dbName !== database) {
                throw new OdooException(
                  "psycopg2.OperationalError",
                  `connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "${String(dbName)}" does not exist\n`,
                  500
                )
              }
              return user === login && checkSecret(secret) ? db.uid : false
            }
            throw keyError(method)
          }
          case "object":
            if (method === "execute_kw") return executeKw(args, true)
            if (method === "execute") return executeKw(args, false)
            throw keyError(method)
          case "db":
            if (method === "list") return [...databases]
            if (method === "server_version") return T.serverVersion(version)
            throw keyError(method)
          default:
            throw keyError(name)
        }
      }

      const idsOf = (u: unknown): ReadonlyArray<number> =>
        Array.isArray(u) && u.every((x) => typeof x === "number") ? (u as Array<number>) : typeof u === "number" ? [u] : []

      const parse = (method: string, path: string, headers: Http.IncomingHttpHeaders, text: string): Parsed | ReturnType<typeof json> => {
        if (path === "/jsonrpc" && method === "POST") {
          let body: Record<string, unknown>
          try {
            body = JSON.parse(text) as Record<string, unknown>
          } catch {
            return html(400, "Invalid JSON data")
          }
          const params = (body.params ?? {}) as Record<string, unknown>
          const svc = String(params.service ?? "")
          const m = String(params.method ?? "")
          const args = Array.isArray(params.args) ? (params.args as Array<unknown>) : []
          const isObject = svc === "object" && (m === "execute_kw" || m === "execute")
          return {
            transport: "jsonrpc",
            model: isObject ? String(args[3]) : svc,
            method: isObject ? String(args[4]) : m,
            ids: isObject ? idsOf((args[5] as Array<unknown> | undefined)?.[0]) : [],
            run: () => {
              try {
                const result = serializeJsonRpc(service(svc, m, args))
                return json(200, result === undefined ? { jsonrpc: "2.0", id: body.id } : { jsonrpc: "2.0", id: body.id, result })
              } catch (e) {
                return rpcError(body.id, asException(e))
              }
            }
          }
        }
        if (path === "/web/session/authenticate" && method === "POST") {
          let body: Record<string, unknown>
          try {
            body = JSON.parse(text) as Record<string, unknown>
          } catch {
            return html(400, "Invalid JSON data")
          }
          const params = (body.params ?? {}) as Record<string, unknown>
          return {
            transport: "web",
            model: "web.session",
            method: "authenticate",
            ids: [],
            run: () => {
              if (params.db !== database || params.login !== login || !checkSecret(params.password)) {
                return rpcError(body.id, accessDenied())
              }
              const partner = db.get("res.partner", 3)!
              return json(
                200,
                {
                  jsonrpc: "2.0",
                  id: body.id,
                  result: T.sessionInfo(version, {
                    db: database,
                    baseUrl,
                    uid: db.uid,
                    partnerWriteDate: db.format({ type: "datetime", string: "" }, partner.write_date) as string
                  })
                },
                { "set-cookie": "session_id=fake-session; Max-Age=604800; HttpOnly; Path=/" }
              )
            }
          }
        }
        if ((path === "/web/version" || path === "/json/version") && version >= 19) {
          return json(200, { version_info: [19, 0, 0, "final", 0, ""], version: "19.0" })
        }
        if ((path === "/json/2" || path.startsWith("/json/2/")) && version >= 19) {
          const dbHeader = headers["x-odoo-database"]
          const selected = typeof dbHeader === "string" ? dbHeader : databases.length === 1 ? database : undefined
          if (selected !== database) return html(404, T.noDatabasePage)
          const auth = headers.authorization
          const bearer = typeof auth === "string" && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined
          if (bearer === undefined) {
            return json2Error(
              werkzeug("Unauthorized", "User not authenticated, use an API Key with a Bearer Authorization header.", 401)
            )
          }
          if (bearer !== apiKey) return json2Error(werkzeug("Unauthorized", "Invalid apikey", 401))
          const parts = path.split("/").slice(3)
          if (method !== "POST" || parts.length !== 2 || parts[0] === "" || parts[1] === "") {
            return json2Error(werkzeug("NotFound", "Did you mean POST /json/2/<model>/<method>?", 404))
          }
          const decodeError = jsonDecodeError(text)
          if (decodeError !== undefined) {
            return json2Error(werkzeug("BadRequest", `could not parse the body as json: ${decodeError}`, 400))
          }
          const body = JSON.parse(text) as unknown
          const named: Record<string, unknown> = typeof body === "object" && body !== null && !Array.isArray(body)
            ? { ...(body as Record<string, unknown>) }
            : {}
          const [model, m] = parts as [string, string]
          const ids = named.ids
          const context = typeof named.context === "object" && named.context !== null ? (named.context as OdooContext) : {}
          delete named.ids
          delete named.context
          return {
            transport: "json2",
            model,
            method: m,
            ids: idsOf(ids),
            run: () => {
              try {
                return json(200, serializeJson2(db.execute({ model, method: m, transport: "json2", ids, kwargs: named, context })))
              } catch (e) {
                return json2Error(asException(e))
              }
            }
          }
        }
        return html(404, T.notFoundPage)
      }

      const takeFault = (call: Parsed): Fault | undefined => {
        const entry = faults.find(
          (f) =>
            (f.target.model === undefined || f.target.model === call.model) &&
            (f.target.method === undefined || f.target.method === call.method) &&
            (f.target.transport === undefined || f.target.transport === call.transport)
        )
        if (entry === undefined) return undefined
        entry.remaining -= 1
        if (entry.remaining <= 0) faults = faults.filter((f) => f !== entry)
        return entry.fault
      }

      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          stats.inFlight += 1
          stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
          let held: Array<string> = []
          let finished = false
          const finish = () => {
            if (finished) return
            finished = true
            stats.inFlight -= 1
            for (const key of held) locks.delete(key)
            held = []
          }
          res.on("close", finish)
          const send = (answer: { status: number; headers: Record<string, string>; body: string }, wait: number) => {
            const write = () => {
              if (res.destroyed) return finish()
              // like Odoo's werkzeug server, the Date header tells the server's clock
              res.writeHead(answer.status, {
                date: new Date(clock()).toUTCString(),
                ...answer.headers,
                "content-length": Buffer.byteLength(answer.body)
              })
              res.end(answer.body)
            }
            if (wait > 0) setTimeout(write, wait)
            else write()
          }
          const text = Buffer.concat(chunks).toString("utf8")
          const url = new URL(req.url ?? "/", "http://fake")
          const parsed = parse(req.method ?? "GET", url.pathname, req.headers, text)
          if (!("run" in parsed)) return send(parsed, latency)
          log.push({ transport: parsed.transport, model: parsed.model, method: parsed.method, ids: parsed.ids })
          const fault = takeFault(parsed)
          if (fault?._tag === "Drop") {
            req.socket.destroy()
            return finish()
          }
          if (fault?._tag === "Hang") return
          if (fault?._tag === "Http") {
            return send({ status: fault.status, headers: { "content-type": HTML_TYPE, ...fault.headers }, body: fault.body }, latency)
          }
          if (fault?._tag === "OdooError") {
            const e = new OdooException(fault.name, fault.message, fault.status)
            return send(parsed.transport === "json2" ? json2Error(e) : rpcError(JSON.parse(text).id, e), latency)
          }
          if (conflicts && !READ_METHODS.has(parsed.method) && parsed.ids.length > 0) {
            const keys = parsed.ids.map((id) => `${parsed.model}:${id}`)
            if (keys.some((k) => locks.has(k))) {
              stats.conflicts += 1
              const e = new OdooException(
                "psycopg2.errors.SerializationFailure",
                "could not serialize access due to concurrent update",
                500
              )
              return send(parsed.transport === "json2" ? json2Error(e) : rpcError(JSON.parse(text).id, e), latency)
            }
            for (const k of keys) locks.add(k)
            held = keys
          }
          const answer = parsed.run()
          if (fault?._tag === "ActThenDrop") {
            req.socket.destroy()
            return finish()
          }
          send(answer, latency + (fault?._tag === "Delay" ? fault.millis : 0))
        })
      })
      server.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })

      const admin: Admin = {
        create: (model, values, context = {}) => db.create(model, values, context),
        write: (model, ids, values) => db.write(model, ids, values),
        read: (model, ids, fields) => db.read(model, ids, fields),
        search: (model, domain, opts = {}) =>
          db.search(model, domain, {
            limit: opts.limit,
            order: opts.order,
            context: opts.activeTest === false ? { active_test: false } : {}
          }),
        call: (model, method, ids, kwargs = {}, context = {}) =>
          db.execute({ model, method, transport: "json2", ...(ids.length > 0 ? { ids } : {}), kwargs, context }),
        createPartner: (values = {}) =>
          db.create("res.partner", {
            name: "Waybill Test Customer",
            is_company: true,
            email: "customer@example.com",
            phone: "+1 555 0100",
            street: "1 Loopback Way",
            city: "Springfield",
            zip: "12345",
            country_id: 233,
            ...values
          }),
        createProduct: (o) =>
          db.create("product.product", {
            name: o.name,
            ...(o.code !== undefined ? { default_code: o.code } : {}),
            ...(o.storable === false
              ? { type: "consu" }
              : version >= 18
              ? { type: "consu", is_storable: true }
              : { detailed_type: "product" }),
            weight: o.weightKg ?? 1,
            list_price: o.price ?? 10,
            invoice_policy: o.invoicePolicy ?? "delivery"
          }),
        setStock: (productId, quantity) => {
          const existing = db.all("stock.quant").find((q) => q.product_id === productId && q.location_id === db.stockLocation)
          const quant = existing?.id ??
            db.create("stock.quant", { product_id: productId, location_id: db.stockLocation }, { inventory_mode: true })
          db.touch("stock.quant", quant, { quantity })
        },
        createOrder: (o) => {
          const orderId = db.create("sale.order", {
            partner_id: o.partnerId,
            ...(o.clientRef !== undefined ? { client_order_ref: o.clientRef } : {}),
            ...(o.carrierId !== undefined ? { carrier_id: o.carrierId } : {}),
            order_line: o.lines.map((l) => [0, 0, {
              product_id: l.productId,
              product_uom_qty: l.quantity,
              ...(l.price !== undefined ? { price_unit: l.price } : {})
            }])
          })
          if (o.confirm !== false) db.confirmOrder(orderId)
          return { orderId, pickingIds: db.orderPickings(orderId) }
        },
        registerPayment: (invoiceId) => {
          db.registerPayment([invoiceId])
        },
        stockLocationId: db.stockLocation,
        fieldInfo: (model, field) => {
          const def = db.field(model, field)
          return def === undefined ? undefined : { type: def.type, ...(def.relation !== undefined ? { relation: def.relation } : {}) }
        }
      }

      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as Net.AddressInfo
        baseUrl = `http://127.0.0.1:${address.port}`
        const fake: OdooFake = {
          url: baseUrl,
          version,
          database,
          login,
          password,
          apiKey,
          clientOptions: (overrides = {}) => ({
            url: baseUrl,
            database,
            login,
            apiKey: Redacted.make(apiKey),
            ...overrides
          }),
          calls: (model, method) =>
            log.filter((c) => (model === undefined || c.model === model) && (method === undefined || c.method === method)).length,
          callLog: () => [...log],
          resetCalls: () => {
            log = []
          },
          stats: () => ({ ...stats }),
          failNext: (target, fault, times = 1) => {
            faults.push({ target, fault, remaining: times })
          },
          clearFaults: () => {
            faults = []
          },
          setClock: (now) => {
            clock = now
          },
          labels: () => [...db.labels],
          admin
        }
        resume(Effect.succeed({ fake, server, sockets }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ fake }) => fake))

/**
 * A layer running a fake for the layer's lifetime.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<OdooFakeServer> => Layer.scoped(OdooFakeServer, make(options))
