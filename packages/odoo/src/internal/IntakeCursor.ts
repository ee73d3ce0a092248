/**
 * Paging through records by `(write_date, id)` without gaps or repeats.
 *
 * Odoo stores `write_date` with microseconds but reads it truncated to the second, so a cursor
 * second is a *bucket* `[d, d + 1s)` whose records are ordered by id, never an equality on
 * `write_date`. A page ordered by `write_date` may end inside a second whose other records sort
 * later (their microseconds are larger, their ids smaller); such an unfinished second is left for
 * the next page, or paged through by id when the whole page lies in it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as D from "../OdooDomain.js"
import * as OdooField from "../OdooField.js"

export interface Cursor {
  /** The last second handed out, `"YYYY-MM-DD HH:MM:SS"`. */
  readonly writeDate: string
  /** The last id handed out within that second. */
  readonly id: number
}

export interface Row {
  readonly id: number
  /** As Odoo reads it: truncated to the second. */
  readonly write_date: string
}

export type Query<E> = (domain: D.Domain, order: string, limit: number) => Effect.Effect<ReadonlyArray<Row>, E>

const FORMAT = /^v1\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+)$/

export const encode = (c: Cursor): string => `v1|${c.writeDate}|${c.id}`

export const decode = (s: string): Cursor | undefined => {
  const m = FORMAT.exec(s)
  return m === null ? undefined : { writeDate: m[1]!, id: Number(m[2]) }
}

export const nextSecond = (writeDate: string): string => {
  const ms = OdooField.parseNaive(writeDate)
  return OdooField.formatDateTime((typeof ms === "number" ? ms : 0) + 1000)
}

const bucket = (second: string, afterId: number | undefined): D.Domain =>
  D.and(D.gte("write_date", second), D.lt("write_date", nextSecond(second)), afterId !== undefined ? D.gt("id", afterId) : D.all)

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
      : D.and(base, D.or(D.gte("write_date", nextSecond(cursor.writeDate)), bucket(cursor.writeDate, cursor.id)))
    const rows = yield* query(domain, "write_date asc, id asc", limit)
    let page: ReadonlyArray<Row>
    if (rows.length < limit) page = [...rows].sort(byBucket)
    else {
      const last = rows.reduce((max, r) => (r.write_date > max ? r.write_date : max), rows[0]!.write_date)
      const complete = rows.filter((r) => r.write_date < last)
      page = complete.length > 0
        ? [...complete].sort(byBucket)
        : yield* query(
          D.and(base, bucket(last, cursor !== undefined && cursor.writeDate === last ? cursor.id : undefined)),
          "id asc",
          limit
        )
    }
    const end = page[page.length - 1]
    return { page, cursor: end !== undefined ? { writeDate: end.write_date, id: end.id } : cursor }
  })
