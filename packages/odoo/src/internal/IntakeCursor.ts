/**
 * Paging through records by `(write_date, id)` without gaps or repeats.
 *
 * Odoo stores `write_date` with microseconds but reads it truncated to the second, so a cursor
 * second is a *bucket* `[d, d + 1s)` whose records are ordered by id, never an equality on
 * `write_date`. A page ordered by `write_date` may end inside a second whose other records sort
 * later (their microseconds are larger, their ids smaller); such an unfinished second is left for
 * the next page, or paged through by id when the whole page lies in it. A record can still join a
 * second after it was handed out, with a *smaller* id (a quotation created earlier, confirmed a
 * few milliseconds after the poll), so the cursor keeps every id it handed out in its second,
 * not only the largest.
 *
 * Odoo sets `write_date` to the start of the writing *transaction* (PostgreSQL `now()`), but the
 * row becomes visible only at commit: a slow confirmation that started before the cursor's second
 * and commits after a poll passed it would be skipped for good. So a cursor of the third format
 * (`v3`) carries a second position, `settled`, that trails the first one and sweeps again, once,
 * every second older than the server's clock minus a settle lag (longer than any Odoo
 * transaction). In that settled region nothing can appear any more, so a plain `(second, largest
 * id)` position pages it exactly. Every order is thus handed out twice (as soon as it is visible,
 * and once more when it settled); the intake's consumer registers idempotently.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as D from "../OdooDomain.js"
import * as OdooField from "../OdooField.js"

export interface Cursor {
  /** The last second handed out, `"YYYY-MM-DD HH:MM:SS"`. */
  readonly writeDate: string
  /** The largest id handed out within that second. */
  readonly id: number
  /**
   * Every id handed out within that second. Absent in a cursor of the first format (`v1`), where
   * every id up to `id` counts as handed out.
   */
  readonly ids?: ReadonlyArray<number> | undefined
  /**
   * The second pass (`v3`): every record up to `(writeDate, id)` of the settled region was handed
   * out again. Absent in `v1` / `v2` cursors and when the settle lag is zero.
   */
  readonly settled?: Position | undefined
}

/** A position in the settled region: every record up to `id` within the second `writeDate`. */
export interface Position {
  readonly writeDate: string
  readonly id: number
}

export interface Row {
  readonly id: number
  /** As Odoo reads it: truncated to the second. */
  readonly write_date: string
}

export type Query<E> = (domain: D.Domain, order: string, limit: number) => Effect.Effect<ReadonlyArray<Row>, E>

const V1 = /^v1\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+)$/
const V2 = /^v2\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+(?:,\d+)*)$/
const V3 = /^v3\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+(?:,\d+)*)\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+)$/

/**
 * `v1|<second>|<id>`, `v2|<second>|<id>,<id>,…`, or, with a settled position,
 * `v3|<second>|<id>,<id>,…|<settled second>|<settled id>`.
 */
export const encode = (c: Cursor): string => {
  if (c.settled !== undefined) {
    return `v3|${c.writeDate}|${(c.ids ?? [c.id]).join(",")}|${c.settled.writeDate}|${c.settled.id}`
  }
  return c.ids === undefined ? `v1|${c.writeDate}|${c.id}` : `v2|${c.writeDate}|${c.ids.join(",")}`
}

export const decode = (s: string): Cursor | undefined => {
  const v3 = V3.exec(s)
  if (v3 !== null) {
    const ids = v3[2]!.split(",").map(Number)
    return { writeDate: v3[1]!, id: Math.max(...ids), ids, settled: { writeDate: v3[3]!, id: Number(v3[4]) } }
  }
  const v2 = V2.exec(s)
  if (v2 !== null) {
    const ids = v2[2]!.split(",").map(Number)
    return { writeDate: v2[1]!, id: Math.max(...ids), ids }
  }
  const v1 = V1.exec(s)
  return v1 === null ? undefined : { writeDate: v1[1]!, id: Number(v1[2]) }
}

/**
 * The intake's cursor: the orders' cursor and, after `;pickings=`, the cursor of their
 * deliveries (a delivery changes without its order: a second backorder, a tracking number typed
 * in). A cursor of an earlier version has no deliveries' part. After `;since=`, the server's
 * clock at the first poll (from 0.2.x; absent in earlier cursors): what was cancelled before
 * that was never handed out alive.
 */
export interface IntakePosition {
  readonly orders: Cursor
  readonly pickings?: Cursor | undefined
  readonly since?: string | undefined
}

const PICKINGS = ";pickings="
const SINCE = ";since="
const SECOND = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

