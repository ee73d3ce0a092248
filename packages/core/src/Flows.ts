/**
 * Flow rules: which business effects each milestone causes.
 *
 * Effects hang off milestones, never raw events, and every effect has a deterministic key, so
 * the store enqueues it at most once whatever the arrival order or redelivery. A withdrawn
 * milestone causes a compensating action (a note, a hold, a case), never a silent undo.
 *
 * Defaults (the seed scenario): dispatched → write tracking back to the ERP and notify the
 * customer; delivered → validate the delivery in the ERP, then the billing policy releases or
 * holds the invoice; an exception → open or enrich the shipment's service case; resolution or
 * delivery → update the case; a note on the ERP delivery for each business milestone. A problem
 * found once the invoice is released (its trigger or POD withdrawn, a weight out of tolerance
 * measured, the shipment sent back to the sender undelivered) opens or enriches the case instead,
 * and so does a delivery withdrawn after the customer was notified of it (support contacts the
 * customer; nothing is sent automatically).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ErpPort from "./ErpPort.js"
import * as HelpdeskPort from "./HelpdeskPort.js"
import type * as Ids from "./Ids.js"
import * as Construct from "./internal/construct.js"
import * as Instant from "./Instant.js"
import * as Milestone from "./Milestone.js"
import * as Notifier from "./Notifier.js"
import * as Privacy from "./Privacy.js"
import type * as Store from "./Store.js"
import type * as Shipment from "./Shipment.js"
import * as ShipmentRecord from "./ShipmentRecord.js"
import * as ShipmentState from "./ShipmentState.js"
import * as Status from "./Status.js"
import * as Weight from "./Weight.js"

/**
 * The billing policy.
 *
 * @since 0.1.0
 */
export class BillingPolicy extends Schema.Class<BillingPolicy>("BillingPolicy")({
  /**
   * Which system releases invoices: `finance` releases them through the `FinancePort`, whatever
   * `FlowConfig.targets.finance` says (the facade refuses `finance` without a finance port). A
   * host on `Dispatcher` without a `FinancePort` gets each release dead-lettered (`MissingPort`,
   * `Invalid`: "no FinancePort is wired"); wire the port and replay them. Before 0.2.0 such a
   * host had its invoices released in the ERP instead.
   */
  target: Schema.optionalWith(Schema.Literal("erp", "finance"), { default: () => "erp" }),
  /** The milestone that releases the invoice. */
  trigger: Schema.optionalWith(Schema.Literal("delivered", "pod", "dispatched"), { default: () => "delivered" }),
  /** Hold until a proof of delivery is received. */
  requirePod: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /**
   * Hold when the measured weight deviates from the declared weight by more than this (per mille).
   * For a shipment of several parcels (weighed one by one), only when it exceeds the declared weight;
   * never for a shipment declared at 0 g (no declared weight). A weight measured out of tolerance
   * after the invoice was released, and not covered by a `weight` approval, opens or enriches the
   * shipment's case (`helpdesk.openOrEnrich:weight:<event id>:<grams>`), once per measurement.
   */
  weightTolerancePerMille: Schema.optionalWith(Schema.NonNegativeInt, { exact: true }),
  /**
   * Hold while a damage exception is not cleared, until approved: a damage holds until the carrier
   * clears it (an `ExceptionCleared` covering `damaged`, at or after it) or a `damage` approval
   * covers it. A later movement scan (the delivery, a POD) does not end it for billing, though the
   * status shown moves on.
   */
  holdOnDamage: Schema.optionalWith(Schema.Boolean, { default: () => true })
}) {}

/**
 * Flow configuration. Every field has a default.
 *
 * @since 0.1.0
 */
export class FlowConfig extends Schema.Class<FlowConfig>("FlowConfig")({
  billing: Schema.optionalWith(BillingPolicy, { default: () => new BillingPolicy({}) }),
  /**
   * Milestones that get a note on the ERP delivery. By default only what the ERP would not show
   * otherwise: dispatch shows as the tracking number, delivery as the validated picking, and
   * exceptions go to the service case. (Invoice holds always get a note.)
   */
  notes: Schema.optionalWith(Schema.Array(Schema.Literal("dispatched", "delivered", "exceptions", "returns", "cancelled", "withdrawals")), {
    default: () => ["returns", "cancelled", "withdrawals"] as const
  }),
  /**
   * What the customer is notified of, each at most once (an exception once per exception event).
   * By default `dispatched`, `out_for_delivery`, `delivered` and `exception`; `returned` (the
   * shipment is back with the sender) only when listed. The customer is not told what is already
   * past or no longer theirs: `dispatched` and `out_for_delivery` once the shipment is delivered,
   * an exception resolved before it arrived, or one on a shipment cancelled or on its return track.
   */
  notify: Schema.optionalWith(Schema.Array(Notifier.Template), {
    default: () => ["dispatched", "out_for_delivery", "delivered", "exception"] as const
  }),
  /** Open and update service cases. */
  cases: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /**
   * Which far sides are wired; flows plan no case actions without a helpdesk and no customer
   * notices without a notifier. `finance` no longer decides anything (since 0.2.0): invoices are
   * released where `billing.target` says, wired or not.
   */
  targets: Schema.optionalWith(
    Schema.Struct({ helpdesk: Schema.Boolean, notifier: Schema.Boolean, finance: Schema.Boolean }),
    { default: () => ({ helpdesk: true, notifier: true, finance: false }) }
  ),
  privacy: Schema.optionalWith(
    Schema.Struct({ helpdesk: Privacy.Policy, notifier: Privacy.Policy, finance: Privacy.Policy }),
    { default: () => Privacy.defaults }
  )
}) {}

