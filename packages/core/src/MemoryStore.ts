/**
 * An in-memory `Store` for tests, demos and single-process hosts that can afford to lose
 * everything on restart. It keeps every promise of the port (checked by `StoreSuite`); each
 * operation runs in one synchronous step, so it is atomic.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Arena from "./internal/arena.js"
import * as Store from "./Store.js"

interface Entry {
  action: Store.OutboxAction
  lease?: { readonly token: string; readonly expiresAt: number }
}

/**
 * The in-memory store, with its internals exposed for inspection and tamper tests.
 *
 * @since 0.1.0
 */
export interface MemoryStore extends Store.StoreShape {
  readonly internals: {
    readonly outbox: Map<string, { readonly action: Store.OutboxAction }>
    readonly done: Set<string>
    readonly dead: Map<string, Store.DeadLetter>
    /**
     * The audit trail, kept off the heap: `read` decodes a stream's entries, `write` replaces
     * them (for tamper tests; the separately kept heads are left as they are).
     */
    readonly audit: {
      readonly read: (stream: string) => Array<Store.AuditEntry>
      readonly write: (stream: string, entries: ReadonlyArray<Store.AuditEntry>) => void
    }
    readonly seen: Set<string>
    /** Bytes the event logs and audit trails hold outside the JavaScript heap. */
    readonly offHeapBytes: () => number
  }
}

/** A stored record whose body is encoded from the kept value when first read. */
class LazyRecord implements Store.ShipmentRecord {
  #encode: (() => string) | undefined
  #body: string | undefined
  constructor(
    readonly shipmentId: string,
    readonly version: number,
    encode: () => string
  ) {
    this.#encode = encode
  }
  get body(): string {
    if (this.#encode !== undefined) {
      this.#body = this.#encode()
      this.#encode = undefined
    }
    return this.#body!
  }
}

/** A loaded record with the committed value; its body is read from the stored record on demand. */
class LoadedValue implements Store.LoadedRecord {
  readonly shipmentId: string
  readonly version: number
  readonly #record: Store.ShipmentRecord
  constructor(
    record: Store.ShipmentRecord,
    readonly value: unknown
  ) {
    this.shipmentId = record.shipmentId
    this.version = record.version
    this.#record = record
  }
  get body(): string {
    return this.#record.body
  }
}

/**
 * Everything kept under one shipment id (or audit stream name): one map lookup per commit
 * instead of one per kind of data.
 */
class Slot {
  /** The committed record, when this id is a shipment. */
  record: Store.ShipmentRecord | undefined = undefined
  /** The committed value (same version as `record`): handed back by `loadMany`. */
  value: unknown = undefined
  /** The events' layout in the arena (`EVENT` numbers each). */
  events: Array<number> | undefined = undefined
  /**
   * Events committed with `encodeBody`, kept as given and encoded only when the log is read,
   * followed by any event committed after the first of them: these come after `events`.
   */
  kept: Array<Store.CommitEvent> | undefined = undefined
  /** The audit entries' layout in the arena (`AUDIT` numbers each). */
  audit: Array<number> | undefined = undefined
  /** The audit head, kept apart from the entries (0: no entry yet). */
  headSeq = 0
  headHash = ""
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Numbers per event in a shipment's log layout: the arena handle, the id's and the body's lengths. */
const EVENT = 3
/** Numbers per audit entry: seq, at, then the arena handle and the lengths of kind, prevHash, hash, body. */
const AUDIT = 7

/**
 * Creates an empty in-memory store. Event logs and audit trails, which only grow, are kept as
 * bytes outside the JavaScript heap (the collector would otherwise copy and scan every entry
 * ever committed); the heap keeps a few numbers per entry. An event committed with
 * `encodeBody` is kept as the runtime's own (immutable) object instead, and encoded when the log
 * is read.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<MemoryStore> = Effect.sync(() => {
  const slots = new Map<string, Slot>()
  const slot = (id: string): Slot => {
    let found = slots.get(id)
    if (found === undefined) slots.set(id, (found = new Slot()))
    return found
  }
  const seen = new Set<string>()
  const arena = Arena.make()
  const outbox = new Map<string, Entry>()
  const done = new Set<string>()
  const dead = new Map<string, Store.DeadLetter>()
  const references = new Map<string, string>()
  const tracking = new Map<string, string>()
  const cursors = new Map<string, string>()
  let tokens = 0

  const known = (key: string) => outbox.has(key) || done.has(key) || dead.has(key)

  const pushAudit = (layout: Array<number>, entry: Store.AuditEntry) => {
    layout.push(entry.seq, entry.at)
    arena.append(layout, [entry.kind, entry.prevHash, entry.hash, entry.body])
  }

  /** Appends to the stream's entries and moves its head (the caller checked the sequence). */
  const appendTo = (target: Slot, entry: Store.AuditEntry) => {
    pushAudit((target.audit ??= []), entry)
    target.headSeq = entry.seq
    target.headHash = entry.hash
  }

