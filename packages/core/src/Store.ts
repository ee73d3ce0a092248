/**
 * The store port: everything waybill must not lose.
 *
 * A driver stores plain encoded values (JSON strings and numbers) and keeps a few promises that
 * the runtime builds on; the runtime does the decoding, the state machine, hashing and retries.
 * `@waybill/core/testing` exports `StoreSuite`, the conformance suite every driver must pass.
 *
 * The promises:
 * - **Commit is atomic and versioned.** `commit` writes the shipment record, marks the event
 *   idempotency keys seen, appends the raw events and the audit entries, and enqueues the outbox
 *   actions, all or nothing, only if the stored version equals `expectedVersion` (0 = new).
 *   Otherwise it returns `Conflict` with the current version and writes nothing.
 * - **An action key is enqueued at most once, ever.** Commit skips outbox actions whose key is
 *   pending, leased, dead-lettered or done (acknowledged); only `requeue` of a dead letter puts
 *   a key back. `requeue` moves each letter in one step: its action is in the outbox exactly when
 *   the letter is gone, so a crash part way leaves every letter requeued or still dead (never
 *   neither, never both).
 * - **Order.** `claim` hands out actions in the order they were enqueued (a retried action goes
 *   to the back), skipping those not due yet and those whose `after` action is pending, leased
 *   or dead-lettered (once it is done, or its dead letter was removed, it holds nothing back).
 * - **Claims are counted.** Each claim increments the action's `claims`, kept across retries and
 *   requeues, so a handler knows whether anybody may have run the action before (`claims > 1`)
 *   and can skip its existence lookups on a first claim.
 * - **Leases.** `claim` hands out due actions that are not leased (or whose lease expired) with
 *   a fresh lease token; `ack`, `retry`, `deadLetter` and `extend` (which renews the lease)
 *   succeed only with the current token (a worker whose lease expired and was reclaimed cannot
 *   ack over the new owner). A claimed
 *   action's `leaseExpiresAt` is `now + leaseMillis` in the caller's clock: the holder starts no
 *   call after it. When the lease ran out is judged by one clock: the caller's `now` for a store
 *   in one process (MemoryStore), the store's own clock for one shared by several machines
 *   (RedisStore: the server's `TIME`), so a worker whose clock runs ahead cannot take a live lease.
 *   Due times (`availableAt`) are always in the callers' clock.
 * - **Audit streams are append-only chains.** Entries of a stream have consecutive `seq` from
 *   1; `appendAudit` refuses a `seq` that is not head + 1. The head (seq and hash) is kept apart
 *   from the entries so a truncated stream is detectable.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as PortError from "./PortError.js"

/**
 * A shipment's record as stored.
 *
 * @since 0.1.0
 */
export interface ShipmentRecord {
  readonly shipmentId: string
  /** Starts at 1 with the first commit; each commit adds one. */
  readonly version: number
  /** JSON of the runtime's shipment record (state machine state and business state). */
  readonly body: string
}

/**
 * One entry of a hash-chained audit stream (a shipment id, or `ops` for operator actions).
 *
 * @since 0.1.0
 */
export interface AuditEntry {
  readonly stream: string
  readonly seq: number
  /** Epoch milliseconds. */
  readonly at: number
  readonly kind: string
  /** JSON. */
  readonly body: string
  readonly prevHash: string
  readonly hash: string
}

/**
 * The head of an audit stream.
 *
 * @since 0.1.0
 */
export interface AuditHead {
  readonly seq: number
  readonly hash: string
}

/**
 * A business effect waiting to be carried out at a far side.
 *
 * @since 0.1.0
 */
export interface OutboxAction {
  /** Deterministic: `<shipmentId>:<kind>[:<suffix>]`, the suffix naming what the action is about (e.g. a milestone key and an event id). */
  readonly key: string
  readonly shipmentId: string
  /** `erp`, `helpdesk`, `notifier`, `finance` or `carrier`: the target for rate limits and breakers. */
  readonly target: string
  /** The operation, e.g. `erp.writeTracking`. */
  readonly kind: string
  /** JSON of the encoded request. */
  readonly payload: string
  readonly createdAt: number
  /** Not claimable before this epoch millisecond. */
  readonly availableAt: number
  readonly attempts: number
  /** How many times the action was claimed so far (kept across retries and requeues). */
  readonly claims?: number
  /** Not claimable while the action with this key (same shipment) is pending, leased or dead-lettered. */
  readonly after?: string
  /** JSON of the encoded last error. */
  readonly lastError?: string
}

/**
 * An action claimed by a worker.
 *
 * @since 0.1.0
 */
export interface ClaimedAction extends OutboxAction {
  readonly leaseToken: string
  readonly leaseExpiresAt: number
  /** Claims including this one: 1 means nobody ever ran this action before. */
  readonly claims: number
}

/**
 * Something that failed for good: an outbox action (permanent error or retries exhausted) or an
 * inbound message that could not be decoded, verified or routed, that crashed the ingest, or that
 * the transport gave up on (`maxDeliveries`). Kept with full context.
 *
 * @since 0.1.0
 */