/**
 * An action to enqueue (the store adds times and attempts).
 *
 * @since 0.1.0
 */
export interface ActionDraft {
  readonly key: string
  readonly target: "erp" | "helpdesk" | "notifier" | "finance" | "carrier"
  readonly kind: ActionKind
  readonly payload: string
  readonly after?: string
}

/**
 * Every operation the dispatcher knows how to carry out.
 *
 * @since 0.1.0
 */
export type ActionKind =
  | "erp.writeTracking"
  | "erp.postNote"
  | "erp.validateDelivery"
  | "erp.releaseInvoice"
  | "finance.releaseInvoice"
  | "helpdesk.openOrEnrich"
  | "helpdesk.update"
  | "notifier.notify"

/**
 * The input of {@link plan}.
 *
 * @since 0.1.0
 */
export interface PlanInput {
  readonly config: FlowConfig
  readonly info: ShipmentRecord.ShipmentInfo
  readonly record: ShipmentRecord.ShipmentRecord
  readonly state: ShipmentState.ShipmentState
  readonly reached: ReadonlyArray<Milestone.Milestone>
  readonly retracted: ReadonlyArray<Milestone.MilestoneRetracted>
  readonly now: Instant.Instant
  /**
   * The id of the event whose application reached the milestones of `reached` (the pipeline
   * plans once per recorded event). The ERP note and the case update of a reached milestone are
   * keyed by it (`<milestone key>:<cause>`), so a milestone withdrawn and reached again gets a
   * note and an update of its own, while one reach still gets exactly one. Without it they are
   * keyed by the milestone alone (`<milestone key>`), once per shipment.
   *
   * @since 0.2.0
   */
  readonly cause?: Ids.EventId
  /**
   * Set when the planned event is another copy of an id seen before, with different content (a
   * `conflicting_duplicate`): its content fingerprint. The keys that `cause` names (reach notes,
   * case updates) and those of the withdrawals and case openings the copy itself causes then end
   * in `<event id>~<copy>`, so that a third copy reaching a milestone the second withdrew gets
   * its own note instead of one dropped as the first copy's.
   *
   * @since 0.2.0
   */
  readonly copy?: string
  /**
   * Whether this plan decides billing (default true). A commit that applies several events
   * plans each of them but settles billing once, on the last, over the final state: a damage
   * exception in the same webhook as the delivery holds the invoice instead of arriving after
   * its release.
   */
  readonly settleBilling?: boolean
  /**
   * The withdrawals the billing decision considers (default `retracted`): for a commit of
   * several events, those of milestones the shipment held before the commit.
   */
  readonly billingRetracted?: ReadonlyArray<Milestone.MilestoneRetracted>
  /**
   * Set when the plan follows a registration (no event) that brought the shipment's tracking
   * number: a shipment dispatched before it gets its tracking write-back now (the store enqueues
   * its key at most once).
   *
   * @since 0.2.0
   */
  readonly trackingRegistered?: boolean
}

/**
 * The plan: the new record and the actions to enqueue with it, plus hold reasons newly raised.
 *
 * @since 0.1.0
 */
export interface Plan {
  readonly record: ShipmentRecord.ShipmentRecord
  readonly actions: ReadonlyArray<ActionDraft>
  readonly newHolds: ReadonlyArray<ShipmentRecord.HoldReason>
  /**
   * Problems found after the invoice was released, each compensated through the shipment's case
   * (one entry per case action planned, so none when cases or the helpdesk are off).
   *
   * @since 0.2.0
   */
  readonly compensations: ReadonlyArray<Compensation>
}

/**
 * A problem found after the invoice was released, which the release cannot take back: the
 * reason (as the hold it would have raised before the release) and the key of the case action
 * that reports it. The store enqueues that key at most once, so a caller counting compensations
 * counts those among the keys a commit enqueued.
 *
 * @since 0.2.0
 */
export interface Compensation {
  readonly reason: Extract<
    ShipmentRecord.HoldReason,
    "weight_out_of_tolerance" | "milestone_withdrawn" | "cancelled" | "return_to_sender"
  >
  readonly key: string
}

/**
 * Payloads are serialized with `JSON.stringify`: for the request classes (no transformations
 * but instants, which serialize as the same ISO strings) it equals their Schema encoding and
 * costs a fraction of it. `Flows.test.ts` decodes every planned payload with its schema.
 */
const encoded = (value: unknown): any => JSON.parse(JSON.stringify(value))

const shipmentJsonCache = new WeakMap<object, string>()

