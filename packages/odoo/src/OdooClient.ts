/**
 * An Odoo client on `@effect/platform`'s `HttpClient`, with two transports behind one interface:
 *
 * - **JSON-RPC** (`POST /jsonrpc`, `object.execute_kw`): Odoo 16–19 (deprecated from 19).
 * - **JSON-2** (`POST /json/2/<model>/<method>`, bearer API key, named arguments): Odoo 19+.
 *
 * `common.version` (or `GET /web/version` where `/jsonrpc` is gone) picks the transport on first
 * use: JSON-2 on 19+ when an API key is configured, JSON-RPC otherwise. Every call goes through a
 * per-instance concurrency cap (default 4 in flight) and an optional rate limit, and every failure
 * is a `PortError.ErpError` whose `reason` says whether a retry can help (see {@link OdooFault}).
 *
 * @example
 * ```ts
 * import { OdooClient, OdooDomain as D, OdooField as F } from "@waybill/odoo"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Effect, Redacted, Schema } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const odoo = yield* OdooClient.OdooClient
 *   return yield* odoo.searchRead("sale.order", D.eq("state", "sale"), {
 *     fields: { name: Schema.String, partner_id: F.Many2one, write_date: F.DateTimeUtc },
 *     limit: 10
 *   })
 * }).pipe(
 *   Effect.provide(OdooClient.layer({ url, database, login, apiKey: Redacted.make(key) })),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { HttpFailure, PortError } from "@waybill/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as RateLimiter from "effect/RateLimiter"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as OdooDomain from "./OdooDomain.js"
import * as OdooFault from "./OdooFault.js"

/**
 * The wire protocol.
 *
 * @since 0.1.0
 */
export type Transport = "jsonrpc" | "json2"

/**
 * How to reach one Odoo instance.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Base URL of the server, e.g. `https://acme.odoo.com` (no trailing path). */
  readonly url: string
  readonly database: string
  readonly login: string
  /** The user's password (JSON-RPC only). */
  readonly password?: Redacted.Redacted | undefined
  /** An API key: the password on JSON-RPC, the bearer token on JSON-2. Preferred over `password`. */
  readonly apiKey?: Redacted.Redacted | undefined
  /** `auto` (default): JSON-2 on Odoo 19+ when an API key is set, JSON-RPC otherwise. */
  readonly transport?: "auto" | Transport | undefined
  /** Calls in flight at once to this instance (default 4). */
  readonly maxConcurrency?: number | undefined
  /** At most `limit` calls per `interval` to this instance (default: no limit). */
  readonly rateLimit?: { readonly limit: number; readonly interval: Duration.DurationInput } | undefined
  /** Time allowed for one HTTP exchange (default 30 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * What version detection found.
 *
 * @since 0.1.0
 */
export interface ServerInfo {
  /** `server_version`, e.g. `17.0-20240709` or `saas~18.2`. */
  readonly version: string
  readonly major: number
  readonly minor: number
  readonly transport: Transport
  /** The user id (JSON-RPC: from `common.authenticate`). */
  readonly uid: number | undefined
}

/**
 * The data-model differences between versions that callers must respect.
 *
 * @since 0.1.0
 */
export interface Features {
  /** Values that make a `product.product` storable: 17 `detailed_type`, 18+ `is_storable`. */
  readonly storableProduct: Readonly<Record<string, unknown>>
  /** Whether `res.partner.mobile` exists (removed in 19). */
  readonly partnerMobile: boolean
  /** The unit-of-measure field of `sale.order.line` (19: `product_uom_id`). */
  readonly orderLineUom: "product_uom" | "product_uom_id"
  /** The company flag that arms the stock SMS wizard (19: `stock_text_confirmation`). */
  readonly smsCompanyFlag: "stock_move_sms_validation" | "stock_text_confirmation"
  /** Whether `message_post` accepts `body_is_html` (17+). */
  readonly bodyIsHtml: boolean
}

/**
 * The differences for an Odoo major version.
 *
 * @since 0.1.0
 */
