/**
 * The outbox dispatcher: claims actions with a lease, carries them out at the far side and
 * acknowledges them.
 *
 * - **Retries** follow a `Schedule` keyed off the error's `reason`: exponential with jitter and
 *   a cap; a `Retry-After` is honoured up to `retry.maxRetryAfter` (a long one gives the lease
 *   back and the action is due again after it); permanent reasons are not retried. No call
 *   starts after the action's lease expired or a renewal of it was refused: a wait that would outlast the lease gives it back
 *   instead; and a call still running when the lease ends (it could not be renewed) is given up
 *   (a `Timeout`: it counts as an attempt, so a far side that never answers dead-letters the
 *   action after `maxAttempts` calls).
 * - **Circuit breaker** per target: after consecutive transport-level failures the target is
 *   left alone for a while (retries under way included); its actions wait in the outbox without
 *   spending attempts. Then it is half open: one call at a time tries the target; the others
 *   wait in their lease for its answer (at most `retry.maxWaitInLease`, then they give the lease
 *   back), spending neither an attempt nor a claim; a failure opens it again, an answer closes it.
 * - **Rate limit** per target (`rateLimits`), in each process alone, or shared by every process
 *   with `sharedRateLimit` (a {@link RateLimit.SharedRateLimit} driver): no call starts without a
 *   permit, and the wait for one stays within the lease. **One writer per far-side record**:
 *   actions of one shipment to one target never run concurrently in a process; `after` orders
 *   dependent actions.
 * - **Dependents of a discarded action do not run**: an action whose `after` predecessor is
 *   neither done nor pending (its dead letter was removed instead of replayed) goes to the dead
 *   letters itself ({@link PredecessorNotDone}); replaying that letter runs it anyway.
 * - **Dead letters** on a permanent failure or when attempts are exhausted, with the action,
 *   the last error and the attempt count. {@link DeadLetters} replays them.
 *
 * Every action's far-side call must be idempotent by the action's key: a crash between the call
 * and the ack makes the call run again.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as RateLimiter from "effect/RateLimiter"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ErpPort from "./ErpPort.js"
import * as FinancePort from "./FinancePort.js"
import * as HelpdeskPort from "./HelpdeskPort.js"
import { describeDefect } from "./internal/defect.js"
import * as KeyedLock from "./KeyedLock.js"
import * as Metrics from "./Metrics.js"
import * as Notifier from "./Notifier.js"
import * as PortError from "./PortError.js"
import * as Privacy from "./Privacy.js"
import * as RateLimit from "./RateLimit.js"
import * as Store from "./Store.js"
import * as Worker from "./Worker.js"

/**
 * Retry timing.
 *
 * @since 0.1.0
 */
export interface RetryOptions {
  /** First delay. Default 200 ms. */
  readonly base?: Duration.DurationInput
  /** Growth per attempt. Default 2. */
  readonly factor?: number
  /** Longest delay between attempts. Default 30 s. */
  readonly cap?: Duration.DurationInput
  /** Attempts in all (across claims) before the action is dead-lettered. Default 8. */
  readonly maxAttempts?: number
  /** Attempts within one claim before the lease is given back. Default 4. */
  readonly attemptsPerClaim?: number
  /** Delays longer than this (e.g. a long Retry-After), or past the lease, give the lease back instead of waiting. Default 10 s. */
  readonly maxWaitInLease?: Duration.DurationInput
  /**
   * The longest `Retry-After` honoured: a far side that asks for more (a 429 or 503 with
   * `Retry-After` of days) is tried again after this instead, and a warning names the action's
   * target and the delay asked for (once per claim of the action). Each retry spends an attempt,
   * so a far side that keeps asking for long waits dead-letters the action after `maxAttempts`.
   * Default 1 hour; `Duration.infinity` honours any `Retry-After`.
   *
   * @since 0.2.0
   */
  readonly maxRetryAfter?: Duration.DurationInput
}

/**
 * Dispatcher options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Identifies this worker in leases. */
  readonly owner?: string
  /** Actions in flight at once. Default 32. */
  readonly concurrency?: number
  /** Actions claimed per poll. Default 64. */
  readonly batch?: number
  /** Default 60 s. */
  readonly leaseMillis?: number
  /** Pause when nothing is due. Default 50 ms. */
  readonly idleMillis?: number
  readonly retry?: RetryOptions
  /**
   * Consecutive transport-level failures that open a target's breaker (default 10), and for how
   * long (default 5 s; 0 or less: half open at once, so a failing target gets one call at a time).
   */
  readonly breaker?: { readonly threshold?: number; readonly openMillis?: number }
  /** How `run` rides out retryable storage failures (every outage starts it over); see `Worker.storageRetry`. */
  readonly storageRetry?: Schedule.Schedule<unknown, PortError.StorageError>
  /**
   * Calls per interval per target (`erp`, `helpdesk`, …); unlimited when absent. `limit` is a
   * positive integer and `interval` a positive, finite duration (else `make` fails with
   * `StorageError` `Invalid` naming the target and what is wrong). Each process alone keeps it
   * (a token bucket: bursts of `limit`, refilled over `interval`) unless `sharedRateLimit` is
   * given.
   */
  readonly rateLimits?: Readonly<Record<string, { readonly limit: number; readonly interval: Duration.DurationInput }>>
  /**
   * Makes `rateLimits` hold for every process sharing the driver together: N worker processes
   * against one Odoo make at most `limit` calls per `interval` between them, not N times that.
   * The window slides: at most `limit` calls start in any span of `interval`. Every process
   * must configure a target the same way. The actions of one process wait for a permit in
   * line, one of them asking the driver at a time; an action whose lease ends while it waits is
   * not called. When the driver fails (`StorageError`), the action is not called: like a store
   * failure settling it, this is logged with its key and the action stays leased until its lease
   * ends, then it is claimed again; the tick goes on with the others. Without it, each process
   * limits itself (unchanged).
   *
   * @example
   * ```ts
   * import { Dispatcher, RateLimit } from "@waybill/core"
   * import { RedisRateLimit } from "@waybill/store-redis"
   * import { Config, Effect } from "effect"
   *
   * // Every worker process runs this: Odoo gets at most 50 calls a second from all of them.
   * const dispatch = Effect.gen(function* () {
   *   const dispatcher = yield* Dispatcher.make({
   *     rateLimits: { erp: { limit: 50, interval: "1 second" } },
   *     sharedRateLimit: yield* RateLimit.SharedRateLimit
   *   })
   *   return yield* dispatcher.run
   * }).pipe(Effect.provide(RedisRateLimit.layerConfig({ url: Config.redacted("REDIS_URL") })))
   * ```
   *
   * @since 0.2.0
   */
  readonly sharedRateLimit?: RateLimit.SharedRateLimitShape
}