  const appendOne = (entry: Store.AuditEntry): boolean => {
    const target = slots.get(entry.stream)
    if (entry.seq !== (target?.headSeq ?? 0) + 1) return false
    appendTo(target ?? slot(entry.stream), entry)
    return true
  }

  const readAuditEntries = (stream: string, fromSeq: number, limit: number): Array<Store.AuditEntry> => {
    const layout = slots.get(stream)?.audit
    const out: Array<Store.AuditEntry> = []
    if (layout === undefined) return out
    // By position, not by seq (see `Store.readAudit`).
    for (let at = Math.max(0, fromSeq - 1) * AUDIT; at < layout.length && out.length < limit; at += AUDIT) {
      out.push({
        stream,
        seq: layout[at]!,
        at: layout[at + 1]!,
        kind: arena.read(layout, at + 2, 0),
        body: arena.read(layout, at + 2, 3),
        prevHash: arena.read(layout, at + 2, 1),
        hash: arena.read(layout, at + 2, 2)
      })
    }
    return out
  }

  const leased = (entry: Entry, token: string): boolean => entry.lease !== undefined && entry.lease.token === token

  const page = <A>(sorted: ReadonlyArray<A>, key: (a: A) => string, cursor: string | undefined, limit: number) => {
    const start = cursor === undefined ? 0 : sorted.findIndex((a) => key(a) > cursor)
    const slice = start < 0 ? [] : sorted.slice(start, start + limit)
    const last = slice[slice.length - 1]
    return { items: slice, cursor: slice.length === limit && last !== undefined ? key(last) : undefined }
  }

  const commitOne = (commit: Store.Commit): Store.CommitResult => {
    const existing = slots.get(commit.shipmentId)
    const current = existing?.record?.version ?? 0
    if (current !== commit.expectedVersion) return { _tag: "Conflict", version: current }
    const head = existing?.headSeq ?? 0
    for (let i = 0; i < commit.audit.length; i++) {
      const e = commit.audit[i]!
      if (e.stream !== commit.shipmentId || e.seq !== head + 1 + i) return { _tag: "Conflict", version: current }
    }
    const target = existing ?? slot(commit.shipmentId)
    const version = current + 1
    target.value = commit.value
    target.record =
      commit.value !== undefined && commit.encodeBody !== undefined
        ? new LazyRecord(commit.shipmentId, version, commit.encodeBody)
        : { shipmentId: commit.shipmentId, version, body: commit.body }
    for (const key of commit.idempotencyKeys) seen.add(key)
    for (const event of commit.events) {
      // An event the runtime keeps anyway costs a reference; its JSON is made if the log is read.
      if (event.encodeBody !== undefined) (target.kept ??= []).push(event)
      else if (target.kept !== undefined) target.kept.push({ id: event.id, body: event.body })
      else arena.append((target.events ??= []), [event.id, event.body])
    }
    for (const entry of commit.audit) appendTo(target, entry)
    const enqueued: Array<string> = []
    for (const action of commit.outbox) {
      if (known(action.key)) continue
      outbox.set(action.key, { action })
      enqueued.push(action.key)
    }
    return { _tag: "Committed", version, enqueued }
  }

