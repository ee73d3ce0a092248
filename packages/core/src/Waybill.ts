/**
 * A Promise-based facade for hosts that do not use Effect: create, register orders, ingest,
 * start and stop the background workers, inspect shipments, replay dead letters.
 *
 * ```ts
 * import { Waybill } from "@waybill/core"
 *
 * const waybill = await Waybill.create({ erp: myErp, helpdesk: myHelpdesk })
 * await waybill.start()
 * await waybill.registerOrder(intake)                 // an OrderIntake (or its JSON form)
 * await waybill.ingest({ _tag: "Event", event })      // durable enqueue; workers apply it
 * await waybill.webhook("easypost", headers, rawBody) // verified and parsed by the carrier adapter
 * console.log(await waybill.shipment("SHP-1"))
 * await waybill.stop()
 * ```
 *
 * Every method rejects with the typed error of the failure (`IngestError`, `StorageError`, …),
 * which has a `_tag`, a `reason` and a readable `message`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as ParseResult from "effect/ParseResult"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as CarrierPort from "./CarrierPort.js"
import * as DeadLetters from "./DeadLetters.js"
import * as Dispatcher from "./Dispatcher.js"
import * as ErpPort from "./ErpPort.js"
import * as FinancePort from "./FinancePort.js"
import * as Flows from "./Flows.js"
import * as HelpdeskPort from "./HelpdeskPort.js"
import * as Inbound from "./internal/inbound.js"
import * as Instant from "./Instant.js"
import * as MemoryStore from "./MemoryStore.js"
import * as MemoryTransport from "./MemoryTransport.js"
import * as Notifier from "./Notifier.js"
import * as Pipeline from "./Pipeline.js"
import * as PortError from "./PortError.js"
import * as ShipmentRecord from "./ShipmentRecord.js"
import * as ShipmentState from "./ShipmentState.js"
import * as Store from "./Store.js"
import * as Transport from "./Transport.js"
import * as Validation from "./Validation.js"
import * as Worker from "./Worker.js"

/**
 * What to wire. Only the ERP is required; the store and transport default to memory.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly erp: ErpPort.ErpPortShape
  readonly helpdesk?: HelpdeskPort.HelpdeskPortShape
  readonly notifier?: Notifier.NotifierShape
  readonly finance?: FinancePort.FinancePortShape
  readonly carriers?: ReadonlyArray<CarrierPort.CarrierPortShape>
  readonly store?: Store.StoreShape
  readonly transport?: Transport.TransportShape
  readonly flows?: Flows.FlowConfig
  /** Ingest workers started by `start()`. Default 2. */
  readonly workers?: number
  readonly worker?: Worker.Options
  readonly dispatcher?: Dispatcher.Options
  /**
   * The largest webhook body `webhook` stores (`Worker.publish`'s `maxBodyBytes`); a larger one
   * is refused before anything is stored (`StorageError`, `Invalid`). Default 16 MiB; set it to
   * your carriers' own bound (EasyPost and AfterShip: 1 MiB).
   */
  readonly maxWebhookBytes?: number | undefined
}

/**
 * A shipment as the facade shows it.
 *
 * @since 0.1.0
 */
export interface ShipmentSummary {
  readonly shipmentId: string
  readonly status: string
  readonly progress?: string
  readonly milestones: ReadonlyArray<string>
  readonly openExceptions: ReadonlyArray<string>
  readonly anomalies: ReadonlyArray<string>
  readonly billing: { readonly status: string; readonly holds: ReadonlyArray<string> }
  readonly events: number
  /**
   * The record's stored version: show it with the shipment and pass it to `approve` as
   * `seenVersion`, so an approval covers only what the operator saw.
   *
   * @since 0.2.0
   */
  readonly version: number
}

/**
 * The facade.
 *
 * @since 0.1.0
 */
