/**
 * Odoo server faults and their translation into `PortError.ErpError`.
 *
 * Odoo reports a failure as a Python exception name and message: inside a JSON-RPC `error`
 * envelope (`error.data.name`, always HTTP 200), or as the body of a JSON-2 response with a real
 * HTTP status. The exception name decides the retry `reason`:
 *
 * | Odoo exception                                   | reason         |
 * | ------------------------------------------------ | -------------- |
 * | `odoo.exceptions.AccessDenied`, login `false`     | `Unauthorized` |
 * | `AccessDenied`: "Too many login failures"         | `RateLimited`  |
 * | `odoo.exceptions.AccessError`                     | `Forbidden`    |
 * | `UserError`, `ValidationError`, `ValueError`      | `Invalid`      |
 * | `odoo.exceptions.MissingError`                    | `NotFound`     |
 * | `AttributeError`, `KeyError`, `TypeError`         | `Bug`          |
 * | `psycopg2` serialization failures / deadlocks     | `Conflict`     |
 * | `psycopg2.OperationalError`: unknown database     | `Invalid`      |
 * | `psycopg2` data and integrity errors (22, 23)     | `Invalid`      |
 * | `psycopg2` programming errors (42)                | `Bug`          |
 * | `psycopg2.OperationalError` and other psycopg2    | `Unavailable`  |
 *
 * An unknown database (a wrong `database` option: PostgreSQL's `database "x" does not exist`)
 * is a configuration error, permanent like the other ones, with a message that says so. The
 * `AccessDenied` of Odoo's login cooldown (too many failed logins from one address: every check
 * of the credentials is refused for a while, right ones too) is `RateLimited`, retried after it.
 * Unknown names fall back to the HTTP status (5xx retry, 4xx do not), or `Bug` when there is none.
 *
 * @since 0.1.0
 */
import { PortError } from "@waybill/core"
import * as Schema from "effect/Schema"

/**
 * A fault as Odoo reported it. Its fields are kept in the `cause` of the `ErpError` (as a plain
 * object, so they survive the dead-letter store); `fromError` reads them back.
 *
 * @since 0.1.0
 */
export class OdooFault extends Schema.Class<OdooFault>("OdooFault")({
  /** The Python exception, e.g. `odoo.exceptions.UserError`. */
  name: Schema.String,
  message: Schema.String,
  /** The JSON-RPC error code (200 on Odoo 16–18, 0 on 19). */
  code: Schema.optionalWith(Schema.Number, { exact: true }),
  /** The HTTP status of a JSON-2 error. */
  httpStatus: Schema.optionalWith(Schema.Number, { exact: true })
}) {
  /** The exception name without its module, e.g. `UserError`. */
  get shortName(): string {
    const i = this.name.lastIndexOf(".")
    return i < 0 ? this.name : this.name.slice(i + 1)
  }
}

const table: ReadonlyArray<readonly [RegExp, PortError.Reason]> = [
  [/^odoo\.exceptions\.AccessDenied$/, "Unauthorized"],
  [/^werkzeug\.exceptions\.Unauthorized$/, "Unauthorized"],
  [/^odoo\.exceptions\.AccessError$/, "Forbidden"],
  [/^werkzeug\.exceptions\.Forbidden$/, "Forbidden"],
  [/^odoo\.exceptions\.MissingError$/, "NotFound"],
  [/^werkzeug\.exceptions\.NotFound$/, "NotFound"],
  [/^odoo\.exceptions\.(UserError|ValidationError|RedirectWarning|Warning|except_orm)$/, "Invalid"],
  [/^builtins\.ValueError$/, "Invalid"],
  [/^builtins\.(AttributeError|KeyError|TypeError|IndexError|NameError)$/, "Bug"],
  [/^odoo\.exceptions\.CacheMiss$/, "Bug"],
  [/^werkzeug\.exceptions\.(UnprocessableEntity|BadRequest|MethodNotAllowed)$/, "Bug"],
  [/^werkzeug\.exceptions\.TooManyRequests$/, "RateLimited"],
  [/^werkzeug\.exceptions\.(ServiceUnavailable|BadGateway|InternalServerError)$/, "Unavailable"],
  [/^werkzeug\.exceptions\.GatewayTimeout$/, "Timeout"],
  [/ConcurrencyError$/, "Conflict"],
  [/^psycopg2\..*(SerializationFailure|TransactionRollbackError|DeadlockDetected|LockNotAvailable)$/, "Conflict"],
  // What the statement sent cannot be stored (SQLSTATE classes 22 and 23): the same call fails
  // the same way again, so it is no outage (an outage would open the dispatcher's breaker for
  // every call to Odoo). Odoo turns most integrity errors into a ValidationError, not all.
  [
    /^psycopg2\.(DataError|IntegrityError|errors\.(NumericValueOutOfRange|InvalidTextRepresentation|StringDataRightTruncation|DivisionByZero|InvalidDatetimeFormat|DatetimeFieldOverflow|CharacterNotInRepertoire|UntranslatableCharacter|InvalidParameterValue|InvalidEscapeSequence|NullValueNotAllowed|UniqueViolation|NotNullViolation|ForeignKeyViolation|CheckViolation|ExclusionViolation|RestrictViolation))$/,
    "Invalid"
  ],
  // A statement PostgreSQL cannot run (class 42: an unknown column or table, a syntax error): a bug.
  [/^psycopg2\.(ProgrammingError|errors\.(UndefinedColumn|UndefinedTable|UndefinedFunction|SyntaxError|AmbiguousColumn|DatatypeMismatch|UndefinedObject))$/, "Bug"],
  [/^psycopg2\./, "Unavailable"]
]

