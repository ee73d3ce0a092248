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
    readonly shipments: Map<string, Store.ShipmentRecord>
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
    readonly auditHeads: Map<string, Store.AuditHead>
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
  constructor(
    readonly record: Store.ShipmentRecord,
    readonly value: unknown
  ) {
    this.shipmentId = record.shipmentId
    this.version = record.version
  }
  get body(): string {
    return this.record.body
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Numbers per event in a shipment's log layout: the arena handle, the id's and the body's lengths. */
const EVENT = 3
/** Numbers per audit entry: seq, at, then the arena handle and the lengths of kind, prevHash, hash, body. */
const AUDIT = 7

/**
 * Creates an empty in-memory store. Event logs and audit trails, which only grow, are kept as
 * bytes outside the JavaScript heap (the collector would otherwise copy and scan every entry
 * ever committed); the heap keeps a few numbers per entry.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<MemoryStore> = Effect.sync(() => {
  const shipments = new Map<string, Store.ShipmentRecord>()
  const seen = new Set<string>()
  /** Committed values by shipment (same version as the stored body): handed back by `loadMany`. */
  const values = new Map<string, unknown>()
  const arena = Arena.make()
  /** Per shipment, its events' layout in the arena (`EVENT` numbers each). */
  const events = new Map<string, Array<number>>()
  const outbox = new Map<string, Entry>()
  const done = new Set<string>()
  const dead = new Map<string, Store.DeadLetter>()
  /** Per stream, its entries' layout in the arena (`AUDIT` numbers each). */
  const audit = new Map<string, Array<number>>()
  const auditHeads = new Map<string, Store.AuditHead>()
  const references = new Map<string, string>()
  const tracking = new Map<string, string>()
  const cursors = new Map<string, string>()
  let tokens = 0

  const known = (key: string) => outbox.has(key) || done.has(key) || dead.has(key)

  const pushAudit = (layout: Array<number>, entry: Store.AuditEntry) => {
    layout.push(entry.seq, entry.at)
    arena.append(layout, [entry.kind, entry.prevHash, entry.hash, entry.body])
  }

  const appendOne = (entry: Store.AuditEntry): boolean => {
    const head = auditHeads.get(entry.stream)
    if (entry.seq !== (head?.seq ?? 0) + 1) return false
    let layout = audit.get(entry.stream)
    if (layout === undefined) audit.set(entry.stream, (layout = []))
    pushAudit(layout, entry)
    auditHeads.set(entry.stream, { seq: entry.seq, hash: entry.hash })
    return true
  }

  const readAuditEntries = (stream: string, fromSeq: number, limit: number): Array<Store.AuditEntry> => {
    const layout = audit.get(stream)
    const out: Array<Store.AuditEntry> = []
    if (layout === undefined) return out
    for (let at = 0; at < layout.length && out.length < limit; at += AUDIT) {
      const seq = layout[at]!
      if (seq < fromSeq) continue
      out.push({
        stream,
        seq,
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
    const current = shipments.get(commit.shipmentId)?.version ?? 0
    if (current !== commit.expectedVersion) return { _tag: "Conflict", version: current }
    const head = auditHeads.get(commit.shipmentId)?.seq ?? 0
    if (commit.audit.some((e, i) => e.stream !== commit.shipmentId || e.seq !== head + 1 + i)) {
      return { _tag: "Conflict", version: current }
    }
    const version = current + 1
    if (commit.value !== undefined) {
      values.set(commit.shipmentId, commit.value)
      shipments.set(
        commit.shipmentId,
        commit.encodeBody !== undefined
          ? new LazyRecord(commit.shipmentId, version, commit.encodeBody)
          : { shipmentId: commit.shipmentId, version, body: commit.body }
      )
    } else {
      values.delete(commit.shipmentId)
      shipments.set(commit.shipmentId, { shipmentId: commit.shipmentId, version, body: commit.body })
    }
    for (const key of commit.idempotencyKeys) seen.add(key)
    if (commit.events.length > 0) {
      let log = events.get(commit.shipmentId)
      if (log === undefined) events.set(commit.shipmentId, (log = []))
      for (const event of commit.events) arena.append(log, [event.id, event.body])
    }
    for (const entry of commit.audit) appendOne(entry)
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
      shipments,
      outbox,
      done,
      dead,
      audit: {
        read: (stream) => readAuditEntries(stream, 0, Number.POSITIVE_INFINITY),
        write: (stream, entries) => {
          const layout: Array<number> = []
          for (const entry of entries) pushAudit(layout, entry)
          audit.set(stream, layout)
        }
      },
      auditHeads,
      seen,
      offHeapBytes: arena.bytes
    },

    load: (shipmentId) => Effect.sync(() => shipments.get(shipmentId)),

    loadMany: (requests) =>
      Effect.sync(() =>
        requests.map(({ knownVersion, shipmentId }) => {
          const record = shipments.get(shipmentId)
          if (record === undefined) return undefined
          const value = values.get(shipmentId)
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
        const log = events.get(shipmentId) ?? []
        const out: Array<{ readonly id: string; readonly body: string }> = []
        for (let at = 0; at < log.length; at += EVENT) out.push({ id: arena.read(log, at, 0), body: arena.read(log, at, 1) })
        return out
      }),

    shipments: (cursor, limit) =>
      Effect.sync(() => {
        const { items, cursor: next } = page([...shipments.keys()].sort(compare), (id) => id, cursor, limit)
        return { ids: items, cursor: next }
      }),

    claim: ({ leaseMillis, limit, now }) =>
      Effect.sync(() => {
        const claimed: Array<Store.ClaimedAction> = []
        for (const entry of outbox.values()) {
          if (claimed.length >= limit) break
          if (entry.action.availableAt > now) continue
          if (entry.lease !== undefined && entry.lease.expiresAt > now) continue
          if (entry.action.after !== undefined && !done.has(entry.action.after)) continue
          const lease = { token: `l${++tokens}`, expiresAt: now + leaseMillis }
          const claims = (entry.action.claims ?? 0) + 1
          entry.action = { ...entry.action, claims }
          entry.lease = lease
          claimed.push({ ...entry.action, claims, leaseToken: lease.token, leaseExpiresAt: lease.expiresAt })
        }
        return claimed
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
          const action = JSON.parse(letter.payload) as Store.OutboxAction
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

    auditHead: (stream) => Effect.sync(() => auditHeads.get(stream)),

    readAudit: (stream, fromSeq, limit) => Effect.sync(() => readAuditEntries(stream, fromSeq, limit)),

    auditStreams: (cursor, limit) =>
      Effect.sync(() => {
        const names = new Set([...audit.keys(), ...auditHeads.keys()])
        const { items, cursor: next } = page([...names].sort(compare), (s) => s, cursor, limit)
        return { streams: items, cursor: next }
      }),

    putShipment: (shipmentId, trackingNumber, body) =>
      Effect.sync(() => {
        references.set(shipmentId, body)
        if (trackingNumber !== undefined) tracking.set(trackingNumber, shipmentId)
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
