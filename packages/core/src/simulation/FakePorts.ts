/**
 * In-memory far sides for the effect ports (ERP, helpdesk, notifier, finance), with the
 * behaviour real adapters must have, and a fault injector.
 *
 * Each fake is idempotent by the request key the way a good adapter is (look up by key before
 * acting), records every effect it really carried out, and can fail at random: a timeout
 * before acting, a 429 with `Retry-After`, a 500, or a crash *after* acting but before
 * answering. A predicate marks requests it rejects for good (`Invalid`). The effect log lets
 * a test check that every business effect happened exactly once.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ErpPort from "../ErpPort.js"
import * as ExternalRefs from "../ExternalRefs.js"
import * as FinancePort from "../FinancePort.js"
import * as HelpdeskPort from "../HelpdeskPort.js"
import * as Ids from "../Ids.js"
import * as Invoice from "../Invoice.js"
import * as Money from "../Money.js"
import * as Notifier from "../Notifier.js"
import * as PortError from "../PortError.js"
import * as Random from "./Random.js"

/**
 * The faults a fake injects.
 *
 * @since 0.1.0
 */
export interface Faults {
  /** Probability that a call fails transiently (0..1). */
  readonly rate: number
  /** Which transient failures, chosen uniformly. */
  readonly kinds: ReadonlyArray<"timeout" | "rate-limited" | "server-error" | "crash-after-act">
  /** `Retry-After` of a 429, milliseconds. */
  readonly retryAfterMillis?: number
  /** Requests rejected for good with `Invalid` (by action key). */
  readonly permanent?: (key: string) => boolean
  /** Seed of the fault PRNG. */
  readonly seed?: number
}

/**
 * Options of the fakes besides faults.
 *
 * @since 0.1.0
 */
export interface Options {
  /** When given, the ERP answers `NotFound` for shipments not in this set (default: knows all). */
  readonly knownShipments?: (shipmentId: string) => boolean
}

/**
 * One effect really carried out at a far side.
 *
 * @since 0.1.0
 */
export interface Effected {
  readonly port: "erp" | "helpdesk" | "notifier" | "finance"
  readonly operation: string
  readonly key: string
  readonly shipmentId: string
}

/**
 * The fakes, their effect log and their controls.
 *
 * @since 0.1.0
 */
export interface FakePorts {
  readonly erp: ErpPort.ErpPortShape
  readonly helpdesk: HelpdeskPort.HelpdeskPortShape
  readonly notifier: Notifier.NotifierShape
  readonly finance: FinancePort.FinancePortShape
  /** Every effect carried out, in order. */
  readonly effects: ReadonlyArray<Effected>
  /** Calls per operation, including failed ones. */
  readonly calls: ReadonlyMap<string, number>
  /** Keys rejected for good, and how often. */
  readonly rejected: ReadonlyMap<string, number>
  /** Invoices created, by shipment. */
  readonly invoices: ReadonlyMap<string, number>
  /** Cases opened, by shipment, and notes added to them. */
  readonly cases: ReadonlyMap<string, { readonly notes: number; readonly resolved: boolean }>
  /** Tracking numbers written, by shipment. */
  readonly tracking: ReadonlyMap<string, string>
  /** Shipments whose delivery was validated. */
  readonly delivered: ReadonlySet<string>
  /** Replaces the fault settings (e.g. heal everything with `{ rate: 0, kinds: [] }`). */
  readonly setFaults: (faults: Faults) => void
  /** A layer providing all four ports. */
  readonly layer: Layer.Layer<ErpPort.ErpPort | HelpdeskPort.HelpdeskPort | Notifier.Notifier | FinancePort.FinancePort>
}

const MODULE = "@waybill/core/testing/FakePorts"

/**
 * Creates the fakes.
 *
 * @since 0.1.0
 */