/** A request payload made of the shipment (serialized once per shipment) and a few fields. */
const withShipment = (shipment: object, fields: Record<string, unknown>): string => {
  let json = shipmentJsonCache.get(shipment)
  if (json === undefined) {
    json = JSON.stringify(shipment)
    shipmentJsonCache.set(shipment, json)
  }
  return `{"shipment":${json},${JSON.stringify(fields).slice(1)}`
}

const nextActions: Record<Status.ExceptionKind, string> = {
  delayed: "watch the next scan; tell the customer if the promised date slips",
  failed_attempt: "arrange a new delivery attempt with the customer",
  damaged: "file a damage claim with the carrier and approve or credit the invoice",
  address_issue: "confirm the address with the customer and pass it to the carrier",
  customs_hold: "send the customs documents the carrier asks for",
  refused: "ask the customer why, then arrange the return",
  lost: "file a loss claim with the carrier and reship"
}

const triggerKey = (policy: BillingPolicy): string =>
  policy.trigger === "pod" ? "pod" : policy.trigger === "dispatched" ? "reached:dispatched" : "reached:delivered"

/**
 * The minimized case context for a shipment: personal data as `policy` (by default the
 * helpdesk's, {@link Privacy.defaults}) allows it.
 *
 * @since 0.1.0
 */
export const caseContext = (
  info: ShipmentRecord.ShipmentInfo,
  state: ShipmentState.ShipmentState,
  policy: Privacy.Policy = Privacy.defaults.helpdesk
): HelpdeskPort.CaseContext =>
  decodeCaseContext(Privacy.minimizeFresh(HelpdeskPort.CaseContext, caseContextEncoded(info, state), policy))

const decodeCaseContext = Schema.decodeSync(HelpdeskPort.CaseContext)

/** The encoded case context, built directly (the payload is stored encoded). */
const caseContextEncoded = (
  info: ShipmentRecord.ShipmentInfo,
  state: ShipmentState.ShipmentState
): typeof HelpdeskPort.CaseContext.Encoded => {
  const view = state.view
  const open = ShipmentState.openExceptions(view)
  const newest = open[open.length - 1]
  const customer = info.customer
  const shipment = info.shipment
  return {
    shipmentId: shipment.id,
    orderId: shipment.orderId,
    status: view.status,
    ...(view.progress !== undefined ? { progress: view.progress } : {}),
    ...(shipment.carrier !== undefined ? { carrier: shipment.carrier } : {}),
    ...(shipment.trackingNumber !== undefined ? { trackingNumber: shipment.trackingNumber } : {}),
    ...(view.lastScan?.location?.city !== undefined ? { lastCity: view.lastScan.location.city } : {}),
    ...(view.lastScan?.location?.country !== undefined ? { lastCountry: view.lastScan.location.country } : {}),
    ...(view.lastScan !== undefined ? { lastScanAt: Instant.formatIso(view.lastScan.at) } : {}),
    exceptions: view.exceptions.map((e) => ({
      kind: e.kind,
      at: Instant.formatIso(e.occurredAt),
      open: e.resolvedAt === undefined,
      code: e.raw.code
    })),
    ...(info.orderTotal !== undefined
      ? { invoiceExposure: { amountMinor: info.orderTotal.amountMinor, currency: info.orderTotal.currency } }
      : {}),
    nextAction:
      newest !== undefined ? nextActions[newest.kind] : view.status === "delivered" ? "none: delivered" : "none",
    ...(customer !== undefined ? { customerName: customer.name } : {}),
    ...(customer?.email !== undefined ? { customerEmail: customer.email } : {}),
    ...(customer?.phone !== undefined ? { customerPhone: customer.phone } : {}),
    shipToStreet: [shipment.shipTo.street, shipment.shipTo.street2].filter((x) => x !== undefined).join(", "),
    ...(shipment.shipTo.postalCode !== undefined ? { shipToPostalCode: shipment.shipTo.postalCode } : {}),
    shipToCity: shipment.shipTo.city,
    shipToCountry: shipment.shipTo.country
  }
}

const describe = (m: Milestone.Milestone): string => {
  switch (m._tag) {
    case "Reached":
      return `reached ${m.status.replace(/_/g, " ")}`
    case "PodReceived":
      return "proof of delivery received"
    case "ExceptionOpened":
      return `exception: ${m.kind.replace(/_/g, " ")}`
    case "ExceptionResolved":
      return `exception resolved: ${m.kind.replace(/_/g, " ")}`
    case "Cancelled":
      return "cancelled"
  }
}

const noteCategory = (m: Milestone.Milestone): FlowConfig["notes"][number] | undefined => {
  switch (m._tag) {
    case "Reached":
      return m.status === "dispatched"
        ? "dispatched"
        : m.status === "delivered"
          ? "delivered"
          : Status.isReturn(m.status)
            ? "returns"
            : undefined
    case "ExceptionOpened":
    case "ExceptionResolved":
      return "exceptions"
    case "Cancelled":
      return "cancelled"
    case "PodReceived":
      return undefined
  }
}