export interface Waybill {
  /** Registers a confirmed order and its shipments (an `OrderIntake` or its encoded JSON). */
  readonly registerOrder: (intake: ErpPort.OrderIntake | unknown) => Promise<ReadonlyArray<string>>
  /**
   * Enqueues an inbound message (an `InboundMessage` or its encoded JSON form) durably; the
   * workers ingest it. Resolves once enqueued; anything else is refused (`IngestError`, `Invalid`).
   */
  readonly ingest: (message: Pipeline.InboundMessage | unknown) => Promise<void>
  /**
   * Enqueues a carrier webhook as received (raw bytes); verified and parsed by a worker. The
   * headers may be passed as Node gives them (`IncomingMessage.headers`): a repeated header's
   * values are joined with `, `, an absent one is left out. A source that is not text, a body
   * that is not bytes (a `Uint8Array` or `Buffer`: not text a body parser made of it) or headers
   * that are not an object are refused before anything is stored (`IngestError`, `Invalid`).
   */
  readonly webhook: (
    source: string,
    headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
    body: Uint8Array
  ) => Promise<void>
  /**
   * Ingests a message (an `InboundMessage` or its encoded JSON form) now, in the caller's turn, and
   * returns what happened. A raw request whose body is larger than `maxWebhookBytes` is refused
   * before anything is stored, as by `webhook` (`StorageError`, `Invalid`).
   */
  readonly ingestNow: (message: Pipeline.InboundMessage | unknown) => Promise<{
    readonly results: ReadonlyArray<Pipeline.IngestResult>
    readonly rejected: ReadonlyArray<Pipeline.IngestError>
  }>
  /**
   * Approves an invoice hold (damage, weight, POD, return to the sender).
   *
   * Without `seenVersion` the approval covers whatever the record holds when it is applied: a
   * second damage or a new weight that arrived after the operator looked is approved unseen. Pass
   * the `version` of the {@link ShipmentSummary} the operator was shown: if the shipment changed
   * since, the call rejects with an `IngestError` (`Conflict`, naming both versions), nothing is
   * approved, and the operator should look again (retrying with the same version is refused again).
   */
  readonly approve: (
    shipmentId: string,
    approval: ShipmentRecord.Approval,
    by: string,
    options?: Pipeline.ApproveOptions
  ) => Promise<void>
  readonly shipment: (shipmentId: string) => Promise<ShipmentSummary | undefined>
  readonly deadLetters: (filter?: DeadLetters.Filter) => Promise<ReadonlyArray<Store.DeadLetter>>
  readonly replay: (filter: DeadLetters.Filter, by: string) => Promise<DeadLetters.ReplayReport>
  /**
   * Starts the ingest workers and the dispatcher in the background. A stopped instance does not
   * start again: `start()` after `stop()` (like every other method) rejects with `StorageError`
   * `Unavailable`; create a new instance instead.
   */
  readonly start: () => Promise<void>
  /**
   * Waits until the ingest topic and the outbox are empty (after `start()`); rejects when that
   * does not happen within the timeout (default 60 s), e.g. because actions wait on a dead letter
   * (`StorageError`, `Timeout`, naming what is still pending),
   * and at once, with its error, when a background loop stopped (a permanent storage error; it is
   * also logged as an error), or when `stop()` is called meanwhile (`StorageError`, `Unavailable`).
   * A `timeoutMillis` that is not a non-negative number is refused at once (`StorageError`, `Invalid`).
   */
  readonly drain: (options?: { readonly timeoutMillis?: number }) => Promise<void>
  /**
   * Stops the background work and releases resources. The batch and the actions in hand are cut
   * short: what was not acknowledged is delivered again (to another process, or after a restart)
   * and deduplicated. Calling it again does nothing.
   */
  readonly stop: () => Promise<void>
}

const decodeIntake = Schema.decodeUnknownEither(ErpPort.OrderIntake)
const isMessage = Schema.is(Pipeline.InboundMessage)
const decodeMessage = Schema.decodeUnknownEither(Pipeline.InboundMessage)