export const encodeIntake = (p: IntakePosition): string =>
  (p.pickings === undefined ? encode(p.orders) : `${encode(p.orders)}${PICKINGS}${encode(p.pickings)}`) +
  (p.since === undefined ? "" : `${SINCE}${p.since}`)

export const decodeIntake = (s: string): IntakePosition | undefined => {
  const cut = s.indexOf(SINCE)
  const since = cut < 0 ? undefined : s.slice(cut + SINCE.length)
  if (since !== undefined && !SECOND.test(since)) return undefined
  const rest = cut < 0 ? s : s.slice(0, cut)
  const at = rest.indexOf(PICKINGS)
  const orders = decode(at < 0 ? rest : rest.slice(0, at))
  if (orders === undefined) return undefined
  const pickings = at < 0 ? undefined : decode(rest.slice(at + PICKINGS.length))
  if (at >= 0 && pickings === undefined) return undefined
  return { orders, ...(pickings !== undefined ? { pickings } : {}), ...(since !== undefined ? { since } : {}) }
}

/** The second `ms` milliseconds after (or, negative, before) `writeDate`. */
export const shift = (writeDate: string, ms: number): string => {
  const at = OdooField.parseNaive(writeDate)
  return OdooField.formatDateTime((typeof at === "number" ? at : 0) + ms)
}

export const nextSecond = (writeDate: string): string => shift(writeDate, 1000)

const bucket = (second: string, rest: D.Domain): D.Domain =>
  D.and(D.gte("write_date", second), D.lt("write_date", nextSecond(second)), rest)

/** The records of the cursor's second it has not handed out yet. */
const notHandedOut = (c: Cursor): D.Domain => (c.ids !== undefined ? D.notIn("id", c.ids) : D.gt("id", c.id))

const byBucket = (a: Row, b: Row) => (a.write_date < b.write_date ? -1 : a.write_date > b.write_date ? 1 : a.id - b.id)

/** The records after `cursor` (at most `limit`, in `(second, id)` order) and the cursor after them. */
export const nextPage = <E>(
  query: Query<E>,
  base: D.Domain,
  cursor: Cursor | undefined,
  limit: number
): Effect.Effect<{ readonly page: ReadonlyArray<Row>; readonly cursor: Cursor | undefined }, E> =>
  Effect.gen(function*() {
    if (limit <= 0) return { page: [], cursor }
    const domain = cursor === undefined
      ? base
      : D.and(base, D.or(D.gte("write_date", nextSecond(cursor.writeDate)), bucket(cursor.writeDate, notHandedOut(cursor))))
    const rows = yield* query(domain, "write_date asc, id asc", limit)
    let page: ReadonlyArray<Row>
    if (rows.length < limit) page = [...rows].sort(byBucket)
    else {
      const last = rows.reduce((max, r) => (r.write_date > max ? r.write_date : max), rows[0]!.write_date)
      const complete = rows.filter((r) => r.write_date < last)
      page = complete.length > 0
        ? [...complete].sort(byBucket)
        : yield* query(
          D.and(base, bucket(last, cursor !== undefined && cursor.writeDate === last ? notHandedOut(cursor) : D.all)),
          "id asc",
          limit
        )
    }
    const end = page[page.length - 1]
    if (end === undefined) return { page, cursor }
    const same = cursor !== undefined && cursor.writeDate === end.write_date ? cursor : undefined
    const latest = page.filter((r) => r.write_date === end.write_date).map((r) => r.id)
    if (same !== undefined && same.ids === undefined) {
      // a v1 cursor stays v1 within its second: the ids below its own are not known one by one
      return { page, cursor: { writeDate: end.write_date, id: Math.max(same.id, ...latest) } }
    }
    const ids = [...new Set([...(same?.ids ?? []), ...latest])].sort((a, b) => a - b)
    return { page, cursor: { writeDate: end.write_date, id: ids[ids.length - 1]!, ids } }
  })

/**
 * The second pass over the settled region: the records after `settled` and before `upper` (a
 * second, exclusive; the caller passes the earlier of the server's clock minus the settle lag and
 * the first pass's second), at most `limit`, and the position after them.
 */
export const nextSettled = <E>(
  query: Query<E>,
  base: D.Domain,
  settled: Position,
  upper: string,
  limit: number
): Effect.Effect<{ readonly page: ReadonlyArray<Row>; readonly settled: Position }, E> =>
  Effect.gen(function*() {
    if (limit <= 0 || settled.writeDate >= upper) return { page: [], settled }
    // nothing joins a settled second any more: the v1 form `(second, largest id)` is exact there
    const { cursor, page } = yield* nextPage(query, D.and(base, D.lt("write_date", upper)), settled, limit)
    return { page, settled: cursor === undefined ? settled : { writeDate: cursor.writeDate, id: cursor.id } }
  })