export interface DeadLetter {
  /** The action key, or a content id of the inbound message. */
  readonly id: string
  readonly kind: "action" | "inbound"
  readonly target: string
  readonly shipmentId?: string
  readonly failedAt: number
  readonly attempts: number
  /** JSON of the encoded error. */
  readonly error: string
  /** JSON of the `OutboxAction`, or of the inbound message. */
  readonly payload: string
}

/**
 * An event appended to a shipment's log by a commit.
 *
 * `body` may be an accessor that encodes the event on first read. `encodeBody`, when present,
 * computes the same string from an immutable event the runtime keeps anyway: a store living in
 * the runtime's process may keep the entry instead of the string and call `entry.encodeBody()`
 * (as a method of the entry) only when the log is read (`events`); stores that serialize read
 * `body` and ignore it.
 *
 * @since 0.2.0
 */
export interface CommitEvent {
  readonly id: string
  readonly body: string
  readonly encodeBody?: () => string
}

/**
 * One atomic commit.
 *
 * @since 0.1.0
 */
export interface Commit {
  readonly shipmentId: string
  readonly expectedVersion: number
  /** JSON of the record. May be an accessor that computes it on first read (see `encodeBody`). */
  readonly body: string
  /**
   * The runtime's decoded form of `body` (immutable). A store living in the runtime's process
   * may keep it and return it from `loadMany` so the runtime need not decode `body` again;
   * stores that serialize ignore it.
   */
  readonly value?: unknown
  /**
   * How `body` is computed from `value`, when the runtime computes it on demand (a plain
   * function, called without `this`). A store that keeps `value` in the runtime's process may
   * keep this instead of the string and call it only when someone reads the body (the runtime itself rarely does); stores that serialize read
   * `body` and ignore it.
   *
   * @since 0.2.0
   */
  readonly encodeBody?: () => string
  readonly idempotencyKeys: ReadonlyArray<string>
  readonly events: ReadonlyArray<CommitEvent>
  readonly audit: ReadonlyArray<AuditEntry>
  readonly outbox: ReadonlyArray<OutboxAction>
}

/**
 * A record read by `loadMany`. `body` may be left out when the stored version equals the
 * `knownVersion` the caller passed (it already holds that version), so a driver need not ship
 * an unchanged body over the wire. A driver that cannot vouch that the stored body is the one
 * the caller holds for that version (a version lost in a failover may be committed again with
 * another body) sends it: a body sent for the known version replaces the caller's copy.
 *
 * @since 0.2.0
 */
export interface LoadedRecord {
  readonly shipmentId: string
  readonly version: number
  readonly body?: string
  /** The `value` the committing runtime passed with this version, from a store in the same process. */
  readonly value?: unknown
}

/**
 * What a commit did.
 *
 * @since 0.1.0
 */
export type CommitResult =
  | { readonly _tag: "Committed"; readonly version: number; readonly enqueued: ReadonlyArray<string> }
  | { readonly _tag: "Conflict"; readonly version: number }

/**
 * The store operations.
 *
 * @since 0.1.0
 */
export interface StoreShape {
  // shipments
  readonly load: (shipmentId: string) => Effect.Effect<ShipmentRecord | undefined, PortError.StorageError>
  readonly commit: (commit: Commit) => Effect.Effect<CommitResult, PortError.StorageError>
  /**
   * Loads many records in one call (results in request order, `undefined` for no record). A
   * request with `knownVersion` may get no `body` when that is still the stored version (see
   * {@link LoadedRecord}).
   */
  readonly loadMany: (
    requests: ReadonlyArray<{ readonly shipmentId: string; readonly knownVersion?: number }>
  ) => Effect.Effect<ReadonlyArray<LoadedRecord | undefined>, PortError.StorageError>
  /**
   * Many commits in one call, as if `commit` ran for each in order: each is atomic and
   * versioned on its own, a conflict of one does not stop the others, results come in order.
   * Drivers should send them together (one round trip, pipelined). On a storage failure some
   * may have been written; each is whole or absent, and a retry sees their versions and keys.
   */
  readonly commitMany: (commits: ReadonlyArray<Commit>) => Effect.Effect<ReadonlyArray<CommitResult>, PortError.StorageError>
  /** Which of these idempotency keys were marked seen by a commit. */
  readonly seen: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<boolean>, PortError.StorageError>
  /** The raw events committed for a shipment, in commit order. */
  readonly events: (
    shipmentId: string
  ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly body: string }>, PortError.StorageError>
  /** Shipment ids with a record, in pages (`SCAN`-like; order unspecified). */
  readonly shipments: (
    cursor: string | undefined,
    limit: number
  ) => Effect.Effect<{ readonly ids: ReadonlyArray<string>; readonly cursor: string | undefined }, PortError.StorageError>

