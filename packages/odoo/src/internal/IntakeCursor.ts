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
}

export interface Row {
  readonly id: number
  /** As Odoo reads it: truncated to the second. */
  readonly write_date: string
}

export type Query<E> = (domain: D.Domain, order: string, limit: number) => Effect.Effect<ReadonlyArray<Row>, E>

const V1 = /^v1\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+)$/
const V2 = /^v2\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+(?:,\d+)*)$/

export const encode = (c: Cursor): string =>
  c.ids === undefined ? `v1|${c.writeDate}|${c.id}` : `v2|${c.writeDate}|${c.ids.join(",")}`

export const decode = (s: string): Cursor | undefined => {
  const v2 = V2.exec(s)
  if (v2 !== null) {
    const ids = v2[2]!.split(",").map(Number)
    return { writeDate: v2[1]!, id: Math.max(...ids), ids }
  }
  const v1 = V1.exec(s)
  return v1 === null ? undefined : { writeDate: v1[1]!, id: Number(v1[2]) }
}

export const nextSecond = (writeDate: string): string => {
  const ms = OdooField.parseNaive(writeDate)
  return OdooField.formatDateTime((typeof ms === "number" ? ms : 0) + 1000)
}

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
