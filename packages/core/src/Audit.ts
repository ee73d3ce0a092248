/**
 * The audit trail: append-only, hash-chained streams (one per shipment, `ops` for operator
 * actions). Each entry's hash covers its content and the previous entry's hash, and each
 * stream's head is stored apart from its entries, so {@link verify} detects an edited, removed,
 * reordered or truncated entry.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { sha256Hex } from "./internal/sha256.js"
import type * as PortError from "./PortError.js"
import * as Store from "./Store.js"

/**
 * The stream of operator actions (dead-letter replays). A shipment's stream is named by its id,
 * so no shipment may take this name: `Pipeline.register` refuses it, or a replay's entries would
 * land in that shipment's stream and its next commit would never match its audit head.
 *
 * @since 0.2.0
 */
export const OPS = "ops"

/**
 * The `prevHash` of a stream's first entry.
 *
 * @since 0.1.0
 */
export const GENESIS = "0".repeat(64)

/**
 * The hash of an entry: SHA-256 over its stream, seq, time, kind, body and the previous hash.
 *
 * @since 0.1.0
 */
export const hashOf = (entry: Omit<Store.AuditEntry, "hash">): string =>
  hashParts(entry.prevHash, entry.stream, entry.seq, entry.at, entry.kind, entry.body)

/** The hash of an entry from its parts: `hashOf` without the object (the ingest path builds many). */
const hashParts = (prevHash: string, stream: string, seq: number, at: number, kind: string, body: string): string =>
  sha256Hex(`${prevHash}\n${stream}\n${seq}\n${at}\n${kind}\n${body}`)

/**
 * Builds the next entries of a stream after `head`.
 *
 * @since 0.1.0
 */
export const chain = (
  stream: string,
  head: Store.AuditHead | undefined,
  drafts: ReadonlyArray<{ readonly at: number; readonly kind: string; readonly body: string }>
): Array<Store.AuditEntry> => {
  let seq = head?.seq ?? 0
  let prevHash = head?.hash ?? GENESIS
  return drafts.map((d) => {
    seq++
    const { at, body, kind } = d
    const hash = hashParts(prevHash, stream, seq, at, kind, body)
    const entry = { stream, seq, at, kind, body, prevHash, hash }
    prevHash = hash
    return entry
  })
}

/**
 * Appends one entry to a stream whose head is not tied to a shipment commit (e.g. `ops`),
 * retrying when another writer appended first.
 *
 * @since 0.1.0
 */
export const append = (
  stream: string,
  draft: { readonly at: number; readonly kind: string; readonly body: string }
): Effect.Effect<Store.AuditEntry, PortError.StorageError, Store.Store> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    for (let attempt = 0; ; attempt++) {
      const head = yield* store.auditHead(stream)
      const [entry] = chain(stream, head, [draft])
      if (yield* store.appendAudit(entry!)) return entry!
      // Refused as stale: possibly by this very entry, appended by a send whose reply was lost
      // (a client re-sends a command after a reconnect). Its hash covers its content and its
      // predecessor, so a head with the same seq and hash is this entry: not chained again.
      const now = yield* store.auditHead(stream)
      if (now !== undefined && now.seq === entry!.seq && now.hash === entry!.hash) return entry!
      if (attempt > 100) return yield* Effect.dieMessage(`audit stream ${stream} keeps moving`)
    }
  })

/**
 * One problem found by {@link verify}.
 *
 * @since 0.1.0
 */
export class Problem extends Schema.Class<Problem>("AuditProblem")({
  stream: Schema.String,
  seq: Schema.Number,
  problem: Schema.Literal("hash-mismatch", "broken-link", "gap", "head-mismatch", "missing-entries")
}) {}

/**
 * What {@link verify} checked and found.
 *
 * @since 0.1.0
 */
export class Report extends Schema.Class<Report>("AuditReport")({
  streams: Schema.Number,
  entries: Schema.Number,
  problems: Schema.Array(Problem)
}) {
  /** Whether the trail is intact. @since 0.1.0 */
  get ok(): boolean {
    return this.problems.length === 0
  }
}

/**
 * Verifies every stream of the audit trail: hashes, links, consecutive sequence numbers and
 * the stored heads.
 *
 * @since 0.1.0
 */
export const verify: Effect.Effect<Report, PortError.StorageError, Store.Store> = Effect.gen(function* () {
  const store = yield* Store.Store
  const problems: Array<Problem> = []
  let streams = 0
  let entries = 0
  let cursor: string | undefined
  do {
    const page = yield* store.auditStreams(cursor, 500)
    cursor = page.cursor
    for (const stream of page.streams) {
      streams++
      let expectedSeq = 1
      let prevHash = GENESIS
      let last: Store.AuditEntry | undefined
      // Pages by position, not by seq: an entry inserted or moved with a seq already passed is read too.
      let read = 0
      while (true) {
        const batch = yield* store.readAudit(stream, read + 1, 1000)
        if (batch.length === 0) break
        read += batch.length
        for (const entry of batch) {
          entries++
          if (entry.seq !== expectedSeq) problems.push(new Problem({ stream, seq: expectedSeq, problem: "gap" }))
          if (entry.prevHash !== prevHash) problems.push(new Problem({ stream, seq: entry.seq, problem: "broken-link" }))
          const { hash, ...rest } = entry
          if (hashOf(rest) !== hash) problems.push(new Problem({ stream, seq: entry.seq, problem: "hash-mismatch" }))
          prevHash = hash
          expectedSeq = entry.seq + 1
          last = entry
        }
      }
      const head = yield* store.auditHead(stream)
      if (head !== undefined && (last === undefined || last.seq < head.seq)) {
        problems.push(new Problem({ stream, seq: (last?.seq ?? 0) + 1, problem: "missing-entries" }))
      } else if (head === undefined || last === undefined || head.seq !== last.seq || head.hash !== last.hash) {
        problems.push(new Problem({ stream, seq: last?.seq ?? 0, problem: "head-mismatch" }))
      }
    }
  } while (cursor !== undefined)
  return new Report({ streams, entries, problems })
})