/**
 * The retry reason for an HTTP status without a recognisable Odoo exception.
 *
 * @since 0.1.0
 */
export const reasonOfStatus = (status: number): PortError.Reason =>
  status === 401
    ? "Unauthorized"
    : status === 403
    ? "Forbidden"
    : status === 404
    ? "NotFound"
    : status === 408 || status === 504
    ? "Timeout"
    : status === 409
    ? "Conflict"
    : status === 429
    ? "RateLimited"
    : status === 501 || status === 505
    ? "Invalid"
    : status >= 500
    ? "Unavailable"
    : status === 422
    ? "Invalid"
    : "Bug"

/**
 * The retry reason of an Odoo exception name (and HTTP status when there was one).
 *
 * @since 0.1.0
 */
export const reasonOf = (name: string, httpStatus?: number): PortError.Reason => {
  for (const [pattern, reason] of table) if (pattern.test(name)) return reason
  return httpStatus !== undefined ? reasonOfStatus(httpStatus) : "Bug"
}

const UNKNOWN_DATABASE = /database "([^"]*)" does not exist|no such database: ?(\S+)/

/**
 * The database a fault says does not exist (PostgreSQL's `FATAL: database "x" does not exist`,
 * or PgBouncer's `no such database: x`), when it is that fault.
 *
 * @since 0.2.0
 */
export const unknownDatabase = (fault: OdooFault): string | undefined => {
  if (!fault.name.startsWith("psycopg2.")) return undefined
  const found = UNKNOWN_DATABASE.exec(fault.message)
  return found === null ? undefined : found[1] ?? found[2]
}

const UNKNOWN_USER = /\(Record: res\.users\((\d+),\), User: (\d+)\)/

/**
 * The user id a fault says does not exist when it is the caller's own (`execute_kw` with a uid
 * that is gone: `MissingError` "(Record: res.users(7,), User: 7)"), raised before the call runs.
 *
 * @since 0.2.0
 */
export const unknownUser = (fault: OdooFault): number | undefined => {
  if (fault.name !== "odoo.exceptions.MissingError") return undefined
  const found = UNKNOWN_USER.exec(fault.message)
  return found !== null && found[1] === found[2] ? Number(found[1]) : undefined
}

const LOGIN_COOLDOWN = /Too many login failures/

/**
 * How long Odoo's login cooldown lasts by default (`base.login_cooldown_duration`, 60 s).
 *
 * @since 0.2.0
 */
export const loginCooldownMillis = 60_000

/**
 * Whether a fault is Odoo's login cooldown (`res.users._assert_can_auth`): an `AccessDenied`
 * that refuses even right credentials until the failed logins from this address are old enough.
 *
 * @since 0.2.0
 */
export const isLoginCooldown = (fault: OdooFault): boolean =>
  fault.name === "odoo.exceptions.AccessDenied" && LOGIN_COOLDOWN.test(fault.message)