export const features = (major: number): Features => ({
  storableProduct: major >= 18 ? { type: "consu", is_storable: true } : { detailed_type: "product" },
  partnerMobile: major < 19,
  orderLineUom: major >= 19 ? "product_uom_id" : "product_uom",
  smsCompanyFlag: major >= 19 ? "stock_text_confirmation" : "stock_move_sms_validation",
  bodyIsHtml: major >= 17
})

/**
 * Context passed to a method (`active_ids`, `lang`, ...).
 *
 * @since 0.1.0
 */
export type OdooContext = Readonly<Record<string, unknown>>

/**
 * Arguments of a generic method call. On JSON-2 only named arguments exist: `args` must be empty.
 *
 * @since 0.1.0
 */
export interface CallOptions {
  /** The records the method runs on (`self`); omit for `@api.model` methods. */
  readonly ids?: ReadonlyArray<number> | undefined
  /** Positional arguments after `ids` (JSON-RPC only). */
  readonly args?: ReadonlyArray<unknown> | undefined
  /** Keyword arguments. */
  readonly kwargs?: Readonly<Record<string, unknown>> | undefined
  readonly context?: OdooContext | undefined
}

/**
 * The schemas of the fields to read, by field name; `id` is always read.
 *
 * @since 0.1.0
 */
export type Fields = Readonly<Record<string, Schema.Schema.AnyNoContext>>

/**
 * A decoded record.
 *
 * @since 0.1.0
 */
export type Row<F extends Fields> = { readonly id: number } & { readonly [K in keyof F]: Schema.Schema.Type<F[K]> }

/**
 * Options of `searchRead`.
 *
 * @since 0.1.0
 */
export interface SearchReadOptions<F extends Fields> {
  readonly fields: F
  readonly limit?: number | undefined
  readonly offset?: number | undefined
  /** e.g. `"write_date asc, id asc"` */
  readonly order?: string | undefined
  readonly context?: OdooContext | undefined
}

/**
 * The client.
 *
 * @since 0.1.0
 */
export interface OdooClientShape {
  readonly url: string
  readonly database: string
  /**
   * The server's clock (epoch ms): the `Date` header of its latest answer (whole seconds, so at
   * most a second behind), advanced by the time elapsed here since; this process's clock until a
   * first answer with a `Date` came. Where a proxy answers, it is the proxy's clock.
   *
   * @since 0.2.0
   */
  readonly serverTime: Effect.Effect<number>
  /** Version, transport and user, detected once (a failed detection is retried on next use). */
  readonly info: Effect.Effect<ServerInfo, PortError.ErpError>
  /** Calls any public model method; the result is returned as sent (`null` for None). */
  readonly call: (model: string, method: string, options?: CallOptions) => Effect.Effect<unknown, PortError.ErpError>
  readonly searchRead: <const F extends Fields>(
    model: string,
    domain: OdooDomain.Domain,
    options: SearchReadOptions<F>
  ) => Effect.Effect<ReadonlyArray<Row<F>>, PortError.ErpError>
  /** Reads records by id. Ids that no longer exist are left out (Odoo does not fail). */
  readonly read: <const F extends Fields>(
    model: string,
    ids: ReadonlyArray<number>,
    options: { readonly fields: F; readonly context?: OdooContext | undefined }
  ) => Effect.Effect<ReadonlyArray<Row<F>>, PortError.ErpError>
  readonly search: (
    model: string,
    domain: OdooDomain.Domain,
    options?: {
      readonly limit?: number | undefined
      readonly offset?: number | undefined
      readonly order?: string | undefined
      readonly context?: OdooContext | undefined
    }
  ) => Effect.Effect<ReadonlyArray<number>, PortError.ErpError>
  readonly searchCount: (
    model: string,
    domain: OdooDomain.Domain,
    options?: { readonly context?: OdooContext | undefined }
  ) => Effect.Effect<number, PortError.ErpError>
  /** Creates one record and returns its id (whatever the transport returns: an int or `[id]`). */
  readonly create: (
    model: string,
    values: Readonly<Record<string, unknown>>,
    options?: { readonly context?: OdooContext | undefined }
  ) => Effect.Effect<number, PortError.ErpError>
  readonly write: (
    model: string,
    ids: ReadonlyArray<number>,
    values: Readonly<Record<string, unknown>>,
    options?: { readonly context?: OdooContext | undefined }
  ) => Effect.Effect<void, PortError.ErpError>
  readonly unlink: (model: string, ids: ReadonlyArray<number>) => Effect.Effect<void, PortError.ErpError>
  /** Field metadata; `fields` limits the fields, `attributes` the keys of each description. */
  readonly fieldsGet: (
    model: string,
    options?: {
      readonly fields?: ReadonlyArray<string> | undefined
      readonly attributes?: ReadonlyArray<string> | undefined
    }
  ) => Effect.Effect<Readonly<Record<string, Readonly<Record<string, unknown>>>>, PortError.ErpError>
}

