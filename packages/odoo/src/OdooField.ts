/**
 * Schemas for the values Odoo returns from `read` / `search_read`.
 *
 * Odoo encodes "not set" as `false` for every field type except booleans, many2one values as
 * `[id, display_name]`, x2many values as id lists, and datetimes as naive UTC strings
 * `"YYYY-MM-DD HH:MM:SS"` (dates `"YYYY-MM-DD"`). These schemas decode them into plain values:
 * `null` for not set, `DateTime.Utc` for times.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const NAIVE_DATETIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/
const NAIVE_DATE = /^(\d{4})-(\d{2})-(\d{2})$/

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

/**
 * Parses an Odoo naive UTC datetime (`"2026-11-27 11:21:26"`) or date (`"2026-11-27"`) into epoch
 * milliseconds, or returns a reason.
 *
 * @since 0.1.0
 */
export const parseNaive = (input: string): number | string => {
  const dt = NAIVE_DATETIME.exec(input)
  const d = dt === null ? NAIVE_DATE.exec(input) : null
  const m = dt ?? d
  if (m === null) return `expected an Odoo UTC datetime "YYYY-MM-DD HH:MM:SS" or date "YYYY-MM-DD", got ${JSON.stringify(input)}`
  const [, y, mo, da, h = "0", mi = "0", s = "0", frac] = m
  const year = Number(y), month = Number(mo), day = Number(da)
  const hour = Number(h), minute = Number(mi), second = Number(s)
  if (month < 1 || month > 12) return `month ${mo} is out of range`
  if (day < 1 || day > daysInMonth(year, month)) return `day ${da} does not exist in ${y}-${mo}`
  if (hour > 23 || minute > 59 || second > 59) return `time ${h}:${mi}:${s} is out of range`
  const millis = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000)
  return Date.UTC(year, month - 1, day, hour, minute, second, millis)
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/**
 * Formats an instant as Odoo's naive UTC datetime (`"YYYY-MM-DD HH:MM:SS"`, seconds truncated).
 *
 * @since 0.1.0
 */
export const formatDateTime = (instant: DateTime.DateTime | number): string => {
  const d = new Date(typeof instant === "number" ? instant : DateTime.toEpochMillis(instant))
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes()
  )}:${pad(d.getUTCSeconds())}`
}

/**
 * Formats an instant as Odoo's date (`"YYYY-MM-DD"`, in UTC).
 *
 * @since 0.1.0
 */
export const formatDate = (instant: DateTime.DateTime | number): string => formatDateTime(instant).slice(0, 10)

/**
 * A naive UTC datetime string decoded into a `DateTime.Utc`.
 *
 * @since 0.1.0
 */
export const DateTimeUtc = Schema.transformOrFail(Schema.String, Schema.DateTimeUtcFromSelf, {
  strict: true,
  decode: (input, _options, ast) => {
    const parsed = parseNaive(input)
    return typeof parsed === "number"
      ? ParseResult.succeed(DateTime.unsafeMake(parsed))
      : ParseResult.fail(new ParseResult.Type(ast, input, parsed))
  },
  encode: (dt) => ParseResult.succeed(formatDateTime(dt))
}).annotations({ identifier: "OdooDateTime" })

/**
 * A value that Odoo reports as `false` when it is not set; decodes `false` to `null`.
 *
 * @since 0.1.0
 */
export const OrFalse = <A, I, R>(schema: Schema.Schema<A, I, R>) =>
  Schema.transform(Schema.Union(Schema.Literal(false), schema), Schema.NullOr(Schema.typeSchema(schema)), {
    strict: true,
    decode: (value) => (value === false ? null : value),
    encode: (value) => (value === null ? (false as const) : value)
  })

/**
 * An optional datetime (`false` or a naive UTC string).
 *
 * @since 0.1.0
 */
export const OptionalDateTime = OrFalse(DateTimeUtc)

/**
 * An optional text field (`char`, `text`, `html`, `selection`): `false` decodes to `null`.
 *
 * @since 0.1.0
 */
export const Text = OrFalse(Schema.String)

/**
 * A positive Odoo record id.
 *
 * @since 0.1.0
 */
export const Id = Schema.Int.pipe(Schema.positive())

/**
 * A many2one value as read: `[id, display_name]`, decoded to `{ id, name }`, or `null` for `false`.
 *
 * @since 0.1.0
 */
export const Many2one = Schema.transform(
  Schema.Union(Schema.Literal(false), Schema.Tuple(Id, Schema.String)),
  Schema.NullOr(Schema.Struct({ id: Schema.Number, name: Schema.String })),
  {
    strict: true,
    decode: (value) => (value === false ? null : { id: value[0], name: value[1] }),
    encode: (value) => (value === null ? (false as const) : ([value.id, value.name] as const))
  }
).annotations({ identifier: "Many2one" })

/** @since 0.1.0 */
export type Many2one = typeof Many2one.Type

/**
 * An x2many value as read: a list of ids.
 *
 * @since 0.1.0
 */
export const X2many = Schema.Array(Id)

/**
 * A numeric field (`float`, `monetary`, `integer`).
 *
 * @since 0.1.0
 */
export const Float = Schema.Number

/**
 * A record id returned by a method that returns a record: an int (JSON-RPC on 17/18, `create`), or
 * a one-element list (JSON-2, and JSON-RPC on 19 for recordset results such as `message_post`).
 *
 * @since 0.1.0
 */
export const ReturnedId = Schema.transformOrFail(Schema.Union(Id, Schema.Array(Id)), Id, {
  strict: true,
  decode: (value, _options, ast) =>
    typeof value === "number"
      ? ParseResult.succeed(value)
      : value.length === 1
      ? ParseResult.succeed(value[0]!)
      : ParseResult.fail(new ParseResult.Type(ast, value, `expected one record id, got ${value.length}`)),
  encode: (id) => ParseResult.succeed(id)
})