  // outbox
  readonly claim: (options: {
    readonly now: number
    readonly leaseMillis: number
    readonly limit: number
    readonly owner: string
  }) => Effect.Effect<ReadonlyArray<ClaimedAction>, PortError.StorageError>
  /**
   * Renews a held lease: it now runs out `leaseMillis` after `now` (judged by the same clock as
   * `claim`), so a worker whose far-side call takes long keeps the action. False if the lease
   * was lost (the action was claimed again, or handed back to the queue).
   */
  readonly extend: (
    key: string,
    leaseToken: string,
    options: { readonly now: number; readonly leaseMillis: number }
  ) => Effect.Effect<boolean, PortError.StorageError>
  /** Done: the key is remembered so it is never enqueued again. False if the lease was lost. */
  readonly ack: (key: string, leaseToken: string) => Effect.Effect<boolean, PortError.StorageError>
  /** Back to the queue, due at `availableAt`. False if the lease was lost. */
  readonly retry: (
    key: string,
    leaseToken: string,
    update: { readonly availableAt: number; readonly attempts: number; readonly lastError: string }
  ) => Effect.Effect<boolean, PortError.StorageError>
  /** Moves a leased action to the dead letters. False if the lease was lost. */
  readonly deadLetter: (key: string, leaseToken: string, letter: DeadLetter) => Effect.Effect<boolean, PortError.StorageError>
  /** Actions pending or leased. */
  readonly outboxSize: () => Effect.Effect<number, PortError.StorageError>
  /** Whether an action key was acknowledged. */
  readonly isDone: (key: string) => Effect.Effect<boolean, PortError.StorageError>

  // dead letters
  /** Keeps an inbound message that failed (no lease involved). Same id again replaces it. */
  readonly putDeadLetter: (letter: DeadLetter) => Effect.Effect<void, PortError.StorageError>
  /** Dead letters ordered by id, after the given id. */
  readonly deadLetters: (options: {
    readonly after?: string
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<DeadLetter>, PortError.StorageError>
  /** Puts action dead letters back into the outbox (attempts 0, due at `now`); returns how many. */
  readonly requeue: (ids: ReadonlyArray<string>, now: number) => Effect.Effect<number, PortError.StorageError>
  /** Removes dead letters (inbound ones after a successful re-ingest); returns how many. */
  readonly removeDeadLetters: (ids: ReadonlyArray<string>) => Effect.Effect<number, PortError.StorageError>

  // audit
  /** Appends one entry if its seq is head + 1 (false otherwise). */
  readonly appendAudit: (entry: AuditEntry) => Effect.Effect<boolean, PortError.StorageError>
  readonly auditHead: (stream: string) => Effect.Effect<AuditHead | undefined, PortError.StorageError>
  /**
   * Up to `limit` entries of a stream as stored, from the `fromSeq`-th on (entries are stored in
   * order of seq from 1, so in an intact stream these are the entries with seq >= `fromSeq`).
   * Never filtered by seq: `Audit.verify` pages with it and must see an entry inserted or moved
   * out of place.
   */
  readonly readAudit: (
    stream: string,
    fromSeq: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<AuditEntry>, PortError.StorageError>
  readonly auditStreams: (
    cursor: string | undefined,
    limit: number
  ) => Effect.Effect<{ readonly streams: ReadonlyArray<string>; readonly cursor: string | undefined }, PortError.StorageError>

  // reference data
  /** Stores the shipment entity (JSON) and indexes its tracking number. */
  readonly putShipment: (
    shipmentId: string,
    trackingNumber: string | undefined,
    body: string
  ) => Effect.Effect<void, PortError.StorageError>
  /**
   * Replaces a shipment's reference data only while it is still `expected` (the body read
   * before; `undefined`: none stored), then indexes each of `trackingNumbers` to it. `false`, with
   * nothing written, when another writer changed or created it since: the caller reads it again
   * and merges anew. This is how two processes registering the same shipment at once keep each
   * other's data (`putShipment` alone is last-writer-wins). The body is compared as a string.
   *
   * @since 0.2.0
   */
  readonly swapShipment: (
    shipmentId: string,
    expected: string | undefined,
    body: string,
    trackingNumbers: ReadonlyArray<string>
  ) => Effect.Effect<boolean, PortError.StorageError>
  readonly getShipment: (shipmentId: string) => Effect.Effect<string | undefined, PortError.StorageError>
  readonly findByTracking: (trackingNumber: string) => Effect.Effect<string | undefined, PortError.StorageError>
  /** `getShipment` for many ids in one call (results in order). */
  readonly getShipments: (
    shipmentIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<string | undefined>, PortError.StorageError>
  /** `findByTracking` for many numbers in one call (results in order). */
  readonly findManyByTracking: (
    trackingNumbers: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<string | undefined>, PortError.StorageError>

  // cursors (pollers)
  readonly getCursor: (name: string) => Effect.Effect<string | undefined, PortError.StorageError>
  readonly setCursor: (name: string, value: string) => Effect.Effect<void, PortError.StorageError>
}

/**
 * The store port.
 *
 * @since 0.1.0
 */
export class Store extends Context.Tag("@waybill/core/Store")<Store, StoreShape>() {}