/**
 * Whether a measured weight is out of tolerance. Carriers weigh parcel by parcel, and an event
 * does not say which parcel it weighed: for a shipment of several parcels only a weight above the
 * whole declared weight (beyond the tolerance) is certainly wrong; a lighter one is one parcel.
 * A shipment declared at 0 g has no declared weight to compare with.
 */
const weightOff = (shipment: Shipment.Shipment, measured: Weight.Grams, perMille: number): boolean =>
  // No declared weight (Odoo sends 0 for a delivery whose products have none): nothing to compare.
  shipment.declaredWeight <= 0
    ? false
    : shipment.packages.length > 1
    ? (measured - shipment.declaredWeight) * 1000 > perMille * shipment.declaredWeight
    : Weight.exceedsTolerance(shipment.declaredWeight, measured, perMille)

/**
 * The holds the billing policy raises over a view whose trigger is reached: a missing POD, a
 * weight out of tolerance, a damage exception not cleared by the carrier, a return to the sender
 * before any delivery (each unless approved), a cancellation.
 */
const policyHolds = (
  policy: BillingPolicy,
  shipment: Shipment.Shipment,
  billing: ShipmentRecord.Billing,
  view: ShipmentState.ShipmentView
): Array<ShipmentRecord.HoldReason> => {
  const holds: Array<ShipmentRecord.HoldReason> = []
  if (policy.requirePod && !ShipmentState.has(view, "pod") && !ShipmentRecord.approves(billing, "pod", view)) holds.push("missing_pod")
  if (
    policy.weightTolerancePerMille !== undefined &&
    view.measuredWeight !== undefined &&
    weightOff(shipment, view.measuredWeight, policy.weightTolerancePerMille) &&
    !ShipmentRecord.approves(billing, "weight", view)
  ) {
    holds.push("weight_out_of_tolerance")
  }
  if (
    policy.holdOnDamage &&
    ShipmentState.unclearedDamage(view).length > 0 &&
    !ShipmentRecord.approves(billing, "damage", view)
  ) {
    holds.push("open_damage")
  }
  // Cancelled before its dispatch, yet the trigger was reached (the parcel moved although
  // cancelled: a `progress_after_cancel` anomaly): the order is not to be billed as is.
  if (view.cancelledAt !== undefined) holds.push("cancelled")
  // On its way back to the sender without having reached the customer (refused, undeliverable),
  // unless an operator approved the return.
  if (sentBack(view) !== undefined && !ShipmentRecord.approves(billing, "return", view)) holds.push("return_to_sender")
  return holds
}

/**
 * When the shipment went back to the sender without being delivered to the customer first: the
 * return track reached (`return_initiated`, reached by any return scan, or `returned`) and no
 * delivery before it (none, or only one at or after the return began). A return after a
 * delivery is the customer sending the goods back: the invoice stands, `undefined`. A function
 * of the milestones alone, so of the event set.
 */
const sentBack = (view: ShipmentState.ShipmentView): Instant.Instant | undefined => {
  let back: Instant.Instant | undefined
  let delivered: Instant.Instant | undefined
  for (const m of view.milestones) {
    if (m._tag !== "Reached") continue
    if (m.status === "return_initiated") back = m.at
    else if (m.status === "delivered") delivered = m.at
  }
  return back !== undefined && (delivered === undefined || Instant.toMillis(delivered) >= Instant.toMillis(back))
    ? back
    : undefined
}

/**
 * Whether a commit sends back to the sender, undelivered, a shipment whose invoice is released:
 * judged on the change (not sent back before, sent back after), so the case is planned whatever
 * milestone the commit reached or withdrew (a delivery before the return withdrawn, a return scan
 * dated before the delivery arriving late), and once per shipment by its key.
 */
const sentBackAfterRelease = (input: PlanInput): boolean =>
  input.record.billing.status === "released" &&
  sentBack(input.state.view) !== undefined &&
  sentBack(input.record.state.view) === undefined

/** Whether a commit changed the measured weight of a shipment whose invoice is released, under a tolerance. */
const remeasuredAfterRelease = (input: PlanInput): boolean =>
  input.config.billing.weightTolerancePerMille !== undefined &&
  input.record.billing.status === "released" &&
  input.state.view.measuredWeight !== input.record.state.view.measuredWeight

/**
 * Decides the effects of one commit: the milestones it reached and withdrew, and the billing
 * policy re-evaluated on the new state.
 *
 * @since 0.1.0
 */