/**
 * The client of one Odoo instance.
 *
 * @since 0.1.0
 */
export class OdooClient extends Context.Tag("@waybill/odoo/OdooClient")<OdooClient, OdooClientShape>() {}

/** One invocation, in both spellings: positional (JSON-RPC) and named (JSON-2). */
interface Invocation {
  readonly model: string
  readonly method: string
  readonly ids?: ReadonlyArray<number> | undefined
  readonly positional: ReadonlyArray<unknown>
  readonly named: Readonly<Record<string, unknown>>
  readonly kwargs: Readonly<Record<string, unknown>>
  readonly context?: OdooContext | undefined
  /** Positional arguments given by the caller of `call`: JSON-2 cannot send them. */
  readonly positionalOnly?: boolean | undefined
}

interface Exchange {
  readonly status: number
  readonly contentType: string
  readonly text: string
  /** The wait a 429 or 503 asked for (`Retry-After`, a date counted on the server's clock). */
  readonly retryAfterMillis: number | undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const compact = (record: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = v
  return out
}

const snippet = (text: string): string => {
  const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim()
  return plain.length > 200 ? `${plain.slice(0, 200)}…` : plain
}

const parseVersion = (info: unknown): { version: string; major: number; minor: number } | undefined => {
  if (!isRecord(info)) return undefined
  const raw = info.server_version_info ?? info.version_info
  const version = typeof info.server_version === "string" ? info.server_version : typeof info.version === "string" ? info.version : ""
  if (!Array.isArray(raw) || raw.length < 2) return undefined
  // saas versions report e.g. ["saas~17", 2, ...]
  const majorOf = (u: unknown) => (typeof u === "number" ? u : Number(String(u).replace(/^\D+/, "")))
  const major = majorOf(raw[0])
  const minor = majorOf(raw[1])
  if (!Number.isFinite(major)) return undefined
  return { version, major, minor: Number.isFinite(minor) ? minor : 0 }
}

/**
 * Builds a client. Nothing is sent until the first call.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<OdooClientShape, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const base = options.url.replace(/\/+$/, "")
    const timeout = Duration.decode(options.timeout ?? "30 seconds")
    const permits = yield* Effect.makeSemaphore(Math.max(1, options.maxConcurrency ?? 4))
    const limiter = options.rateLimit !== undefined
      ? yield* RateLimiter.make({ limit: options.rateLimit.limit, interval: options.rateLimit.interval })
      : undefined
    const secret = options.apiKey ?? options.password
    let nextId = 1
    /** The latest `Date` header and when it came, by this process's clock. */
    let lastDate: { readonly server: number; readonly local: number } | undefined
    const noteDate = (header: string | undefined) =>
      Effect.flatMap(Clock.currentTimeMillis, (local) =>
        Effect.sync(() => {
          const server = header === undefined ? Number.NaN : Date.parse(header)
          if (!Number.isNaN(server)) lastDate = { server, local }
        }))
    const serverTime: Effect.Effect<number> = Effect.map(Clock.currentTimeMillis, (local) =>
      lastDate === undefined ? local : lastDate.server + Math.max(0, local - lastDate.local))