/** The checked `rateLimits`: by target, the limit and the interval in whole milliseconds (rounded up). */
const checkRateLimits = (
  rateLimits: Options["rateLimits"]
): Effect.Effect<ReadonlyMap<string, { readonly limit: number; readonly intervalMillis: number }>, PortError.StorageError> => {
  const checked = new Map<string, { readonly limit: number; readonly intervalMillis: number }>()
  for (const [target, { interval, limit }] of Object.entries(rateLimits ?? {})) {
    const decoded = Duration.decodeUnknown(interval)
    const millis = decoded._tag === "Some" ? Duration.toMillis(decoded.value) : NaN
    const wrong = !Number.isSafeInteger(limit) || limit < 1
      ? `limit must be a positive integer, got ${String(limit)}`
      : !Number.isFinite(millis) || millis <= 0
        ? `interval must be a positive, finite duration, got ${decoded._tag === "Some" ? Duration.format(decoded.value) : String(interval)}`
        : undefined
    if (wrong !== undefined) {
      return Effect.fail(
        new PortError.StorageError({
          reason: "Invalid",
          module: "@waybill/core/Dispatcher",
          method: "make",
          description: `rateLimits.${target}: ${wrong}`
        })
      )
    }
    checked.set(target, { limit, intervalMillis: Math.ceil(millis) })
  }
  return Effect.succeed(checked)
}

/** The longest delay waited out inside a lease (default 10 s). */
const maxWaitInLease = (options: RetryOptions) => Duration.decode(options.maxWaitInLease ?? "10 seconds")

/** The longest `Retry-After` honoured, in milliseconds (default 1 hour). */
const maxRetryAfterMillis = (options: RetryOptions) => Duration.toMillis(Duration.decode(options.maxRetryAfter ?? "1 hour"))

/** How long a failure asks to wait, at most `cap` milliseconds; `undefined` when it does not ask. */
const askedWait = (error: { readonly retryAfterMillis?: number | undefined }, cap: number): number | undefined =>
  error.retryAfterMillis === undefined ? undefined : Math.min(error.retryAfterMillis, cap)

/**
 * The retry schedule: exponential with jitter and a cap, at least the `Retry-After` the far
 * side asked for (at most `maxRetryAfter`), only while the reason is retryable, at most
 * `attempts - 1` retries.
 *
 * @since 0.1.0
 */
export const retrySchedule = (
  options: RetryOptions & { readonly attempts: number }
): Schedule.Schedule<[Duration.Duration, PortError.PortFailure], PortError.PortFailure> => {
  const cap = Duration.decode(options.cap ?? "30 seconds")
  const maxWait = maxWaitInLease(options)
  const maxRetryAfter = maxRetryAfterMillis(options)
  const backoff = Schedule.exponential(options.base ?? "200 millis", options.factor ?? 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, d) => Duration.min(d, cap))
  )
  return Schedule.intersect(backoff, Schedule.identity<PortError.PortFailure>()).pipe(
    Schedule.modifyDelay(([, error], d) => {
      const asked = askedWait(error, maxRetryAfter)
      return asked !== undefined ? Duration.max(d, Duration.millis(asked)) : d
    }),
    Schedule.whileInput((e: PortError.PortFailure) => {
      const asked = askedWait(e, maxRetryAfter)
      return PortError.isRetryable(e.reason) && (asked === undefined || Duration.lessThanOrEqualTo(Duration.millis(asked), maxWait))
    }),
    Schedule.intersect(Schedule.recurs(Math.max(0, options.attempts - 1))),
    Schedule.map(([out]) => out)
  )
}

/**
 * Which attempt of an action a handler is running: `claim` counts the claims of the action
 * (1 = nobody ever ran it before), `call` the calls within this claim (1 = the first). A port
 * can skip its "did I already do this?" lookup when both are 1, because no earlier call with this
 * key can have reached the far side. Provided by the dispatcher around every far-side call.
 *
 * @since 0.1.0
 */
export class Attempt extends Context.Tag("@waybill/core/Dispatcher/Attempt")<
  Attempt,
  { readonly claim: number; readonly call: number }