export const plan = (input: PlanInput): Plan => {
  const { config, info, state, now } = input
  // Most events change no milestone (a second transit scan, a retransmission with new content):
  // with nothing reached or withdrawn and billing either settled or not triggered, there is
  // nothing to decide. (The full path below gives the same answer, at more cost.) A weight
  // measured after the release is the exception: it is judged below, whatever was reached.
  const settle = input.settleBilling ?? true
  // Dispatched before its tracking number was registered: the write-back waited for it.
  const lateTracking =
    input.trackingRegistered === true &&
    info.shipment.trackingNumber !== undefined &&
    ShipmentState.has(state.view, "reached:dispatched")
  if (
    input.reached.length === 0 && input.retracted.length === 0 && !remeasuredAfterRelease(input) && !lateTracking &&
    !sentBackAfterRelease(input)
  ) {
    const billing = input.record.billing
    if (
      !settle ||
      billing.status === "released" ||
      (billing.status === "waiting" &&
        !ShipmentState.has(state.view, triggerKey(config.billing)) &&
        (input.billingRetracted ?? []).length === 0)
    ) {
      return {
        record: Construct.trusted(ShipmentRecord.ShipmentRecord, { ...input.record, state }),
        actions: [],
        newHolds: [],
        compensations: []
      }
    }
  }
  const shipment = info.shipment
  const s = shipment.id
  const view = state.view
  const actions: Array<ActionDraft> = []
  let caseKey = input.record.caseKey
  const helpdesk = config.cases && config.targets.helpdesk
  const notifier = config.targets.notifier

  const note = (key: string, subject: string, body: string) =>
    actions.push({
      key: `${s}:erp.postNote:${key}`,
      target: "erp",
      kind: "erp.postNote",
      payload: withShipment(shipment, { key: `${s}:erp.postNote:${key}`, subject, body })
    })
  const notify = (template: Notifier.Template, keySuffix: string) => {
    if (!notifier || !config.notify.includes(template)) return
    const key = `${s}:notifier.notify:${keySuffix}`
    const customer = info.customer
    const request: typeof Notifier.Notify.Encoded = {
      key,
      companyId: shipment.companyId,
      shipmentId: s,
      template,
      ...(customer !== undefined ? { recipientName: customer.name } : {}),
      ...(customer?.email !== undefined ? { recipientEmail: customer.email } : {}),
      ...(customer?.phone !== undefined ? { recipientPhone: customer.phone } : {}),
      status: view.status,
      ...(shipment.carrier !== undefined ? { carrier: shipment.carrier } : {}),
      ...(shipment.trackingNumber !== undefined ? { trackingNumber: shipment.trackingNumber } : {}),
      at: Instant.formatIso(now)
    }
    actions.push({
      key,
      target: "notifier",
      kind: "notifier.notify",
      payload: JSON.stringify(Privacy.minimizeFresh(Notifier.Notify, request, config.privacy.notifier))
    })
  }
  const compensations: Array<Compensation> = []
  const openCase = (keySuffix: string, subject: string, text: string): string | undefined => {
    if (!helpdesk) return undefined
    const key = `${s}:helpdesk.openOrEnrich:${keySuffix}`
    const request: typeof HelpdeskPort.OpenCase.Encoded = {
      key,
      companyId: shipment.companyId,
      shipmentId: s,
      subject,
      note: text,
      context: caseContextEncoded(info, state)
    }
    actions.push({
      key,
      target: "helpdesk",
      kind: "helpdesk.openOrEnrich",
      payload: JSON.stringify(Privacy.minimizeFresh(HelpdeskPort.OpenCase, request, config.privacy.helpdesk)),
      ...(caseKey !== undefined ? { after: caseKey } : {})
    })
    caseKey ??= key
    return key
  }
  const updateCase = (keySuffix: string, text: string, resolve: boolean) => {
    if (!helpdesk || caseKey === undefined) return
    const key = `${s}:helpdesk.update:${keySuffix}`
    const request: typeof HelpdeskPort.UpdateCase.Encoded = {
      key,
      companyId: shipment.companyId,
      shipmentId: s,
      note: text,
      context: caseContextEncoded(info, state),
      resolve
    }
    actions.push({
      key,
      target: "helpdesk",
      kind: "helpdesk.update",
      payload: JSON.stringify(Privacy.minimizeFresh(HelpdeskPort.UpdateCase, request, config.privacy.helpdesk)),
      after: caseKey
    })
  }

  // An event id the planned copy names itself, decorated with the copy's fingerprint (see `copy`).
  const ofCopy = (eventId: string) => (input.copy !== undefined && eventId === input.cause ? `${eventId}~${input.copy}` : eventId)
  // A delivery reached in this plan updates (and, with nothing open, resolves) the case itself.
  const deliveredNow = input.reached.some((m) => m._tag === "Reached" && m.status === "delivered")
  const deliveredView = ShipmentState.has(view, "reached:delivered")
  // The note and the case update of a reach are keyed by the event that reached it: an event is
  // planned once, so one reach gets one of each, and a reach after a withdrawal gets its own
  // (the ERP's last note on a milestone must not be its withdrawal when it holds again).
  // Notifications stay once per milestone: a customer never hears of the same milestone twice.
  const byCause = (key: string) => (input.cause === undefined ? key : `${key}:${ofCopy(input.cause)}`)
  // A case that reports a problem with the released invoice (a compensation below: its trigger or
  // POD withdrawn, a weight out of tolerance measured after it, a cancellation dated before the
  // dispatch, a return to the sender undelivered) stays open while the problem holds: a delivery or a resolved exception adds its note
  // but does not close it, or support would never see what the invoice needs.
  const released = input.record.billing.status === "released"
  // A damage is left out: one still open keeps the case open anyway (`nothingOpen`), and one passed
  // by a movement but not cleared by the carrier has no milestone of its clearance to close the
  // case on, so counting it would leave the case open or closed by arrival order. It went to the
  // case when it opened; its billing hold is for the invoice, before the release.
  const invoiceAtOdds = () =>
    released &&
    (!ShipmentState.has(view, triggerKey(config.billing)) ||
      policyHolds(config.billing, shipment, input.record.billing, view).some((h) => h !== "open_damage"))
  const nothingOpen = () => ShipmentState.openExceptions(view).length === 0 && !invoiceAtOdds()
  const writeTracking = () => {
    if (shipment.trackingNumber === undefined) return
    const k = `${s}:erp.writeTracking`
    actions.push({
      key: k,
      target: "erp",
      kind: "erp.writeTracking",
      payload: withShipment(shipment, {
        key: k,
        carrier: shipment.carrier ?? "unknown",
        trackingNumber: shipment.trackingNumber
      })
    })
  }
  if (lateTracking) writeTracking()
  for (const m of input.reached) {
    const key = Milestone.key(m)
    const category = noteCategory(m)
    if (category !== undefined && config.notes.includes(category)) {
      note(byCause(key), `Shipment ${describe(m)}`, `${describe(m)} at ${Instant.formatIso(m.at)}`)
    }
    switch (m._tag) {
      case "Reached": {
        if (m.status === "dispatched") {
          writeTracking()
          // A dispatch or an out-for-delivery first seen once the shipment is delivered (the carrier's
          // delivery scan came first, or alone) is past: the customer hears of the delivery instead,
          // not "on its way" after (or with) "delivered".
          if (!deliveredView) notify("dispatched", "dispatched")
        } else if (m.status === "out_for_delivery") {
          if (!deliveredView) notify("out_for_delivery", "out_for_delivery")
        } else if (m.status === "delivered") {
          const k = `${s}:erp.validateDelivery`
          actions.push({
            key: k,
            target: "erp",
            kind: "erp.validateDelivery",
            payload: withShipment(shipment, {
              key: k,
              deliveredAt: Instant.formatIso(m.at),
              ...(view.pod !== undefined ? { pod: view.pod } : {})
            })
          })
          notify("delivered", "delivered")
          updateCase(byCause("delivered"), "The shipment was delivered.", nothingOpen())
        } else if (m.status === "returned") {
          // Only when the host lists it in `FlowConfig.notify` (not by default).
          notify("returned", "returned")
        }
        break
      }
      case "ExceptionOpened":
        // Reached by its own event, the opening is keyed by the exception (`<event id>`, once per
        // shipment). Reached by another event, the exception holds again after a withdrawal (say,
        // its retraction displaced by a conflicting copy of the retraction's id): the case that
        // withdrawal may have closed opens again under a key of its own, the exception's and the
        // cause's (`<event id>:<cause>`), not dropped as a key the first opening already took.
        openCase(
          input.cause === undefined || input.cause === m.eventId ? ofCopy(m.eventId) : `${m.eventId}:${ofCopy(input.cause)}`,
          `Shipment ${s}: ${m.kind.replace(/_/g, " ")}`,
          `${describe(m)} (${m.eventId})`
        )
        // The customer hears of an exception that is still open: one that arrives after the scans
        // that resolved it (a delay reported once the parcel moved on, or was delivered) is over,
        // and telling of it now would be false. Nor of one on a shipment cancelled or on its way
        // back to the sender: "a problem with your delivery" about a parcel that is not coming to
        // them misleads. Support still gets the case.
        if (
          view.cancelledAt === undefined &&
          view.returnProgress === undefined &&
          view.exceptions.some((e) => e.eventId === m.eventId && e.resolvedAt === undefined)
        ) {
          notify("exception", `exception:${m.eventId}`)
        }
        break
      case "ExceptionResolved":
        // The delivery closes the case when nothing is open; an exception resolved after it (a
        // damage cleared, or one reported late) must close it too, or the outcome would depend
        // on whether the delivery or the exception arrived first.
        updateCase(
          byCause(`resolved:${m.eventId}`),
          `${describe(m)} (${m.eventId})`,
          !deliveredNow && deliveredView && nothingOpen()
        )
        break
      default:
        break
    }
  }

  // A release rests on the trigger and, when the policy requires one, on the POD: withdrawing
  // either is checked through a case (one per withdrawal: the trigger's, when it takes both).
  const trigger = triggerKey(config.billing)
  const triggerWithdrawnBy = new Set(input.retracted.filter((r) => Milestone.key(r.milestone) === trigger).map((r) => r.cause))
  const releasedOn = (key: string, cause: Milestone.MilestoneRetracted["cause"]) =>
    released && (key === trigger || (config.billing.requirePod && key === "pod" && !triggerWithdrawnBy.has(cause)))
  // The customer was told of the delivery: `notify("delivered")` was planned when the shipment
  // reached it (in an earlier commit, or earlier in this one: the record this plan starts from is
  // the one after the previous event), under the conditions `notify` checks. Judged with today's
  // configuration, as `notify` would be.
  const toldDelivered =
    notifier && config.notify.includes("delivered") && ShipmentState.has(input.record.state.view, "reached:delivered")
  for (const r of input.retracted) {
    const key = Milestone.key(r.milestone)
    const by = ofCopy(r.cause)
    if (config.notes.includes("withdrawals")) {
      note(
        `withdrawn:${key}:${by}`,
        `Shipment milestone withdrawn: ${describe(r.milestone)}`,
        `${describe(r.milestone)} no longer holds (${r.reason} by ${r.cause})`
      )
    }
    // A withdrawn delivery the customer was notified of: the customer holds a false "delivered"
    // (they will call, or think the parcel stolen). Support is told through the case, to contact
    // them; nothing is sent to the customer automatically, as a second automatic message about a
    // mis-scan may confuse more than it helps (a host that wants one can send it from the case or
    // the audit). A withdrawn "out for delivery" is not reported: that message promises no
    // outcome, and the next milestone (a delivery, a failed attempt, an exception) is notified
    // anyway. Not a billing compensation: `compensations` (the invoice compensation counter) stays
    // for problems found after the invoice was released.
    const customerTold = key === "reached:delivered" && toldDelivered
    const customerNote =
      "The customer was notified that the parcel was delivered; the carrier has withdrawn that delivery. " +
      "Contact the customer: the parcel is not delivered."
    const invoiceReleased = releasedOn(key, r.cause)
    if (invoiceReleased || customerTold) {
      // One case action per withdrawal (the key is the withdrawal's), naming every fact it reports.
      const invoiceNote = `The invoice was released on "${describe(r.milestone)}", which was ${r.reason} by ${r.cause}. Check and credit if needed.`
      const opened = openCase(
        `withdrawn:${key}:${by}`,
        invoiceReleased
          ? `Shipment ${s}: invoice released on a withdrawn milestone${customerTold ? "; customer told it was delivered" : ""}`
          : `Shipment ${s}: customer told of a delivery the carrier withdrew`,
        invoiceReleased
          ? customerTold
            ? `${invoiceNote} ${customerNote}`
            : invoiceNote
          : `${customerNote} (${describe(r.milestone)}: ${r.reason} by ${r.cause})`
      )
      if (opened !== undefined && invoiceReleased) compensations.push({ reason: "milestone_withdrawn", key: opened })
    } else if (r.milestone._tag === "ExceptionOpened") {
      // As for a resolution: withdrawing the last open exception of a delivered shipment closes
      // the case, or the outcome would depend on whether the delivery or the withdrawal came last.
      updateCase(
        `withdrawn:${key}:${by}`,
        `The carrier withdrew: ${describe(r.milestone)}`,
        !deliveredNow && deliveredView && nothingOpen()
      )
    } else if (r.milestone._tag === "ExceptionResolved") {
      // The exception is open again: (re)open the case, which its resolution may have closed.
      const eventId = r.milestone.eventId
      if (ShipmentState.openExceptions(view).some((e) => e.eventId === eventId)) {
        openCase(
          `withdrawn:${key}:${by}`,
          `Shipment ${s}: ${r.milestone.kind.replace(/_/g, " ")} open again`,
          `The carrier withdrew: ${describe(r.milestone)} (${eventId})`
        )
      }
    }
  }

  // A weight measured after the release: the invoice stays released (release is never taken
  // back), and an out-of-tolerance weight the approvals do not cover goes to the case, as a
  // damage reported after the release does. Before the release the same weight holds instead:
  // which of the two happens depends on whether the release or the measurement came first.
  // Keyed by the event that carries the measurement and its weight, so a redelivery, or the
  // same measurement holding again after a newer one was withdrawn, never opens it twice.
  const measured = view.measuredWeight
  const tolerance = config.billing.weightTolerancePerMille
  if (
    remeasuredAfterRelease(input) &&
    tolerance !== undefined &&
    measured !== undefined &&
    weightOff(shipment, measured, tolerance) &&
    !ShipmentRecord.approves(input.record.billing, "weight", view)
  ) {
    const weighed = view.measuredBy
    const declared = shipment.declaredWeight
    const parcels = shipment.packages.length
    const figures = parcels > 1
      ? `A parcel weighed ${measured} g, more than the ${declared} g declared for all ${parcels} parcels`
      : `The carrier measured ${measured} g against ${declared} g declared (${measured > declared ? "+" : "−"}${Math.abs(measured - declared)} g)`
    const opened = openCase(
      weighed !== undefined ? `weight:${weighed}:${measured}` : `weight:${measured}`,
      `Shipment ${s}: weight out of tolerance after the invoice was released`,
      `${figures}, beyond the tolerance of ${tolerance} ‰${weighed !== undefined ? ` (event ${weighed})` : ""}. ` +
        (measured > declared
          ? "The invoice was released before this measurement: expect a carrier surcharge, and bill the difference if the terms allow."
          : "The invoice was released before this measurement: check whether it bills too much weight and credit if needed.")
    )
    if (opened !== undefined) compensations.push({ reason: "weight_out_of_tolerance", key: opened })
  }

  // A cancellation reached once the invoice is released (dated before the dispatch scan that
  // released it, and arriving after it): the release is not taken back; support checks it, as
  // for a withdrawn trigger. Before the release the same cancellation holds the invoice instead.
  if (released) {
    const cancelled = input.reached.find((m) => m._tag === "Cancelled")
    if (cancelled !== undefined) {
      const opened = openCase(
        byCause("cancelled"),
        `Shipment ${s}: invoice released for a cancelled shipment`,
        `The shipment was cancelled at ${Instant.formatIso(cancelled.at)}, before its dispatch, and the invoice was ` +
          "released. Check whether the parcel moved anyway and credit the invoice if needed."
      )
      if (opened !== undefined) compensations.push({ reason: "cancelled", key: opened })
    }
  }

  // Sent back to the sender, undelivered, once the invoice is released (on the dispatch, say, then
  // refused at the door): the release is not taken back; support checks it and credits, once per
  // shipment. Before the release the same return holds the invoice instead (`return_to_sender`).
  // A return after a delivery (the customer sends the goods back) is neither: the invoice stands.
  if (sentBackAfterRelease(input)) {
    const back = sentBack(view)!
    const opened = openCase(
      "return_to_sender",
      `Shipment ${s}: invoice released for a shipment sent back undelivered`,
      `The shipment is going back to the sender since ${Instant.formatIso(back)} without having been delivered to the ` +
        "customer (refused or undeliverable), and the invoice was released. Check and credit the invoice if needed."
    )
    if (opened !== undefined) compensations.push({ reason: "return_to_sender", key: opened })
  }

  // Billing: released once; otherwise re-evaluated on every commit.
  let billing = input.record.billing
  let newHolds: Array<ShipmentRecord.HoldReason> = []
  if (settle && billing.status !== "released") {
    const policy = config.billing
    const wasTriggered = (input.billingRetracted ?? input.retracted).some((r) => Milestone.key(r.milestone) === triggerKey(policy))
    if (ShipmentState.has(view, triggerKey(policy))) {
      const holds = policyHolds(policy, shipment, billing, view)
      if (holds.length === 0) {
        // The billing target is the host's explicit choice, wired or not: without a finance port
        // the release is dead-lettered (`MissingPort`, replayable once the port is wired), never
        // made in the ERP instead (an invoice the finance system would issue again).
        const target = policy.target
        const k = `${s}:${target}.releaseInvoice`
        const request = new ErpPort.ReleaseInvoice({ key: ErpPort.IdempotencyKey.make(k), shipment }, true)
        const validated = deliveredView && target === "erp"
        actions.push({
          key: k,
          target,
          kind: target === "finance" ? "finance.releaseInvoice" : "erp.releaseInvoice",
          payload:
            target === "finance"
              ? JSON.stringify(Privacy.minimizeFresh(ErpPort.ReleaseInvoice, encoded(request), config.privacy.finance))
              : withShipment(shipment, { key: k }),
          ...(validated ? { after: `${s}:erp.validateDelivery` } : {})
        })
        billing = Construct.trusted(ShipmentRecord.Billing, { ...billing, status: "released", holds: [] })
      } else {
        newHolds = holds.filter((h) => !billing.holds.includes(h))
        billing = Construct.trusted(ShipmentRecord.Billing, { ...billing, status: "held", holds })
      }
    } else if (wasTriggered) {
      newHolds = billing.holds.includes("milestone_withdrawn") ? [] : ["milestone_withdrawn"]
      billing = Construct.trusted(ShipmentRecord.Billing, { ...billing, status: "held", holds: ["milestone_withdrawn"] })
    } else if (billing.status === "held" && billing.holds.includes("milestone_withdrawn")) {
      // stays held until the trigger is reached again
    } else {
      billing = Construct.trusted(ShipmentRecord.Billing, { ...billing, status: "waiting", holds: [] })
    }
    // Every hold raised gets its note, the withdrawn trigger's too: the ERP must show why an
    // invoice is not released (the withdrawal's own note is optional, `FlowConfig.notes`).
    for (const h of newHolds) note(`hold:${h}`, `Invoice held: ${h.replace(/_/g, " ")}`, `The invoice is held: ${h}.`)
  }

  return {
    record: Construct.trusted(ShipmentRecord.ShipmentRecord, { ...input.record, state, billing, ...(caseKey !== undefined ? { caseKey } : {}) }),
    actions,
    newHolds,
    compensations
  }
}

/**
 * The store form of planned actions.
 *
 * @since 0.1.0
 */
export const toOutbox = (shipmentId: string, drafts: ReadonlyArray<ActionDraft>, now: number): Array<Store.OutboxAction> =>
  drafts.map((d) => ({
    key: d.key,
    shipmentId,
    target: d.target,
    kind: d.kind,
    payload: d.payload,
    createdAt: now,
    availableAt: now,
    attempts: 0,
    ...(d.after !== undefined ? { after: d.after } : {})
  }))