    /** A port error; its description cut to 500 characters (an answer that does not decode can be long). */
    const fail = (
      reason: PortError.Reason,
      method: string,
      description: string,
      extra: { readonly status?: number; readonly retryAfterMillis?: number; readonly cause?: unknown } = {}
    ) =>
      new PortError.ErpError({
        reason,
        module: "OdooClient",
        method,
        description: OdooFault.bound(description),
        ...(extra.status !== undefined ? { status: extra.status } : {}),
        ...(extra.retryAfterMillis !== undefined ? { retryAfterMillis: extra.retryAfterMillis } : {}),
        ...(extra.cause !== undefined ? { cause: extra.cause } : {})
      })

    const why = (error: HttpClientError.HttpClientError): string => {
      if (error.description !== undefined) return error.description
      const cause = error.cause
      if (cause instanceof Error) {
        const inner = (cause as Error & { cause?: unknown }).cause
        const code = typeof inner === "object" && inner !== null && "code" in inner ? ` (${String(inner.code)})` : ""
        return `${cause.message}${code}`
      }
      return error.reason
    }

    const fromHttpError = (method: string) => (error: HttpClientError.HttpClientError) =>
      fail(
        "Transport",
        method,
        error._tag === "RequestError" ? `no response from ${base}: ${why(error)}` : `reading the response failed: ${why(error)}`,
        { cause: { _tag: error._tag, reason: error.reason, description: why(error) } }
      )