>() {
  /** Whether the current call is the very first for its key (false when unknown). @since 0.1.0 */
  static readonly isFirst: Effect.Effect<boolean> = Effect.map(
    Effect.serviceOption(Attempt),
    Option.match({ onNone: () => false, onSome: (a) => a.claim === 1 && a.call === 1 })
  )
}

/**
 * How the dispatcher carries out each kind of action: decode the payload, call the port.
 *
 * @since 0.1.0
 */
export type Handler = (payload: unknown) => Effect.Effect<unknown, PortError.PortFailure | MissingPort>

/**
 * No port is wired for an action's target: permanent until the host wires one (then replay).
 *
 * @since 0.1.0
 */
export class MissingPort extends Schema.TaggedError<MissingPort>("@waybill/core/MissingPort")("MissingPort", {
  reason: Schema.Literal("Invalid"),
  module: Schema.String,
  method: Schema.String,
  description: Schema.String
}) {}

/**
 * An action was not run because the action it must follow (`after`) never succeeded: its dead
 * letter was removed instead of replayed. Kept as the action's dead letter, naming the
 * `predecessor`; replaying that letter runs the action without waiting for it.
 *
 * @since 0.2.0
 */
export class PredecessorNotDone extends Schema.TaggedError<PredecessorNotDone>("@waybill/core/PredecessorNotDone")(
  "PredecessorNotDone",
  {
    reason: Schema.Literal("Invalid"),
    module: Schema.String,
    method: Schema.String,
    description: Schema.String,
    /** The key of the action it must follow. */
    predecessor: Schema.String
  }
) {}

const decoder =
  <A, I>(schema: Schema.Schema<A, I, never>, kind: string) =>
  (payload: unknown) =>
    Either.mapLeft(
      Schema.decodeUnknownEither(schema)(payload),
      (e) =>
        new PortError.StorageError({
          reason: "Bug",
          module: "@waybill/core/Dispatcher",
          method: kind,
          description: `payload does not decode: ${e.message}`
        })
    )

const missing = (port: string, kind: string) =>
  new MissingPort({
    reason: "Invalid",
    module: "@waybill/core/Dispatcher",
    method: kind,
    description: `no ${port} is wired; provide it and replay the dead letter`
  })

/**
 * The port request of each action kind the flows plan: what its payload decodes with, and what
 * says which of the payload's values are personal data (the dispatcher withholds those from the
 * far side's error text it logs and keeps).
 *
 * @example
 * ```ts
 * // An outbox action's payload as the port request it carries
 * const request = Schema.decodeUnknownSync(Dispatcher.requests["helpdesk.openOrEnrich"])(JSON.parse(action.payload))
 * ```
 *
 * @since 0.2.0
 */
export const requests = {
  "erp.writeTracking": ErpPort.WriteTracking,
  "erp.postNote": ErpPort.PostNote,
  "erp.validateDelivery": ErpPort.ValidateDelivery,
  "erp.releaseInvoice": ErpPort.ReleaseInvoice,
  "finance.releaseInvoice": ErpPort.ReleaseInvoice,
  "helpdesk.openOrEnrich": HelpdeskPort.OpenCase,
  "helpdesk.update": HelpdeskPort.UpdateCase,
  "notifier.notify": Notifier.Notify
} as const

/**
 * What an action's error description may show: the far side's error can quote what it was sent
 * ("street 'Flat 3, 12 Privet Drive' is not deliverable"), and the description is logged and kept
 * in the dead letter, which lists and dashboards show. The personal values of the action's payload
 * (by the `Pii` annotations of its kind's request) become `<redacted>`. Looked up on the first
 * failure of the action only, and kept for its later ones.
 */
const withheld = (action: { readonly kind: string; readonly payload: string }): ((description: string) => string) => {
  let values: ReadonlyArray<string> | undefined
  return (description) => {
    if (values === undefined) {
      values = []
      const schema: Schema.Schema<any, any, never> | undefined = Object.hasOwn(requests, action.kind)
        ? requests[action.kind as keyof typeof requests]
        : undefined
      if (schema !== undefined) {
        try {
          values = Privacy.personalValues(schema, JSON.parse(action.payload))
        } catch {
          // a payload that is not JSON quotes nothing the far side was sent
        }
      }
    }
    return values.length === 0 ? description : Privacy.scrub(description, values)
  }
}

/**
 * The handlers for every action kind the flows plan, using the ports in context.
 *
 * @since 0.1.0
 */
