/**
 * The plumbing of in-process HTTP fakes of vendor APIs, so an adapter's tests run its real
 * HTTP client against a real server: a node:http server on 127.0.0.1, port 0, that lives as long
 * as the scope; a route table written as a function from {@link Request} to {@link Answer}; a
 * queue of injected faults (hang, carry out and lose the answer, a canned answer, or the
 * vendor's own, such as a 429 in its error shape); and a log of every call.
 *
 * The vendor fake supplies what is the vendor's: how it authenticates, its routes and its
 * error bodies. {@link ingress} is the other direction: a minimal webhook endpoint that hands
 * each request to an adapter's `parse`, and {@link post} sends a webhook to it.
 *
 * It needs no test runner (a vendor fake built on it can serve a demo): import it from
 * `@waybill/core/simulation`, or from `@waybill/core/testing` next to the vitest suites.
 *
 * @example
 * ```ts
 * import { HttpFake } from "@waybill/core/simulation"
 *
 * const fake = yield* HttpFake.make<AcmeFault>({
 *   prefix: "/v1",
 *   authorize: (req) => req.headers["x-api-key"] === "test-key",
 *   route: (req) =>
 *     !req.authorized ? HttpFake.json(401, { error: "bad key" })
 *     : req.method === "POST" && req.path === "/v1/trackers" ? HttpFake.json(201, { id: "trk_1" })
 *     : HttpFake.json(404, { error: "not found" }),
 *   fault: (fault) => HttpFake.json(429, { error: "slow down" }, { "retry-after": fault.retryAfter })
 * })
 * fake.failNext({ _tag: "Hang" }, { route: "POST /v1/trackers" })
 * // … run the client against fake.url, then:
 * expect(fake.count("POST", "/v1/trackers")).toBe(1)
 * ```
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as CarrierPort from "../CarrierPort.js"
import type * as Instant from "../Instant.js"

/**
 * A request the fake received, as its routes see it.
 *
 * @since 0.1.0
 */
export interface Request {
  readonly method: string
  /** The path, without the query. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: Http.IncomingHttpHeaders
  /** The body as text. */
  readonly text: string
  /** The body parsed as JSON; `undefined` when empty or not JSON. */
  readonly body: unknown
  /** The body is not empty and not JSON. */
  readonly badJson: boolean
  /** What the fake's `authorize` said. */
  readonly authorized: boolean
}

/**
 * An answer: a status, a body (sent as JSON) and extra headers.
 *
 * @since 0.1.0
 */
export interface Answer {
  readonly status: number
  readonly body: unknown
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * A JSON answer.
 *
 * @since 0.1.0
 */
export const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): Answer => ({
  status,
  body,
  ...(headers !== undefined ? { headers } : {})
})

/**
 * The faults every fake handles itself. `Hang`: never answer; `LoseAnswer`: carry the request
 * out, then never answer (as if the connection broke on the way back); `Respond`: answer this
 * instead. A vendor fake adds its own (e.g. `RateLimited` in the vendor's error shape).
 *
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "Hang" }
  | { readonly _tag: "LoseAnswer" }
  | {
    readonly _tag: "Respond"
    readonly status: number
    readonly body: unknown
    readonly headers?: Readonly<Record<string, string>> | undefined
  }

/**
 * One request the fake received.
 *
 * @since 0.1.0
 */
export interface Call {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly body: unknown
  readonly authorized: boolean
}

/**
 * What makes a fake a particular vendor's.
 *
 * @since 0.1.0
 */
export interface Options<F extends { readonly _tag: string }> {
  /** The API root's path, e.g. `/v2`: `url` is the origin followed by it (default none). */
  readonly prefix?: string | undefined
  /** Whether a request carries the credentials the fake accepts. */
  readonly authorize: (request: Omit<Request, "authorized">) => boolean
  /** The vendor's routes (they see `authorized` and `badJson` and answer accordingly). */
  readonly route: (request: Request) => Answer
  /** The answer to one of the vendor's own faults (all but {@link Fault}); without it, a 500. */
  readonly fault?: ((fault: Exclude<F, Fault>, request: Request) => Answer) | undefined
}

/**
 * A running fake.
 *
 * @since 0.1.0
 */
export interface HttpFake<F extends { readonly _tag: string }> {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string
  /** The API root to give the client: the origin and the prefix. */
  readonly url: string
  /** Every request received, oldest first. */
  readonly calls: () => ReadonlyArray<Call>
  /** How many requests matched `METHOD /path` (path as a string prefix or a RegExp). */
  readonly count: (method: string, path: string | RegExp) => number
  /**
   * Answers the next `times` (default 1) requests with a fault: requests to `route`
   * (`METHOD /path` exactly, or a RegExp tested on `METHOD /path`), or any request.
   */
  readonly failNext: (
    fault: F,
    options?: { readonly route?: string | RegExp | undefined; readonly times?: number | undefined }
  ) => void
  /** Completes when the fake has received at least `n` requests in total. */
  readonly awaitCalls: (n: number) => Effect.Effect<void>
}

/**
 * Starts a node:http server on 127.0.0.1, port 0, calling `onRequest` with each request and
 * its whole body; it stops (closing every connection) when the scope closes. Returns the
 * origin, `http://127.0.0.1:<port>`.
 *
 * @since 0.1.0
 */