    /** One HTTP exchange under the concurrency cap, the rate limit and the timeout. */
    const exchange = (method: string, request: HttpClientRequest.HttpClientRequest): Effect.Effect<Exchange, PortError.ErpError> => {
      const run = http.execute(request).pipe(
        Effect.tap((response) => noteDate(response.headers["date"])),
        Effect.flatMap((response) =>
          Effect.zipWith(response.text, Clock.currentTimeMillis, (text, now): Exchange => ({
            status: response.status,
            contentType: response.headers["content-type"] ?? "",
            text,
            // Delay-seconds or an HTTP-date only (core's reading), a date counted from the
            // server's own `Date` header: a skewed local clock does not change the wait.
            retryAfterMillis: response.status === 429 || response.status === 503
              ? HttpFailure.waitMillis(response.headers, now)
              : undefined
          }))
        ),
        Effect.scoped,
        Effect.mapError(fromHttpError(method)),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => fail("Timeout", method, `no answer from ${base} within ${Duration.format(timeout)}`)
        })
      )
      const limited = limiter !== undefined ? limiter(run) : run
      return permits.withPermits(1)(limited)
    }

    /** Status handling shared by both transports for responses that are not Odoo JSON. */
    const httpFailure = (method: string, ex: Exchange, what: string) => {
      const reason = OdooFault.reasonOfStatus(ex.status)
      const after = ex.retryAfterMillis
      const description = ex.status === 400
        ? `malformed request (HTTP 400): ${snippet(ex.text)}`
        : ex.status === 404
        ? `${what} not found (HTTP 404): ${snippet(ex.text)}`
        : `HTTP ${ex.status}: ${snippet(ex.text)}`
      return fail(reason, method, description, {
        status: ex.status,
        ...(after !== undefined ? { retryAfterMillis: after } : {})
      })
    }

    const parseJson = (method: string, ex: Exchange): Effect.Effect<unknown, PortError.ErpError> =>
      Effect.try({
        try: () => (ex.text === "" ? null : JSON.parse(ex.text) as unknown),
        catch: () =>
          fail("Unavailable", method, `the server answered HTTP ${ex.status} with a body that is not JSON: ${snippet(ex.text)}`, {
            status: ex.status
          })
      })

    /** `POST /jsonrpc` with a service call; resolves to `result` (`null` when absent). */
    const jsonRpc = (service: string, method: string, args: ReadonlyArray<unknown>, label: string) =>
      Effect.gen(function*() {
        const body = { jsonrpc: "2.0", method: "call", params: { service, method, args }, id: nextId++ }
        const ex = yield* exchange(
          label,
          HttpClientRequest.post(`${base}/jsonrpc`).pipe(
            HttpClientRequest.acceptJson,
            HttpClientRequest.bodyUnsafeJson(body)
          )
        )
        if (ex.status !== 200) return yield* Effect.fail(httpFailure(label, ex, `the JSON-RPC endpoint ${base}/jsonrpc`))
        const json = yield* parseJson(label, ex)
        if (!isRecord(json)) {
          return yield* Effect.fail(fail("Unavailable", label, `not a JSON-RPC response: ${snippet(ex.text)}`))
        }
        if (json.error !== undefined && json.error !== null) {
          return yield* Effect.fail(OdooFault.toErpError(OdooFault.fromJsonRpcError(json.error), label))
        }
        // A method returning None answers with neither `result` nor `error`.
        return json.result === undefined ? null : json.result
      })

    const json2 = (model: string, method: string, body: Readonly<Record<string, unknown>>) =>
      Effect.gen(function*() {
        const label = `${model}.${method}`
        if (options.apiKey === undefined) {
          return yield* Effect.fail(fail("Unauthorized", label, "JSON-2 needs an API key (apiKey)"))
        }
        const ex = yield* exchange(
          label,
          HttpClientRequest.post(`${base}/json/2/${model}/${method}`).pipe(
            HttpClientRequest.acceptJson,
            HttpClientRequest.setHeader("X-Odoo-Database", options.database),
            HttpClientRequest.setHeader("Authorization", `bearer ${Redacted.value(options.apiKey)}`),
            HttpClientRequest.bodyUnsafeJson(body)
          )
        )
        if (ex.status === 200) return yield* parseJson(label, ex)
        const parsed = ex.contentType.includes("json")
          ? yield* Effect.orElseSucceed(parseJson(label, ex), () => undefined)
          : undefined
        const fault = OdooFault.fromJson2Body(ex.status, parsed)
        if (fault !== undefined) {
          const after = ex.retryAfterMillis
          return yield* Effect.fail(OdooFault.toErpError(fault, label, { retryAfterMillis: after }))
        }
        return yield* Effect.fail(
          httpFailure(label, ex, ex.status === 404 ? `database ${options.database} or the JSON-2 endpoint` : "resource")
        )
      })

    const detect = Effect.gen(function*() {
      const versionRaw = yield* jsonRpc("common", "version", [], "common.version").pipe(
        Effect.catchIf(
          (e) => e.reason === "NotFound",
          () =>
            // Odoo without /jsonrpc (20+): the version is still public at /web/version.
            exchange("web.version", HttpClientRequest.get(`${base}/web/version`).pipe(HttpClientRequest.acceptJson)).pipe(
              Effect.flatMap((ex) =>
                ex.status === 200 ? parseJson("web.version", ex) : Effect.fail(httpFailure("web.version", ex, "/web/version"))
              )
            )
        )
      )
      const version = parseVersion(versionRaw)
      if (version === undefined) {
        return yield* Effect.fail(fail("Bug", "common.version", `unrecognised version answer: ${JSON.stringify(versionRaw)}`))
      }
      const wanted = options.transport ?? "auto"
      const transport: Transport = wanted === "auto"
        ? version.major >= 19 && options.apiKey !== undefined ? "json2" : "jsonrpc"
        : wanted
      if (transport === "json2" && version.major < 19) {
        return yield* Effect.fail(
          fail("Invalid", "common.version", `JSON-2 needs Odoo 19 or later; ${base} runs ${version.version}`)
        )
      }
      let uid: number | undefined
      if (transport === "jsonrpc") {
        if (secret === undefined) {
          return yield* Effect.fail(fail("Unauthorized", "common.authenticate", "no password or API key configured"))
        }
        const result = yield* jsonRpc(
          "common",
          "authenticate",
          [options.database, options.login, Redacted.value(secret), {}],
          "common.authenticate"
        )
        if (typeof result !== "number") {
          return yield* Effect.fail(
            fail("Unauthorized", "common.authenticate", `login ${options.login} on database ${options.database} was refused`)
          )
        }
        uid = result
      }
      return { ...version, transport, uid } satisfies ServerInfo
    })

    const cached = yield* Ref.make(Option.none<ServerInfo>())
    const detectLock = yield* Effect.makeSemaphore(1)
    const info: Effect.Effect<ServerInfo, PortError.ErpError> = Effect.flatMap(Ref.get(cached), (current) =>
      Option.isSome(current)
        ? Effect.succeed(current.value)
        : detectLock.withPermits(1)(
          Effect.flatMap(Ref.get(cached), (again) =>
            Option.isSome(again) ? Effect.succeed(again.value) : Effect.tap(detect, (found) => Ref.set(cached, Option.some(found)))
          )
        )
    )

    /** Forgets a detection (unless another fiber already replaced it): the next call logs in again. */
    const forget = (server: ServerInfo) =>
      Ref.update(cached, (current) => (Option.isSome(current) && current.value === server ? Option.none() : current))

    /** Whether `error` is Odoo refusing `execute_kw` because the user id `uid` no longer exists. */
    const userGone = (error: PortError.ErpError, uid: number | undefined) => {
      const fault = OdooFault.fromError(error)
      return uid !== undefined && fault !== undefined && OdooFault.unknownUser(fault) === uid
    }

    const invokeAs = (server: ServerInfo, inv: Invocation, label: string): Effect.Effect<unknown, PortError.ErpError> => {
      if (server.transport === "json2") {
        if (inv.positionalOnly === true && inv.positional.length > 0) {
          return Effect.fail(fail("Bug", label, "JSON-2 takes named arguments only (pass kwargs, not args)"))
        }
        return json2(
          inv.model,
          inv.method,
          compact({
            ...(inv.ids !== undefined ? { ids: inv.ids } : {}),
            ...inv.named,
            ...inv.kwargs,
            ...(inv.context !== undefined ? { context: inv.context } : {})
          })
        )
      }
      const args = inv.ids !== undefined ? [inv.ids, ...inv.positional] : [...inv.positional]
      const kwargs = compact({ ...inv.kwargs, ...(inv.context !== undefined ? { context: inv.context } : {}) })
      return jsonRpc(
        "object",
        "execute_kw",
        [options.database, server.uid, Redacted.value(secret!), inv.model, inv.method, args, kwargs],
        label
      )
    }

    const invoke = (inv: Invocation): Effect.Effect<unknown, PortError.ErpError> => {
      const label = `${inv.model}.${inv.method}`
      return Effect.flatMap(info, (server) =>
        invokeAs(server, inv, label).pipe(
          // The uid detected at first use is gone (the user was recreated, the database restored):
          // Odoo checks the user before it runs the call, so log in again and send it once more.
          Effect.catchIf((e) => userGone(e, server.uid), () =>
            Effect.zipRight(
              forget(server),
              Effect.flatMap(info, (again) =>
                invokeAs(again, inv, label).pipe(
                  Effect.mapError((e) =>
                    userGone(e, again.uid)
                      ? fail(
                        "Unauthorized",
                        label,
                        `user id ${again.uid} of login ${options.login} does not exist on database ${options.database}: ${e.description}`,
                        { cause: e.cause }
                      )
                      : e
                  )
                ))
            ))
        )).pipe(PortError.withSpan(`Odoo ${inv.model}.${inv.method}`, { attributes: { "odoo.model": inv.model, "odoo.method": inv.method } }))
    }

    const decode = <A, I>(schema: Schema.Schema<A, I>, label: string) => (value: unknown) =>
      Schema.decodeUnknown(schema)(value).pipe(
        Effect.mapError((error: ParseResult.ParseError) =>
          fail("Invalid", label, `unexpected answer: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
        )
      )

    const rowsSchema = <F extends Fields>(fields: F) =>
      Schema.Array(Schema.Struct({ ...fields, id: Schema.Number })) as unknown as Schema.Schema<ReadonlyArray<Row<F>>, unknown>

    const Ids = Schema.Array(Schema.Number)

    const client: OdooClientShape = {
      url: base,
      database: options.database,
      serverTime,
      info,
      call: (model, method, opts = {}) =>
        invoke({
          model,
          method,
          ids: opts.ids,
          positional: opts.args ?? [],
          named: {},
          kwargs: opts.kwargs ?? {},
          context: opts.context,
          positionalOnly: true
        }),
      searchRead: (model, domain, opts) => {
        const domainJson = OdooDomain.toJson(domain)
        const fields = Object.keys(opts.fields)
        const kw = compact({ offset: opts.offset, limit: opts.limit, order: opts.order })
        return invoke({
          model,
          method: "search_read",
          positional: [domainJson],
          named: { domain: domainJson },
          kwargs: { fields, ...kw },
          context: opts.context
        }).pipe(Effect.flatMap(decode(rowsSchema(opts.fields), `${model}.search_read`)))
      },
      read: (model, ids, opts) =>
        ids.length === 0
          ? Effect.succeed([])
          : invoke({
            model,
            method: "read",
            ids,
            positional: [],
            named: {},
            kwargs: { fields: Object.keys(opts.fields) },
            context: opts.context
          }).pipe(Effect.flatMap(decode(rowsSchema(opts.fields), `${model}.read`))),
      search: (model, domain, opts = {}) => {
        const domainJson = OdooDomain.toJson(domain)
        return invoke({
          model,
          method: "search",
          positional: [domainJson],
          named: { domain: domainJson },
          kwargs: compact({ offset: opts.offset, limit: opts.limit, order: opts.order }),
          context: opts.context
        }).pipe(Effect.flatMap(decode(Ids, `${model}.search`)))
      },
      searchCount: (model, domain, opts = {}) => {
        const domainJson = OdooDomain.toJson(domain)
        return invoke({
          model,
          method: "search_count",
          positional: [domainJson],
          named: { domain: domainJson },
          kwargs: {},
          context: opts.context
        }).pipe(Effect.flatMap(decode(Schema.Number, `${model}.search_count`)))
      },
      create: (model, values, opts = {}) =>
        invoke({
          model,
          method: "create",
          positional: [values],
          named: { vals_list: [values] },
          kwargs: {},
          context: opts.context
        }).pipe(
          Effect.flatMap(
            decode(
              Schema.Union(Schema.Number, Schema.Tuple(Schema.Number)).pipe(
                Schema.transform(Schema.Number, {
                  strict: true,
                  decode: (v) => (typeof v === "number" ? v : v[0]),
                  encode: (v) => v
                })
              ),
              `${model}.create`
            )
          )
        ),
      write: (model, ids, values, opts = {}) =>
        invoke({ model, method: "write", ids, positional: [values], named: { vals: values }, kwargs: {}, context: opts.context })
          .pipe(Effect.asVoid),
      unlink: (model, ids) => invoke({ model, method: "unlink", ids, positional: [], named: {}, kwargs: {} }).pipe(Effect.asVoid),
      fieldsGet: (model, opts = {}) =>
        invoke({
          model,
          method: "fields_get",
          positional: [],
          named: {},
          kwargs: compact({ allfields: opts.fields, attributes: opts.attributes })
        }).pipe(
          Effect.flatMap(
            decode(
              Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.Unknown }) }),
              `${model}.fields_get`
            )
          )
        )
    }
    return client
  })

/**
 * A layer providing the client.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<OdooClient, never, HttpClient.HttpClient> =>
  Layer.scoped(OdooClient, make(options))

/**
 * A layer reading the options from configuration, e.g.
 * `Config.all({ url: Config.string("ODOO_URL"), ..., apiKey: Config.option(Config.redacted("ODOO_API_KEY")) })`.
 * {@link config} builds the usual one.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  options: Config.Config<Options>
): Layer.Layer<OdooClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(OdooClient, Effect.flatMap(options, make))

/**
 * Options from the environment: `<prefix>URL`, `<prefix>DB`, `<prefix>LOGIN`, and
 * `<prefix>API_KEY` and/or `<prefix>PASSWORD` (prefix `ODOO_` by default).
 *
 * @since 0.1.0
 */
export const config = (prefix = "ODOO_"): Config.Config<Options> =>
  Config.all({
    url: Config.string(`${prefix}URL`),
    database: Config.string(`${prefix}DB`),
    login: Config.string(`${prefix}LOGIN`),
    apiKey: Config.option(Config.redacted(`${prefix}API_KEY`)),
    password: Config.option(Config.redacted(`${prefix}PASSWORD`))
  }).pipe(
    Config.map(({ apiKey, password, ...rest }): Options => ({
      ...rest,
      ...(Option.isSome(apiKey) ? { apiKey: apiKey.value } : {}),
      ...(Option.isSome(password) ? { password: password.value } : {})
    }))
  )