export const handlers: Effect.Effect<Readonly<Record<string, Handler>>> = Effect.gen(function* () {
  const erp = yield* Effect.serviceOption(ErpPort.ErpPort)
  const helpdesk = yield* Effect.serviceOption(HelpdeskPort.HelpdeskPort)
  const notifier = yield* Effect.serviceOption(Notifier.Notifier)
  const finance = yield* Effect.serviceOption(FinancePort.FinancePort)
  const via =
    <S, A, I>(
      port: Option.Option<S>,
      portName: string,
      kind: string,
      schema: Schema.Schema<A, I, never>,
      call: (service: S, request: A) => Effect.Effect<unknown, PortError.PortFailure>
    ): Handler =>
    (payload) =>
      Option.match(port, {
        onNone: () => Effect.fail(missing(portName, kind)),
        onSome: (service) => Effect.flatMap(decoder(schema, kind)(payload), (request) => call(service, request))
      })
  return {
    "erp.writeTracking": via(erp, "ErpPort", "erp.writeTracking", requests["erp.writeTracking"], (p, r) => p.writeTracking(r)),
    "erp.postNote": via(erp, "ErpPort", "erp.postNote", requests["erp.postNote"], (p, r) => p.postNote(r)),
    "erp.validateDelivery": via(erp, "ErpPort", "erp.validateDelivery", requests["erp.validateDelivery"], (p, r) =>
      p.validateDelivery(r)
    ),
    "erp.releaseInvoice": via(erp, "ErpPort", "erp.releaseInvoice", requests["erp.releaseInvoice"], (p, r) => p.releaseInvoice(r)),
    "finance.releaseInvoice": via(
      finance,
      "FinancePort",
      "finance.releaseInvoice",
      requests["finance.releaseInvoice"],
      (p, r) => p.releaseInvoice(r)
    ),
    "helpdesk.openOrEnrich": via(helpdesk, "HelpdeskPort", "helpdesk.openOrEnrich", requests["helpdesk.openOrEnrich"], (p, r) =>
      p.openOrEnrich(r)
    ),
    "helpdesk.update": via(helpdesk, "HelpdeskPort", "helpdesk.update", requests["helpdesk.update"], (p, r) => p.update(r)),
    "notifier.notify": via(notifier, "Notifier", "notifier.notify", requests["notifier.notify"], (p, r) => p.notify(r))
  }
})

interface Breaker {
  /** Consecutive transport-level failures while closed. */
  failures: number
  /** Whether the breaker opened and no call has got an answer since: open until `openUntil`, half open after. */
  opened: boolean
  openUntil: number
  /**
   * The half-open trial call under way, if any (its target gets no other call meanwhile):
   * completed when it ends, once what it found is noted, so the actions waiting for it look again.
   */
  trial: Deferred.Deferred<void> | undefined
}

/** An action's lease as its worker sees it: the deadline in its clock, and whether a renewal was refused. */
interface Lease {
  until: number
  lost: boolean
}

/** What a call comes back with when it was not made because the target's breaker is open. */
const BreakerOpen: unique symbol = Symbol.for("@waybill/core/Dispatcher/BreakerOpen")

/** What a call comes back with when it was not made because the lease expired before it could start. */
const LeaseLost: unique symbol = Symbol.for("@waybill/core/Dispatcher/LeaseLost")

/** What a call comes back with when it was not made because the shared rate limit failed to give a permit. */
class NoPermit {
  constructor(readonly error: PortError.StorageError) {}
}

const isTransportLevel = (reason: PortError.Reason) =>
  reason === "Timeout" || reason === "Transport" || reason === "Unavailable"

/** The error as stored (last error, dead letter), with its description as `describe` shows it. */
const encodeFailure = (
  e: PortError.PortFailure | MissingPort | PredecessorNotDone,
  describe: (description: string) => string
): string => {
  const { _tag, reason, module, method } = e
  const description = describe(e.description)
  const status = "status" in e ? e.status : undefined
  const retryAfterMillis = "retryAfterMillis" in e ? e.retryAfterMillis : undefined
  const predecessor = "predecessor" in e ? e.predecessor : undefined
  return JSON.stringify({
    _tag,
    reason,
    module,
    method,
    description,
    ...(status !== undefined ? { status } : {}),
    ...(retryAfterMillis !== undefined ? { retryAfterMillis } : {}),
    ...(predecessor !== undefined ? { predecessor } : {})
  })
}

/**
 * A running dispatcher.
 *
 * @since 0.1.0
 */
export interface Dispatcher {
  /**
   * Claims and carries out due actions once; returns how many were claimed. Fails only when the
   * claim fails: a storage failure settling one action leaves that action leased until its lease
   * ends (logged with its key) and the others are carried out.
   */
  readonly tick: Effect.Effect<number, PortError.StorageError>
  /** Runs until interrupted, riding out retryable storage failures. */
  readonly run: Effect.Effect<never, PortError.StorageError>
  /**
   * Runs until the outbox is empty (or only holds actions that are not due within
   * `maxIdleMillis`, default 0). For batch jobs and tests.
   */
  readonly drain: (options?: { readonly maxIdleMillis?: number }) => Effect.Effect<void, PortError.StorageError>
}