export const listen = (
  onRequest: (req: Http.IncomingMessage, res: Http.ServerResponse, body: Buffer) => void
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => onRequest(req, res, Buffer.concat(chunks)))
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

const send = (res: Http.ServerResponse, answer: Answer): void => {
  res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", ...answer.headers })
  res.end(JSON.stringify(answer.body))
}

/**
 * Starts a fake; it stops when the scope closes.
 *
 * @since 0.1.0
 */
export const make = <F extends { readonly _tag: string }>(
  options: Options<F>
): Effect.Effect<HttpFake<F>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const calls: Array<Call> = []
    const faults: Array<{ route: string | RegExp | undefined; fault: F; times: number }> = []
    const waiters: Array<{ n: number; resume: () => void }> = []

    const takeFault = (route: string): F | undefined => {
      const i = faults.findIndex((f) =>
        f.route === undefined || (typeof f.route === "string" ? f.route === route : f.route.test(route))
      )
      if (i === -1) return undefined
      const entry = faults[i]!
      entry.times -= 1
      if (entry.times <= 0) faults.splice(i, 1)
      return entry.fault
    }

    const handle = (req: Http.IncomingMessage, res: Http.ServerResponse, raw: Buffer) => {
      const url = new URL(req.url ?? "/", "http://fake")
      const text = raw.toString("utf8")
      let body: unknown = undefined
      let badJson = false
      if (text !== "") {
        try {
          body = JSON.parse(text)
        } catch {
          badJson = true
        }
      }
      const unauthorized = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams.entries()),
        headers: req.headers,
        text,
        body,
        badJson
      }
      const request: Request = { ...unauthorized, authorized: options.authorize(unauthorized) }
      calls.push({
        method: request.method,
        path: request.path,
        query: request.query,
        body: request.body,
        authorized: request.authorized
      })
      for (const w of waiters.filter((w) => calls.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resume()
      }
      const fault = takeFault(`${request.method} ${request.path}`)
      if (fault === undefined) return send(res, options.route(request))
      const common = fault as Fault | { readonly _tag: "Vendor" }
      switch (common._tag) {
        case "Hang":
          return
        case "LoseAnswer":
          options.route(request)
          return
        case "Respond":
          return send(res, common)
        default: {
          // A fault the vendor fake does not answer is a bug in the test: say so in the answer.
          if (options.fault === undefined) return send(res, json(500, { error: `HttpFake: no answer for the fault ${fault._tag}` }))
          return send(res, options.fault(fault as Exclude<F, Fault>, request))
        }
      }
    }

    const origin = yield* listen(handle)
    return {
      origin,
      url: `${origin}${options.prefix ?? ""}`,
      calls: () => [...calls],
      count: (method, path) =>
        calls.filter((c) => c.method === method && (typeof path === "string" ? c.path.startsWith(path) : path.test(c.path))).length,
      failNext: (fault, opts) => {
        faults.push({ route: opts?.route, fault, times: opts?.times ?? 1 })
      },
      awaitCalls: (n) =>
        Effect.async<void>((resume) => {
          if (calls.length >= n) return resume(Effect.void)
          waiters.push({ n, resume: () => resume(Effect.void) })
        })
    }
  })

/**
 * POSTs `body` to `url` with these headers (as a vendor sends a webhook), returning the HTTP
 * answer's status and text.
 *
 * @since 0.1.0
 */
export const post = (
  url: string,
  body: string | Uint8Array,
  headers: Readonly<Record<string, string>>
): Effect.Effect<{ readonly status: number; readonly body: string }, Error> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url, { method: "POST", headers, body })
      return { status: response.status, body: await response.text() }
    },
    catch: (error) => (error instanceof Error ? error : new Error(String(error)))
  })

/**
 * A minimal webhook endpoint, as a host would run one, for end-to-end adapter tests: each
 * request becomes a `CarrierPort.InboundRequest` (header names in lower case, the raw body,
 * `receivedAt()`) handed to `handle` (typically a carrier port's `parse`); the answer is 202
 * when it succeeds, the typed failure's `status` (else 500) when it fails. Returns the
 * endpoint's URL (`path` default `/webhooks`); it stops when the scope closes.
 *
 * @since 0.1.0
 */
export const ingress = <E extends { readonly status?: number | undefined }>(
  handle: (request: CarrierPort.InboundRequest) => Effect.Effect<unknown, E>,
  options: { readonly receivedAt: () => Instant.Instant; readonly path?: string | undefined }
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.map(
    listen((req, res, body) => {
      const request: CarrierPort.InboundRequest = {
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: new Uint8Array(body),
        receivedAt: options.receivedAt()
      }
      void Effect.runPromiseExit(handle(request)).then((exit) => {
        if (Exit.isSuccess(exit)) res.writeHead(202).end()
        else {
          const failure = Cause.failureOption(exit.cause)
          res.writeHead(failure._tag === "Some" ? failure.value.status ?? 500 : 500).end()
        }
      })
    }),
    (origin) => `${origin}${options.path ?? "/webhooks"}`
  )