  const store: MemoryStore = {
    internals: {
      outbox,
      done,
      dead,
      audit: {
        read: (stream) => readAuditEntries(stream, 0, Number.POSITIVE_INFINITY),
        write: (stream, entries) => {
          const layout: Array<number> = []
          for (const entry of entries) pushAudit(layout, entry)
          slot(stream).audit = layout
        }
      },
      seen,
      offHeapBytes: arena.bytes
    },

    load: (shipmentId) => Effect.sync(() => slots.get(shipmentId)?.record),

    loadMany: (requests) =>
      Effect.sync(() =>
        requests.map(({ knownVersion, shipmentId }) => {
          const found = slots.get(shipmentId)
          const record = found?.record
          if (record === undefined) return undefined
          const value = found!.value
          if (record.version === knownVersion) {
            return value === undefined ? { shipmentId, version: record.version } : { shipmentId, version: record.version, value }
          }
          // The body of a kept value is encoded only if the caller reads it.
          return value === undefined ? record : new LoadedValue(record, value)
        })
      ),

    commit: (commit) => Effect.sync(() => commitOne(commit)),

    commitMany: (commits) => Effect.sync(() => commits.map(commitOne)),

    seen: (keys) => Effect.sync(() => keys.map((k) => seen.has(k))),

    events: (shipmentId) =>
      Effect.sync(() => {
        const found = slots.get(shipmentId)
        const log = found?.events ?? []
        const out: Array<{ readonly id: string; readonly body: string }> = []
        for (let at = 0; at < log.length; at += EVENT) out.push({ id: arena.read(log, at, 0), body: arena.read(log, at, 1) })
        for (const e of found?.kept ?? []) out.push({ id: e.id, body: e.encodeBody !== undefined ? e.encodeBody() : e.body })
        return out
      }),

    shipments: (cursor, limit) =>
      Effect.sync(() => {
        const { items, cursor: next } = page([...slots].filter(([, s]) => s.record !== undefined).map(([id]) => id).sort(compare), (id) => id, cursor, limit)
        return { ids: items, cursor: next }
      }),

    claim: ({ leaseMillis, limit, now }) =>
      Effect.sync(() => {
        const claimed: Array<Store.ClaimedAction> = []
        for (const entry of outbox.values()) {
          if (claimed.length >= limit) break
          if (entry.action.availableAt > now) continue
          if (entry.lease !== undefined && entry.lease.expiresAt > now) continue
          // The predecessor holds it back while pending, leased or dead-lettered; once done, or
          // no longer known at all (its dead letter removed), it does not.
          const after = entry.action.after
          if (after !== undefined && (outbox.has(after) || dead.has(after))) continue
          const lease = { token: `l${++tokens}`, expiresAt: now + leaseMillis }
          const claims = (entry.action.claims ?? 0) + 1
          entry.action = { ...entry.action, claims }
          entry.lease = lease
          claimed.push({ ...entry.action, claims, leaseToken: lease.token, leaseExpiresAt: lease.expiresAt })
        }
        return claimed
      }),

    extend: (key, token, { leaseMillis, now }) =>
      Effect.sync(() => {
        const entry = outbox.get(key)
        if (entry === undefined || !leased(entry, token)) return false
        entry.lease = { token, expiresAt: now + leaseMillis }
        return true
      }),

    ack: (key, token) =>
      Effect.sync(() => {
        const entry = outbox.get(key)
        if (entry === undefined || !leased(entry, token)) return false
        outbox.delete(key)
        done.add(key)
        return true
      }),

    retry: (key, token, update) =>
      Effect.sync(() => {
        const entry = outbox.get(key)
        if (entry === undefined || !leased(entry, token)) return false
        // Re-inserted at the end: a retried action does not block the ones behind it.
        outbox.delete(key)
        outbox.set(key, {
          action: { ...entry.action, availableAt: update.availableAt, attempts: update.attempts, lastError: update.lastError }
        })
        return true
      }),

    deadLetter: (key, token, letter) =>
      Effect.sync(() => {
        const entry = outbox.get(key)
        if (entry === undefined || !leased(entry, token)) return false
        outbox.delete(key)
        dead.set(letter.id, letter)
        return true
      }),

    outboxSize: () => Effect.sync(() => outbox.size),

    isDone: (key) => Effect.sync(() => done.has(key)),

    putDeadLetter: (letter) =>
      Effect.sync(() => {
        dead.set(letter.id, letter)
      }),

    deadLetters: ({ after, limit }) =>
      Effect.sync(() => page([...dead.values()].sort((a, b) => compare(a.id, b.id)), (d) => d.id, after, limit).items),

    requeue: (ids, now) =>
      Effect.sync(() => {
        let count = 0
        for (const id of ids) {
          const letter = dead.get(id)
          if (letter === undefined || letter.kind !== "action") continue
          // A payload that is not an action (a letter kept by hand, or by an older version) stays a
          // letter, as with RedisStore, instead of crashing the replay or queueing a keyless action.
          let action: Store.OutboxAction
          try {
            action = JSON.parse(letter.payload) as Store.OutboxAction
          } catch {
            continue
          }
          if (typeof action !== "object" || action === null || typeof action.key !== "string" || typeof action.shipmentId !== "string") continue
          // Already in the outbox (pending, or leased to a worker running it): left as it is.
          if (outbox.has(action.key)) continue
          dead.delete(id)
          outbox.set(action.key, { action: { ...action, attempts: 0, availableAt: now } }) // claims are kept
          count++
        }
        return count
      }),

    removeDeadLetters: (ids) =>
      Effect.sync(() => {
        let count = 0
        for (const id of ids) if (dead.delete(id)) count++
        return count
      }),

    appendAudit: (entry) => Effect.sync(() => appendOne(entry)),

    auditHead: (stream) =>
      Effect.sync(() => {
        const found = slots.get(stream)
        return found === undefined || found.headSeq === 0 ? undefined : { seq: found.headSeq, hash: found.headHash }
      }),

    readAudit: (stream, fromSeq, limit) => Effect.sync(() => readAuditEntries(stream, fromSeq, limit)),

    auditStreams: (cursor, limit) =>
      Effect.sync(() => {
        const names = [...slots].filter(([, s]) => s.audit !== undefined || s.headSeq > 0).map(([id]) => id)
        const { items, cursor: next } = page(names.sort(compare), (s) => s, cursor, limit)
        return { streams: items, cursor: next }
      }),

    putShipment: (shipmentId, trackingNumber, body) =>
      Effect.sync(() => {
        references.set(shipmentId, body)
        if (trackingNumber !== undefined) tracking.set(trackingNumber, shipmentId)
      }),

    swapShipment: (shipmentId, expected, body, trackingNumbers) =>
      Effect.sync(() => {
        if (references.get(shipmentId) !== expected) return false
        references.set(shipmentId, body)
        for (const n of trackingNumbers) tracking.set(n, shipmentId)
        return true
      }),

    getShipment: (shipmentId) => Effect.sync(() => references.get(shipmentId)),

    findByTracking: (trackingNumber) => Effect.sync(() => tracking.get(trackingNumber)),

    getShipments: (shipmentIds) => Effect.sync(() => shipmentIds.map((id) => references.get(id))),

    findManyByTracking: (trackingNumbers) => Effect.sync(() => trackingNumbers.map((n) => tracking.get(n))),

    getCursor: (name) => Effect.sync(() => cursors.get(name)),

    setCursor: (name, value) =>
      Effect.sync(() => {
        cursors.set(name, value)
      })
  }
  return store
})

/**
 * A layer providing an empty in-memory `Store`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Store.Store> = Layer.effect(Store.Store, make)