/**
 * Builds a dispatcher over the `Store` and the ports in context. Rate limiters live in the scope.
 * Fails with `StorageError` `Invalid` when a rate limit is not valid.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<Dispatcher, PortError.StorageError, Store.Store | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    const table = yield* handlers
    const owner = options.owner ?? `dispatcher-${Math.random().toString(36).slice(2, 10)}`
    const concurrency = options.concurrency ?? 32
    const batch = options.batch ?? 64
    const leaseMillis = options.leaseMillis ?? 60_000
    const idleMillis = options.idleMillis ?? 50
    const retry = options.retry ?? {}
    const maxAttempts = retry.maxAttempts ?? 8
    const attemptsPerClaim = retry.attemptsPerClaim ?? 4
    const maxWait = maxWaitInLease(retry)
    const maxWaitMillis = Duration.toMillis(maxWait)
    const maxRetryAfter = maxRetryAfterMillis(retry)
    const threshold = options.breaker?.threshold ?? 10
    const openMillis = options.breaker?.openMillis ?? 5_000
    const breakers = new Map<string, Breaker>()
    const records = KeyedLock.make()
    const rateLimits = yield* checkRateLimits(options.rateLimits)
    const shared = options.sharedRateLimit
    /**
     * How a call to a target waits for its permit: `true` when it may start, `false` when the
     * lease ran out first (no permit is used), `NoPermit` when the shared driver failed.
     */
    const limiters = new Map<string, (lease: Lease) => Effect.Effect<boolean | NoPermit>>()
    for (const [target, { intervalMillis, limit }] of rateLimits) {
      if (shared === undefined) {
        const limiter = yield* RateLimiter.make({ limit, interval: Duration.millis(intervalMillis) })
        limiters.set(target, () => limiter(Effect.succeed(true)))
        continue
      }
      // The actions of this process wait in line: one at a time asks the driver.
      const line = yield* Effect.makeSemaphore(1)
      const permit = (lease: Lease) =>
        Effect.gen(function* () {
          while (true) {
            const now = yield* Clock.currentTimeMillis
            if (lease.lost || now >= lease.until) return false
            const wait = yield* shared.take(target, limit, intervalMillis)
            if (!Number.isFinite(wait) || wait < 0) {
              return yield* new PortError.StorageError({
                reason: "Bug",
                module: "@waybill/core/Dispatcher",
                method: "take",
                description: `the shared rate limit answered ${String(wait)} for ${target}, not a wait in milliseconds`
              })
            }
            if (wait === 0) return true
            yield* Effect.sleep(Duration.millis(Math.max(1, Math.min(wait, lease.until - now))))
          }
        })
      limiters.set(target, (lease) =>
        line.withPermits(1)(permit(lease)).pipe(Effect.catchAll((error) => Effect.succeed(new NoPermit(error)))))
    }
    const breakerOf = (target: string) => {
      let b = breakers.get(target)
      if (b === undefined) breakers.set(target, (b = { failures: 0, opened: false, openUntil: 0, trial: undefined }))
      return b
    }

    const backoff = (attempt: number): number => {
      const base = Duration.toMillis(Duration.decode(retry.base ?? "200 millis"))
      const cap = Duration.toMillis(Duration.decode(retry.cap ?? "30 seconds"))
      return Math.min(cap, base * Math.pow(retry.factor ?? 2, attempt)) * (0.8 + Math.random() * 0.4)
    }

    /**
     * Renews an action's lease every third of the lease while this worker holds it (waiting for
     * its record, a slot or the rate limiter, or in a long far-side call), so another worker does
     * not run it at the same time; for ten lease times in all at most, so a call that hangs does
     * not keep the action forever. `lease.until` is the deadline in this worker's clock: a failed
     * renewal leaves it, a refused one (the lease was lost) ends the renewals and marks it `lost`.
     */
    const renewing = (action: Store.ClaimedAction, lease: Lease) =>
      Effect.gen(function* () {
        const last = action.leaseExpiresAt + 9 * leaseMillis
        while (true) {
          yield* Effect.sleep(Duration.millis(Math.max(1, Math.floor(leaseMillis / 3))))
          const now = yield* Clock.currentTimeMillis
          if (now >= lease.until || now + leaseMillis > last) return
          const kept = yield* Effect.orElseSucceed(store.extend(action.key, action.leaseToken, { now, leaseMillis }), () => undefined)
          if (kept === false) {
            lease.lost = true
            return
          }
          if (kept === true) lease.until = now + leaseMillis
        }
      })

    /**
     * Completes when this worker no longer holds the lease: its deadline passed (renewals failed,
     * or stopped after ten lease times) or a renewal was refused. A far-side call still running
     * then is given up, so the same action never runs in two workers at once and a call that
     * hangs does not hold its record, its slot and the whole batch forever.
     */
    const leaseEnd = (lease: Lease) =>
      Effect.gen(function* () {
        while (true) {
          const now = yield* Clock.currentTimeMillis
          if (lease.lost || now >= lease.until) return
          yield* Effect.sleep(Duration.millis(Math.max(1, Math.min(lease.until - now, Math.floor(leaseMillis / 3)))))
        }
      })

    /**
     * Carries out one claimed action. A storage failure while settling it (ack, retry, dead
     * letter) is this action's alone: it is logged with its key and the action stays leased
     * until its lease ends (renewals stop), then it is claimed again; the other actions of the
     * tick go on.
     */
    const process = (action: Store.ClaimedAction) => {
      const lease: Lease = { until: action.leaseExpiresAt, lost: false }
      return Effect.scoped(Effect.zipRight(Effect.forkScoped(renewing(action, lease)), handle(action, lease))).pipe(
        Effect.catchAll((e) =>
          Effect.zipRight(
            counted(action, "unsettled"),
            Effect.logWarning("action not settled: the store failed; it is claimed again when its lease ends", {
              key: action.key,
              method: e.method,
              reason: e.reason,
              description: e.description
            })
          )
        )
      )
    }

    const counted = (action: Store.ClaimedAction, result: string) =>
      Metric.increment(Metric.tagged(Metric.tagged(Metrics.actions, "kind", action.kind), "result", result))

    /**
     * Moves a claimed action to the dead letters (unless its lease was lost: the worker that
     * holds it now decides, and counts). `stored` is the action the letter keeps, which a
     * replay puts back.
     */
    const bury = (
      action: Store.ClaimedAction,
      error: PortError.PortFailure | MissingPort | PredecessorNotDone,
      encoded: string,
      /** The error's description as logged (personal values withheld). */
      description: string,
      attempts: number,
      failedAt: number,
      stored: Store.OutboxAction = (({ leaseToken: _t, leaseExpiresAt: _e, ...rest }) => rest)(action)
    ) =>
      Effect.gen(function* () {
        const written = yield* store.deadLetter(action.key, action.leaseToken, {
          id: action.key,
          kind: "action",
          target: action.target,
          shipmentId: action.shipmentId,
          failedAt,
          attempts,
          error: encoded,
          payload: JSON.stringify({ ...stored, attempts, lastError: encoded })
        })
        if (!written) return yield* counted(action, "lease-lost")
        yield* Metric.increment(
          Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", action.target), "reason", error.reason)
        )
        yield* counted(action, "dead")
        yield* Effect.logWarning("action dead-lettered", {
          key: action.key,
          reason: error.reason,
          attempts,
          description
        })
      })

    /**
     * An action that must follow another (`after`) is claimed once that one no longer holds it
     * back: done, or no longer known at all because its dead letter was removed. In the second
     * case the predecessor never succeeded, so the action must not run either (an invoice
     * released for a delivery never validated): it goes to the dead letters, naming the
     * predecessor, for an operator to replay (it then runs without waiting for it) or remove (its
     * own dependents follow it there). True when the action was dealt with so.
     */
    const heldBack = (action: Store.ClaimedAction) =>
      Effect.gen(function* () {
        if (action.after === undefined || (yield* store.isDone(action.after))) return false
        const error = new PredecessorNotDone({
          reason: "Invalid",
          module: "@waybill/core/Dispatcher",
          method: action.kind,
          predecessor: action.after,
          description:
            `not run: it must follow ${action.after}, which never succeeded (it is neither done nor pending; ` +
            `its dead letter was removed); replay this letter to run it anyway, or remove it`
        })
        const { leaseToken: _t, leaseExpiresAt: _e, after: _a, ...stored } = action
        // The description names action keys only: nothing to withhold.
        const encoded = encodeFailure(error, (d) => d)
        yield* bury(action, error, encoded, error.description, action.attempts, yield* Clock.currentTimeMillis, stored)
        return true
      })

    const handle = (action: Store.ClaimedAction, lease: Lease) =>
      records.withLock(
        `${action.target}:${action.shipmentId}`,
        Effect.gen(function* () {
          if (yield* heldBack(action)) return
          const breaker = breakerOf(action.target)
          let lastError = action.lastError
          const describe = withheld(action)
          const handler = table[action.kind]
          const calls = yield* Ref.make(0)
          /** Whether this claim's last call was given up when the lease ended (no answer in time). */
          let givenUp = false
          /** The failure of this claim's last call that failed, as the port gave it. */
          let lastFailure: PortError.PortFailure | MissingPort | undefined
          const limiter = limiters.get(action.target)
          /** A `Retry-After` beyond `maxRetryAfter` is cut to it, with one warning per claim. */
          let warned = false
          const warnIfCut = (e: PortError.PortFailure | MissingPort) =>
            Effect.suspend(() => {
              const asked = "retryAfterMillis" in e && PortError.isRetryable(e.reason) ? e.retryAfterMillis : undefined
              if (warned || asked === undefined || asked <= maxRetryAfter) return Effect.void
              warned = true
              return Effect.logWarning(
                `${action.target} asked to retry after ${Duration.format(Duration.millis(asked))}; ` +
                  `waiting maxRetryAfter (${Duration.format(Duration.millis(maxRetryAfter))}) instead`,
                { key: action.key, target: action.target, retryAfterMillis: asked, maxRetryAfterMillis: maxRetryAfter }
              )
            })
          const call: Effect.Effect<unknown, PortError.PortFailure | MissingPort> =
            handler === undefined
              ? Effect.fail(
                  new PortError.StorageError({
                    reason: "Bug",
                    module: "@waybill/core/Dispatcher",
                    method: action.kind,
                    description: `no handler for action kind ${action.kind}`
                  })
                )
              : Effect.suspend(() => {
                  let payload: unknown
                  try {
                    payload = JSON.parse(action.payload)
                  } catch (cause) {
                    return Effect.fail(
                      new PortError.StorageError({
                        reason: "Bug",
                        module: "@waybill/core/Dispatcher",
                        method: action.kind,
                        description: `payload is not JSON: ${String(cause)}`
                      })
                    )
                  }
                  return handler(payload)
                }).pipe(
                  // A defect in an adapter is a bug for this action, not a reason to stop dispatching.
                  Effect.catchAllDefect((defect) =>
                    Effect.fail(
                      new PortError.StorageError({
                        reason: "Bug",
                        module: "@waybill/core/Dispatcher",
                        method: action.kind,
                        description: `the handler crashed: ${describeDefect(defect)}`
                      })
                    )
                  )
                )
          const timed = Effect.gen(function* () {
            // Looked at before every call, so a breaker that opened while this action was
            // retrying stops it too. Half open (the open period over), one call at a time tries
            // the target; the others wait for its answer in their lease, without spending an
            // attempt or a claim (at most `maxWaitInLease`, then they give the lease back).
            let probe = false
            let started = 0
            // No call starts after the lease ran out (while the action waited for its record, a
            // free slot, the trial call or the rate limiter): another worker may have claimed it
            // since. Only calls that start are counted, and their latency leaves out the wait for
            // the rate limiter.
            const attempt = Effect.flatMap(Clock.currentTimeMillis, (t) => {
              // A refused renewal (the store gave the action to another worker) ends the lease
              // too, whatever this worker's clock says.
              if (lease.lost || t >= lease.until) return Effect.succeed(LeaseLost)
              started = t
              return Effect.flatMap(Ref.updateAndGet(calls, (n) => n + 1), (n) =>
                Effect.raceFirst(
                  Effect.provideService(call, Attempt, { claim: action.claims, call: n }),
                  Effect.as(leaseEnd(lease), LeaseLost)
                ).pipe(Effect.tap((r) => {
                  if (r === LeaseLost) givenUp = true
                })))
            })
            // What the answer (or the failure) says about the target. Noted before the trial
            // call's mark is given back, so the actions waiting for it see what it found.
            const note = (result: Either.Either<unknown, PortError.PortFailure | MissingPort>) =>
              Effect.gen(function* () {
                if (Either.isRight(result) && (result.right === LeaseLost || result.right instanceof NoPermit)) return
                yield* Metric.update(
                  Metric.tagged(Metrics.actionLatency, "target", action.target),
                  (yield* Clock.currentTimeMillis) - started
                )
                if (Either.isLeft(result)) {
                  const e = result.left
                  lastFailure = e
                  lastError = encodeFailure(e, describe)
                  if (e._tag !== "MissingPort" && isTransportLevel(e.reason)) {
                    // A failed trial call opens the breaker again; calls that started before it
                    // opened and fail meanwhile do not open it once more.
                    if (probe || !breaker.opened) breaker.failures++
                    if (probe || (!breaker.opened && breaker.failures >= threshold)) {
                      breaker.opened = true
                      breaker.openUntil = (yield* Clock.currentTimeMillis) + openMillis
                      yield* Metric.increment(Metric.tagged(Metrics.breakerOpenings, "target", action.target))
                      yield* Effect.logWarning("circuit breaker open", { target: action.target, openMillis })
                    }
                  } else if (probe) {
                    // The far side answered the trial call: it is reachable again.
                    breaker.opened = false
                    breaker.failures = 0
                  }
                  return
                }
                breaker.opened = false
                breaker.failures = 0
              })
            const waitUntil = (yield* Clock.currentTimeMillis) + maxWaitMillis
            let gated: typeof BreakerOpen | typeof LeaseLost | Either.Either<unknown, PortError.PortFailure | MissingPort>
            while (true) {
              // The trial call's mark is taken and given back whatever happens (interruption too).
              const outcome = yield* Effect.acquireUseRelease(
                Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  Effect.suspend(() => {
                    if (!breaker.opened) return Effect.succeed("closed" as const)
                    if (breaker.openUntil > now) return Effect.succeed("open" as const)
                    if (breaker.trial !== undefined) return Effect.succeed("wait" as const)
                    return Effect.map(Deferred.make<void>(), (trial) => {
                      breaker.trial = trial
                      probe = true
                      return "probe" as const
                    })
                  })
                ),
                (gate): Effect.Effect<"open" | "wait" | Either.Either<unknown, PortError.PortFailure | MissingPort>> =>
                  gate === "open" || gate === "wait"
                    ? Effect.succeed(gate)
                    : Effect.tap(
                      Effect.either(
                        limiter === undefined
                          ? attempt
                          : Effect.flatMap(limiter(lease), (permit) =>
                            permit === true ? attempt : Effect.succeed(permit === false ? LeaseLost : permit))
                      ),
                      note
                    ),
                (gate) =>
                  gate !== "probe"
                    ? Effect.void
                    : Effect.suspend(() => {
                      const trial = breaker.trial
                      breaker.trial = undefined
                      probe = false
                      return trial === undefined ? Effect.void : Deferred.succeed(trial, undefined)
                    })
              )
              if (outcome === "open") {
                gated = BreakerOpen
                break
              }
              if (outcome !== "wait") {
                gated = outcome
                break
              }
              // Half open, and another action's trial call is under way: wait for its answer,
              // then look again (closed: call; open again: give the lease back).
              const trial = breaker.trial
              if (trial === undefined) continue
              const left = waitUntil - (yield* Clock.currentTimeMillis)
              const waited = left <= 0
                ? "waited-out" as const
                : yield* Effect.raceFirst(
                  Effect.as(Deferred.await(trial), "answered" as const),
                  Effect.raceFirst(
                    Effect.as(leaseEnd(lease), "lease-lost" as const),
                    Effect.as(Effect.sleep(Duration.millis(left)), "waited-out" as const)
                  )
                )
              if (waited === "lease-lost") {
                gated = LeaseLost
                break
              }
              if (waited === "waited-out") {
                gated = BreakerOpen
                break
              }
            }
            if (gated === BreakerOpen || gated === LeaseLost) return gated
            const result = gated
            if (Either.isRight(result) && result.right === LeaseLost) return LeaseLost
            if (Either.isRight(result) && result.right instanceof NoPermit) return result.right
            if (Either.isLeft(result)) return yield* Effect.fail(result.left)
            return result.right
          })
          const budget = Math.max(1, Math.min(attemptsPerClaim, maxAttempts - action.attempts))
          let failed: PortError.PortFailure | undefined
          const outcome = yield* Effect.either(
            Effect.retry(
              timed,
              retrySchedule({ ...retry, attempts: budget }).pipe(
                // A call starts within the lease or not at all: past it, or after a delay longer
                // than `maxWaitInLease` (a long backoff as well as a long Retry-After), the lease
                // is given back.
                Schedule.delays,
                Schedule.checkEffect((_, delay) =>
                  Effect.map(
                    Clock.currentTimeMillis,
                    (t) =>
                      Duration.lessThanOrEqualTo(delay, maxWait) && t + Duration.toMillis(delay) < lease.until
                  )
                ),
                Schedule.tapInput((e: PortError.PortFailure) => Effect.sync(() => (failed = e))),
                // Counted and logged only when the call is made again (not for the failure that
                // ends the claim: permanent, attempts spent or the lease given back).
                Schedule.onDecision((_, decision) =>
                  failed === undefined || !ScheduleDecision.isContinue(decision)
                    ? Effect.void
                    : warnIfCut(failed).pipe(
                      Effect.zipRight(Metric.increment(Metric.tagged(Metrics.retries, "target", action.target))),
                      Effect.zipRight(Effect.logDebug("retrying", { key: action.key, reason: failed.reason }))
                    )
                )
              ) as Schedule.Schedule<unknown, PortError.PortFailure | MissingPort>
            )
          )
          const attempts = action.attempts + (yield* Ref.get(calls))
          if (Either.isRight(outcome) && outcome.right instanceof NoPermit) {
            // No call without a permit. Like a store failure settling the action, the shared rate
            // limit's failure is this action's alone: it stays leased until its lease ends (the
            // renewals stop), then it is claimed again; the calls this claim made before are not
            // counted (the store is not written).
            const e = outcome.right.error
            yield* counted(action, "unsettled")
            return yield* Effect.logWarning(
              "action not called: the shared rate limit failed; it is claimed again when its lease ends",
              { key: action.key, target: action.target, module: e.module, reason: e.reason, description: e.description }
            )
          }
          if (Either.isRight(outcome) && outcome.right === LeaseLost) {
            // The calls this claim made still count (unless another worker claimed the action
            // since): otherwise an action whose every claim runs out of lease is never dead-lettered.
            // A call given up when the lease ended got no answer in time: a `Timeout`. Once the
            // attempts are spent, the action goes to the dead letters like after any retryable
            // failure (a far side that never answers would otherwise be called forever).
            if (attempts > action.attempts) {
              const now = yield* Clock.currentTimeMillis
              const failure: PortError.PortFailure | MissingPort = givenUp || lastFailure === undefined
                ? new PortError.StorageError({
                  reason: "Timeout",
                  module: "@waybill/core/Dispatcher",
                  method: action.kind,
                  description: "no answer before the lease ended: the call was given up"
                })
                : lastFailure
              const encoded = encodeFailure(failure, describe)
              if (attempts >= maxAttempts) {
                return yield* bury(action, failure, encoded, describe(failure.description), attempts, now)
              }
              yield* store.retry(action.key, action.leaseToken, { availableAt: now, attempts, lastError: encoded })
            }
            return yield* counted(action, "lease-lost")
          }
          if (Either.isRight(outcome) && outcome.right === BreakerOpen) {
            // The target is left alone: the action waits without spending the call not made,
            // until the open period is over, or a moment while a trial call is under way.
            const now = yield* Clock.currentTimeMillis
            yield* store.retry(action.key, action.leaseToken, {
              availableAt: Math.max(breaker.openUntil, now + Math.min(openMillis, 1000)),
              attempts,
              lastError: lastError ?? ""
            })
            return
          }
          if (Either.isRight(outcome)) {
            const acked = yield* store.ack(action.key, action.leaseToken)
            yield* counted(action, acked ? "done" : "lease-lost")
            return
          }
          const error = outcome.left
          const retryable = error._tag !== "MissingPort" && PortError.isRetryable(error.reason)
          const after = yield* Clock.currentTimeMillis
          if (retryable && attempts < maxAttempts) {
            yield* warnIfCut(error)
            const retryAfter = "retryAfterMillis" in error ? askedWait(error, maxRetryAfter) : undefined
            const delay = Math.max(backoff(attempts), retryAfter ?? 0)
            const given = yield* store.retry(action.key, action.leaseToken, {
              availableAt: after + Math.round(delay),
              attempts,
              lastError: encodeFailure(error, describe)
            })
            yield* counted(action, given ? "retry" : "lease-lost")
            return
          }
          return yield* bury(action, error, encodeFailure(error, describe), describe(error.description), attempts, after)
        })
      ).pipe(Effect.withSpan("waybill.dispatch", { attributes: { key: action.key, kind: action.kind }, captureStackTrace: false }))

    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const claimed = yield* store.claim({ now, leaseMillis, limit: batch, owner })
      yield* Effect.forEach(claimed, process, { concurrency, discard: true })
      return claimed.length
    })

    // The schedule starts over with every tick: each outage gets all of it, not what is left
    // after the outages before it.
    const run: Effect.Effect<never, PortError.StorageError> = Effect.forever(
      Effect.retry(
        Effect.flatMap(tick, (n) => (n === 0 ? Effect.sleep(idleMillis) : Effect.void)),
        Worker.storageRetry(options.storageRetry)
      )
    )

    const drain = (drainOptions?: { readonly maxIdleMillis?: number }) =>
      Effect.gen(function* () {
        const maxIdle = drainOptions?.maxIdleMillis ?? 0
        let idleSince: number | undefined
        while (true) {
          const n = yield* tick
          if (n > 0) {
            idleSince = undefined
            continue
          }
          if ((yield* store.outboxSize()) === 0) return
          const now = yield* Clock.currentTimeMillis
          idleSince ??= now
          if (now - idleSince >= maxIdle) return
          yield* Effect.sleep(Math.min(idleMillis, maxIdle))
        }
      })

    return { tick, run, drain }
  })