export const make = (initial: Faults = { rate: 0, kinds: [] }, options: Options = {}): FakePorts => {
  let faults = initial
  const random = Random.make(initial.seed ?? 42).next
  const effects: Array<Effected> = []
  const calls = new Map<string, number>()
  const rejected = new Map<string, number>()
  const done = new Map<string, unknown>()
  const invoices = new Map<string, number>()
  const invoiceByShipment = new Map<string, Invoice.Invoice>()
  const cases = new Map<string, { notes: number; resolved: boolean }>()
  const tracking = new Map<string, string>()
  const delivered = new Set<string>()
  const unknown = (shipmentId: string) =>
    options.knownShipments !== undefined && !options.knownShipments(shipmentId)
      ? fail(erpError, "lookup", "NotFound", `no delivery for shipment ${shipmentId}`, { status: 404 })
      : undefined

  const fail = <E>(
    make: (fields: ConstructorParameters<typeof PortError.ErpError>[0]) => E,
    method: string,
    reason: PortError.Reason,
    description: string,
    extra: { status?: number; retryAfterMillis?: number } = {}
  ) => Effect.fail(make({ reason, module: MODULE, method, description, ...extra }))

  /**
   * Runs an operation the way a careful adapter does: a known key answers with the earlier
   * result, otherwise act once and remember.
   */
  const operation = <A, E>(
    port: Effected["port"],
    method: string,
    key: string,
    shipmentId: string,
    act: () => A,
    error: (fields: ConstructorParameters<typeof PortError.ErpError>[0]) => E
  ): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const name = `${port}.${method}`
      calls.set(name, (calls.get(name) ?? 0) + 1)
      if (faults.permanent?.(key) === true) {
        rejected.set(key, (rejected.get(key) ?? 0) + 1)
        return fail(error, method, "Invalid", `rejected for good: ${key}`, { status: 422 })
      }
      const roll = random()
      const kind = roll < faults.rate && faults.kinds.length > 0 ? faults.kinds[Math.floor(random() * faults.kinds.length)] : undefined
      if (kind === "timeout") return fail(error, method, "Timeout", "the far side did not answer in time")
      if (kind === "rate-limited") {
        return fail(error, method, "RateLimited", "too many requests", {
          status: 429,
          retryAfterMillis: faults.retryAfterMillis ?? 10
        })
      }
      if (kind === "server-error") return fail(error, method, "Unavailable", "internal server error", { status: 500 })
      let result: A
      // A repeated key answers what the first call did, as seen from now: nothing new was created.
      if (done.has(key)) result = asReplay(done.get(key) as A)
      else {
        result = act()
        done.set(key, result)
        effects.push({ port, operation: method, key, shipmentId })
      }
      if (kind === "crash-after-act") return fail(error, method, "Timeout", "the connection dropped after the request was sent")
      return Effect.succeed(result)
    })

  const asReplay = <A>(result: A): A =>
    result instanceof ErpPort.InvoiceReleased
      ? (new ErpPort.InvoiceReleased({ invoice: result.invoice, created: false }) as A)
      : result instanceof HelpdeskPort.CaseRef
        ? (new HelpdeskPort.CaseRef({ externalId: result.externalId, created: false }) as A)
        : result

  const erpError = (f: ConstructorParameters<typeof PortError.ErpError>[0]) => new PortError.ErpError(f)
  const helpdeskError = (f: ConstructorParameters<typeof PortError.ErpError>[0]) => new PortError.HelpdeskError(f)
  const notifierError = (f: ConstructorParameters<typeof PortError.ErpError>[0]) => new PortError.NotifierError(f)
  const financeError = (f: ConstructorParameters<typeof PortError.ErpError>[0]) => new PortError.FinanceError(f)

  const releaseInvoice = (shipment: ErpPort.ReleaseInvoice["shipment"]) => {
    const existing = invoiceByShipment.get(shipment.id)
    if (existing !== undefined) return new ErpPort.InvoiceReleased({ invoice: existing, created: false })
    invoices.set(shipment.id, (invoices.get(shipment.id) ?? 0) + 1)
    const invoice = new Invoice.Invoice({
      id: Ids.InvoiceId.make(`INV-${shipment.id}`),
      companyId: shipment.companyId,
      orderId: shipment.orderId,
      shipmentIds: [shipment.id],
      refs: ExternalRefs.ExternalRefs.empty,
      state: "posted",
      paymentState: "not_paid",
      total: Money.Money.zero(Money.CurrencyCode.make("EUR"))
    })
    invoiceByShipment.set(shipment.id, invoice)
    return new ErpPort.InvoiceReleased({ invoice, created: true })
  }

  const erp: ErpPort.ErpPortShape = {
    fetchOrders: () => Effect.succeed(new ErpPort.OrderBatch({ intakes: [] })),
    writeTracking: (r) =>
      unknown(r.shipment.id) ??
      operation("erp", "writeTracking", r.key, r.shipment.id, () => void tracking.set(r.shipment.id, r.trackingNumber), erpError),
    postNote: (r) => unknown(r.shipment.id) ?? operation("erp", "postNote", r.key, r.shipment.id, () => undefined, erpError),
    validateDelivery: (r) =>
      unknown(r.shipment.id) ??
      operation(
        "erp",
        "validateDelivery",
        r.key,
        r.shipment.id,
        () => {
          const alreadyDone = delivered.has(r.shipment.id)
          delivered.add(r.shipment.id)
          return new ErpPort.DeliveryValidated({ alreadyDone })
        },
        erpError
      ),
    releaseInvoice: (r) =>
      unknown(r.shipment.id) ?? operation("erp", "releaseInvoice", r.key, r.shipment.id, () => releaseInvoice(r.shipment), erpError),
    readPayment: (r) => Effect.succeed(r.invoice.paymentState)
  }
  const helpdesk: HelpdeskPort.HelpdeskPortShape = {
    openOrEnrich: (r) =>
      operation(
        "helpdesk",
        "openOrEnrich",
        r.key,
        r.shipmentId,
        () => {
          const existing = cases.get(r.shipmentId)
          if (existing !== undefined) {
            existing.notes++
            existing.resolved = false
            return new HelpdeskPort.CaseRef({ externalId: `case-${r.shipmentId}`, created: false })
          }
          cases.set(r.shipmentId, { notes: 1, resolved: false })
          return new HelpdeskPort.CaseRef({ externalId: `case-${r.shipmentId}`, created: true })
        },
        helpdeskError
      ),
    update: (r) =>
      cases.has(r.shipmentId)
        ? operation(
            "helpdesk",
            "update",
            r.key,
            r.shipmentId,
            () => {
              const c = cases.get(r.shipmentId)!
              c.notes++
              if (r.resolve) c.resolved = true
              return new HelpdeskPort.CaseRef({ externalId: `case-${r.shipmentId}`, created: false })
            },
            helpdeskError
          )
        : fail(helpdeskError, "update", "NotFound", `no case for shipment ${r.shipmentId}`, { status: 404 })
  }
  const notifier: Notifier.NotifierShape = {
    notify: (r) => operation("notifier", "notify", r.key, r.shipmentId, () => undefined, notifierError)
  }
  const finance: FinancePort.FinancePortShape = {
    releaseInvoice: (r) => operation("finance", "releaseInvoice", r.key, r.shipment.id, () => releaseInvoice(r.shipment), financeError),
    readPayment: (r) => Effect.succeed(r.invoice.paymentState)
  }

  return {
    erp,
    helpdesk,
    notifier,
    finance,
    effects,
    calls,
    rejected,
    invoices,
    cases,
    tracking,
    delivered,
    setFaults: (next) => {
      faults = next
    },
    layer: Layer.mergeAll(
      Layer.succeed(ErpPort.ErpPort, erp),
      Layer.succeed(HelpdeskPort.HelpdeskPort, helpdesk),
      Layer.succeed(Notifier.Notifier, notifier),
      Layer.succeed(FinancePort.FinancePort, finance)
    )
  }
}