/** A decoding failure of a host's input, as the facade's typed `Invalid`. */
const invalid = (error: ParseResult.ParseError, schema: string, method: string) =>
  new Pipeline.IngestError({
    reason: "Invalid",
    module: "@waybill/core/Waybill",
    method,
    description: describeInvalid(error, schema, method)
  })

/**
 * The readable failure; a value nested so deep that describing it overflows the stack (JSON a
 * host parsed from a request and handed over) is named without it.
 */
const describeInvalid = (error: ParseResult.ParseError, schema: string, method: string): string => {
  try {
    return Validation.ValidationError.fromParseError(error, { schema, module: "@waybill/core/Waybill", method }).message
  } catch {
    // The input is refused either way; only its description could not be made.
    return `invalid ${schema}: a value is nested too deep to be described`
  }
}

/** A host's message as the runtime's value: the message itself, its JSON form decoded, or `Invalid`. */
const inbound = (message: unknown, method: string): Effect.Effect<Pipeline.InboundMessage, Pipeline.IngestError> => {
  if (isMessage(message)) return Effect.succeed(message)
  const decoded = decodeMessage(message)
  return Either.isRight(decoded) ? Effect.succeed(decoded.right) : Effect.fail(invalid(decoded.left, "InboundMessage", method))
}

/**
 * A webhook's headers as the pipeline stores them: names in lower case, one string each. Node
 * gives a repeated header as an array and may leave a value undefined: both are plain strings
 * here, so such a webhook is stored, not refused with a parse error (and sent again forever).
 */
const headersOf = (headers: Readonly<Record<string, unknown>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || value === null) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String).join(", ") : String(value)
  }
  return out
}

/** What is wrong with a host's webhook before it is stored, or `undefined`. Never quotes a value. */
const webhookProblem = (source: unknown, headers: unknown, body: unknown): string | undefined => {
  if (typeof source !== "string") return `source must be the carrier's name (text), got ${kindOf(source)}`
  if (headers !== undefined && headers !== null && (typeof headers !== "object" || Array.isArray(headers))) {
    return `headers must be an object of header names and values, got ${kindOf(headers)}`
  }
  // Text would be stored as other bytes than the signed ones (a body parser ran first).
  if (!(body instanceof Uint8Array)) return `body must be the raw bytes received (a Uint8Array or Buffer), got ${kindOf(body)}`
  return undefined
}

const kindOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`

/**
 * A host's webhook as the raw request stored, or `Invalid`: a source that is not text, a body
 * that is not bytes (text a body parser made of it, none at all) or headers that are not an
 * object would otherwise crash the enqueue with an untyped error (or store junk headers).
 */
const request = (source: unknown, headers: unknown, body: unknown): Effect.Effect<Pipeline.InboundMessage, Pipeline.IngestError> => {
  const problem = webhookProblem(source, headers, body)
  if (problem !== undefined) {
    return Effect.fail(new Pipeline.IngestError({ reason: "Invalid", module: "@waybill/core/Waybill", method: "webhook", description: problem }))
  }
  return Effect.succeed({
    _tag: "Request",
    source: source as string,
    headers: headersOf((headers ?? {}) as Readonly<Record<string, unknown>>),
    body: body as Uint8Array,
    receivedAt: Instant.fromMillis(Date.now())
  })
}

/** A host's order intake: the value itself, its JSON form decoded, or `Invalid`. */
const intakeOf = (intake: unknown): Effect.Effect<ErpPort.OrderIntake, Pipeline.IngestError> => {
  if (intake instanceof ErpPort.OrderIntake) return Effect.succeed(intake)
  const decoded = decodeIntake(intake)
  return Either.isRight(decoded) ? Effect.succeed(decoded.right) : Effect.fail(invalid(decoded.left, "OrderIntake", "registerOrder"))
}

/**
 * What is wrong with the numeric options of the ingest side, or `undefined`: from a host's config
 * (text read from the environment, a typo), a batch of 0 takes no message and NaN bounds nothing,
 * silently; a visibility of 0 hands every message to every worker at once.
 */
const optionsProblem = (options: Options): string | undefined => {
  const checks: ReadonlyArray<readonly [string, unknown, (n: number) => boolean, string]> = [
    ["workers", options.workers, (n) => Number.isInteger(n) && n >= 0, "a whole number, 0 or more"],
    ["worker.batch", options.worker?.batch, (n) => Number.isInteger(n) && n >= 1, "a whole number, 1 or more"],
    ["worker.concurrency", options.worker?.concurrency, (n) => Number.isInteger(n) && n >= 1, "a whole number, 1 or more"],
    ["worker.visibilityMillis", options.worker?.visibilityMillis, (n) => Number.isFinite(n) && n >= 1, "a number of milliseconds, 1 or more"],
    ["worker.maxLeaseMillis", options.worker?.maxLeaseMillis, (n) => !Number.isNaN(n) && n >= 1, "a number of milliseconds, 1 or more"],
    ["worker.maxDeliveries", options.worker?.maxDeliveries, (n) => Number.isInteger(n) && n >= 1, "a whole number, 1 or more"],
    ["worker.waitMillis", options.worker?.waitMillis, (n) => Number.isFinite(n) && n >= 0, "a number of milliseconds, 0 or more"],
    ["maxWebhookBytes", options.maxWebhookBytes, (n) => !Number.isNaN(n) && n >= 0, "a number of bytes, 0 or more"]
  ]
  for (const [name, value, valid, what] of checks) {
    if (value === undefined) continue
    if (typeof value !== "number" || !valid(value)) {
      return `${name} must be ${what}, got ${typeof value === "number" ? String(value) : typeof value}`
    }
  }
  return undefined
}

/**
 * Creates a waybill instance. Numeric options of the ingest side (`workers`, `worker.batch`,
 * `worker.visibilityMillis`, …, `maxWebhookBytes`) out of range or not numbers are refused
 * (`IngestError`, `Invalid`, naming the option).
 *
 * @since 0.1.0
 */
export const create = async (options: Options): Promise<Waybill> => {
  const problem = optionsProblem(options)
  if (problem !== undefined) {
    throw new Pipeline.IngestError({ reason: "Invalid", module: "@waybill/core/Waybill", method: "create", description: problem })
  }
  // Effects are planned only for the far sides wired: without a finance port, a finance billing
  // target would quietly release invoices in the ERP instead.
  if (options.flows?.billing.target === "finance" && options.finance === undefined) {
    throw new Pipeline.IngestError({
      reason: "Invalid",
      module: "@waybill/core/Waybill",
      method: "create",
      description: 'flows.billing.target is "finance" but no finance port is given: pass `finance`, or bill in the ERP (target "erp")'
    })
  }
  const store = options.store ?? (await Effect.runPromise(MemoryStore.make))
  const transport = options.transport ?? (await Effect.runPromise(MemoryTransport.make))
  const ports = Layer.mergeAll(
    Layer.succeed(Store.Store, store),
    Layer.succeed(Transport.Transport, transport),
    Layer.succeed(ErpPort.ErpPort, options.erp),
    options.helpdesk !== undefined ? Layer.succeed(HelpdeskPort.HelpdeskPort, options.helpdesk) : Layer.empty,
    options.notifier !== undefined ? Layer.succeed(Notifier.Notifier, options.notifier) : Layer.empty,
    options.finance !== undefined ? Layer.succeed(FinancePort.FinancePort, options.finance) : Layer.empty
  )
  const runtime = ManagedRuntime.make(
    Layer.provideMerge(
      Pipeline.layer({
        // Effects are only planned for the far sides that are wired.
        flows: new Flows.FlowConfig({
          ...(options.flows ?? new Flows.FlowConfig({})),
          targets: {
            helpdesk: options.helpdesk !== undefined,
            notifier: options.notifier !== undefined,
            finance: options.finance !== undefined
          }
        }),
        carriers: options.carriers ?? []
      }),
      ports
    )
  )
  // Once `stop()` was called the instance is done: its runtime is disposed and its scope closed.
  let stopping = false
  /**
   * What a call on a stopped instance, or a `drain()` that `stop()` cut short, rejects with:
   * retryable, so a webhook that arrives during a shutdown is answered 503 and sent again (to
   * another instance, or this one's successor), not refused for good.
   */
  const stoppedError = (method: string) =>
    new PortError.StorageError({
      reason: "Unavailable",
      module: "@waybill/core/Waybill",
      method,
      description: "the waybill instance was stopped; create a new one"
    })
  // The background fibers, once `start()` was called: one start for concurrent calls, so that
  // `stop()` interrupts every fiber that was forked.
  // Rejects with the failure itself (its _tag, reason and message), not a FiberFailure wrapping it.
  const run = <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof ports> | Pipeline.Pipeline>, method: string): Promise<A> =>
    stopping
      ? Promise.reject(stoppedError(method))
      : runtime.runPromiseExit(effect).then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value
        throw Cause.squash(exit.cause)
      })
  let background: Promise<ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>> | undefined
  /** A background loop that logs, as an error, why it stopped (it only stops on a permanent failure). */
  const stopped = <E>(name: string, loop: Effect.Effect<never, E>) =>
    Effect.tapErrorCause(loop, (cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(`waybill ${name} stopped`, cause))
  const scope = await Effect.runPromise(Scope.make())

  const summary = (record: ShipmentRecord.ShipmentRecord, version: number): ShipmentSummary => {
    const view = record.state.view
    return {
      shipmentId: record.state.shipmentId,
      status: view.status,
      ...(view.progress !== undefined ? { progress: view.progress } : {}),
      milestones: [...ShipmentState.milestoneKeys(record.state)],
      openExceptions: ShipmentState.openExceptions(view).map((e) => e.kind),
      anomalies: view.anomalies.map((a) => a.reason),
      billing: { status: record.billing.status, holds: record.billing.holds },
      events: record.state.events.length,
      version
    }
  }

  return {
    registerOrder: (intake) =>
      run(Effect.flatMap(intakeOf(intake), (decoded) => Effect.flatMap(Pipeline.Pipeline, (p) => p.register(decoded))), "registerOrder"),
    ingest: (message) =>
      run(
        Effect.flatMap(inbound(message, "ingest"), (m) =>
          Effect.asVoid(Worker.publish([m], options.worker?.topic, { maxBodyBytes: options.maxWebhookBytes }))),
        "ingest"
      ),
    webhook: (source, headers, body) =>
      run(
        Effect.flatMap(request(source, headers, body), (message) =>
          Effect.asVoid(Worker.publish([message], options.worker?.topic, { maxBodyBytes: options.maxWebhookBytes }))),
        "webhook"
      ),
    ingestNow: (message) =>
      run(
        Effect.flatMap(inbound(message, "ingestNow"), (m) => {
          // As `webhook` and `ingest` (`Worker.publish`): a body no adapter would read is not
          // handed over, to be kept whole in the dead letters when it is refused.
          const refused = Inbound.oversized([m], options.maxWebhookBytes, "@waybill/core/Waybill", "ingestNow")
          return Effect.zipRight(refused === undefined ? Effect.void : Effect.fail(refused), Effect.flatMap(Pipeline.Pipeline, (p) => p.receive(m)))
        }),
        "ingestNow"
      ),
    approve: (shipmentId, approval, by, approveOptions) =>
      run(
        Effect.flatMap(Pipeline.Pipeline, (p) => Effect.asVoid(p.approve(shipmentId as never, approval, by, approveOptions))),
        "approve"
      ),
    shipment: (shipmentId) =>
      run(
        Effect.flatMap(Pipeline.Pipeline, (p) =>
          Effect.map(p.versioned(shipmentId), (r) => (r === undefined ? undefined : summary(r.record, r.version)))),
        "shipment"
      ),
    deadLetters: (filter) => run(DeadLetters.list(filter), "deadLetters"),
    replay: (filter, by) => run(DeadLetters.replay(filter, by), "replay"),
    start: async () => {
      // Its runtime is disposed: a stopped instance does not start again (nor does one being stopped).
      if (stopping) throw stoppedError("start")
      if (background !== undefined) {
        await background
        return
      }
      const workers = options.workers ?? 2
      background = run(
        Effect.gen(function* () {
          const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
          // Consumer names are unique per process unless the host names them: two processes
          // sharing a name would share one consumer's partitions and pending messages.
          const prefix = options.worker?.consumer ?? `waybill-${Math.random().toString(36).slice(2, 10)}`
          for (let i = 0; i < workers; i++) {
            const worker = yield* Worker.make({ ...options.worker, consumer: `${prefix}-${i}` })
            fibers.push(yield* Effect.forkDaemon(stopped(`ingest worker ${prefix}-${i}`, worker.run)))
          }
          // The dispatcher's rate limiters live as long as the instance.
          const dispatcher = yield* Scope.extend(Dispatcher.make(options.dispatcher), scope)
          fibers.push(yield* Effect.forkDaemon(stopped("dispatcher", dispatcher.run)))
          return fibers
        }),
        "start"
      )
      // A start that failed may be tried again.
      await background.catch((error) => {
        background = undefined
        throw error
      })
    },
    drain: (drainOptions) =>
      run(
        Effect.gen(function* () {
          const timeoutMillis: unknown = drainOptions?.timeoutMillis ?? 60_000
          // NaN (or text: `Date.now() + "50"`) would make a deadline never passed: a drain that
          // waits for ever on work that never ends (actions waiting on a dead letter).
          if (typeof timeoutMillis !== "number" || Number.isNaN(timeoutMillis) || timeoutMillis < 0) {
            return yield* new PortError.StorageError({
              reason: "Invalid",
              module: "@waybill/core/Waybill",
              method: "drain",
              description: `timeoutMillis must be a non-negative number of milliseconds, got ${
                typeof timeoutMillis === "number" ? String(timeoutMillis) : typeof timeoutMillis
              }`
            })
          }
          const deadline = Date.now() + timeoutMillis
          const topic = options.worker?.topic ?? Worker.TOPIC
          const group = options.worker?.group ?? Worker.GROUP
          const started = background
          const loops = started === undefined ? [] : yield* Effect.promise(() => started.catch(() => []))
          while (true) {
            // `stop()` ends the background loops: nothing will drain any more.
            if (stopping) return yield* Effect.fail(stoppedError("drain"))
            // A background loop that stopped (a permanent storage error) will not drain anything.
            for (const fiber of loops) {
              const exit = fiber.unsafePoll()
              if (exit !== null && Exit.isFailure(exit) && !Exit.isInterrupted(exit)) return yield* Effect.failCause(exit.cause)
            }
            const pending = yield* transport.pending(topic, group)
            const outbox = yield* store.outboxSize()
            if (pending === 0 && outbox === 0) return
            if (Date.now() > deadline) {
              // Typed like every other rejection: retryable, so a host may wait again.
              return yield* new PortError.StorageError({
                reason: "Timeout",
                module: "@waybill/core/Waybill",
                method: "drain",
                description: `drain timed out: ${pending} messages and ${outbox} actions pending`
              })
            }
            yield* Effect.sleep("20 millis")
          }
        }),
        "drain"
      ),
    stop: async () => {
      stopping = true
      // A start still in progress is waited for, so none of its fibers outlives the stop.
      const fibers = background === undefined ? [] : await background.catch(() => [])
      background = undefined
      await Effect.runPromise(Effect.forEach(fibers, Fiber.interrupt, { discard: true }))
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await runtime.dispose()
    }
  }
}