/**
 * The most characters of a fault's text a port error keeps, in its description and in the message
 * of its `cause` (as `HttpFailure` does for other vendors): a `ValidationError` listing every
 * record it refused, or a message carrying a traceback, would otherwise go whole into every log
 * line and dead letter.
 */
const maxText = 500

/**
 * `text` cut to 500 characters, the last of them `…` when it was longer.
 *
 * @internal
 */
export const bound = (text: string): string => (text.length > maxText ? `${text.slice(0, maxText - 1)}…` : text)

/**
 * Translates a fault into the port error, keeping the fault in `cause` and its message in the
 * description (`"UserError: The entry INV/2026/00001 (id 1) must be in draft."`), both cut to 500
 * characters. The message may quote what the call sent (a `ValidationError` naming a partner's
 * e-mail): the dispatcher withholds the action's personal values from the description before it
 * logs or stores it.
 *
 * @since 0.1.0
 */
export const toErpError = (
  fault: OdooFault,
  method: string,
  extra: { readonly retryAfterMillis?: number | undefined } = {}
): PortError.ErpError => {
  const database = unknownDatabase(fault)
  const cooldown = isLoginCooldown(fault)
  const retryAfterMillis = extra.retryAfterMillis ?? (cooldown ? loginCooldownMillis : undefined)
  return new PortError.ErpError({
    reason: database !== undefined ? "Invalid" : cooldown ? "RateLimited" : reasonOf(fault.name, fault.httpStatus),
    module: "OdooClient",
    method,
    description: bound(
      database !== undefined
        ? `database "${database}" does not exist on this Odoo server: check the configured database (${fault.shortName}: ${fault.message.trim()})`
        : `${fault.shortName}: ${fault.message}`
    ),
    ...(fault.httpStatus !== undefined ? { status: fault.httpStatus } : {}),
    ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {}),
    // a plain object: it survives the JSON encoding of the dead-letter store (see `fromError`)
    cause: {
      _tag: "OdooFault",
      name: bound(fault.name),
      message: bound(fault.message),
      ...(fault.code !== undefined ? { code: fault.code } : {}),
      ...(fault.httpStatus !== undefined ? { httpStatus: fault.httpStatus } : {})
    }
  })
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const messageOf = (data: Record<string, unknown>): string => {
  if (typeof data.message === "string") return data.message
  const args = data.arguments
  if (Array.isArray(args) && typeof args[0] === "string") return args[0]
  return ""
}

/**
 * Reads the fault of a JSON-RPC `error` member (`{ code, message, data: { name, message } }`).
 *
 * @since 0.1.0
 */
export const fromJsonRpcError = (error: unknown): OdooFault => {
  if (!isRecord(error)) return new OdooFault({ name: "unknown", message: String(error) })
  const data = isRecord(error.data) ? error.data : {}
  const name = typeof data.name === "string" ? data.name : "unknown"
  const message = messageOf(data) || (typeof error.message === "string" ? error.message : "")
  return new OdooFault({
    name,
    message,
    ...(typeof error.code === "number" ? { code: error.code } : {})
  })
}

/**
 * Reads the fault of a JSON-2 error body (`{ name, message, arguments, context, debug }`), or
 * `undefined` when the body is not one (an HTML page).
 *
 * @since 0.1.0
 */
export const fromJson2Body = (status: number, body: unknown): OdooFault | undefined => {
  if (!isRecord(body) || typeof body.name !== "string") return undefined
  return new OdooFault({ name: body.name, message: messageOf(body), httpStatus: status })
}

/**
 * The Odoo fault behind a port error, when there is one. Works on errors read back from the
 * dead-letter store too (where the cause is a plain object).
 *
 * @since 0.1.0
 */
export const fromError = (error: PortError.PortFailure & { readonly cause?: unknown }): OdooFault | undefined => {
  let cause = error.cause
  if (cause instanceof OdooFault) return cause
  if (typeof cause === "string") {
    try {
      cause = JSON.parse(cause) as unknown
    } catch {
      return undefined
    }
  }
  if (isRecord(cause) && typeof cause.name === "string" && typeof cause.message === "string") {
    return new OdooFault({
      name: cause.name,
      message: cause.message,
      ...(typeof cause.code === "number" ? { code: cause.code } : {}),
      ...(typeof cause.httpStatus === "number" ? { httpStatus: cause.httpStatus } : {})
    })
  }
  return undefined
}
