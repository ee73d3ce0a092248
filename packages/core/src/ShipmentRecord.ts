/**
 * What the runtime stores per shipment: the state machine's state plus the business state the
 * flows need (billing decision, whether a case is open), and the reference data it works with
 * (the shipment entity and the order's customer).
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as FastDecode from "./internal/fastDecode.js"
import * as Money from "./Money.js"
import * as Party from "./Party.js"
import * as Shipment from "./Shipment.js"
import * as ShipmentEvent from "./ShipmentEvent.js"
import * as ShipmentState from "./ShipmentState.js"
import * as Weight from "./Weight.js"

/**
 * Why an invoice is held.
 *
 * - `missing_pod`: the policy requires a proof of delivery and none was received;
 * - `weight_out_of_tolerance`: the measured weight deviates from the declared one beyond the tolerance;
 * - `open_damage`: a damage exception the carrier has not cleared (an `ExceptionCleared` covering
 *   it) awaits an explicit approval; a later movement scan (the delivery itself) does not end it
 *   ({@link ShipmentState.unclearedDamage});
 * - `milestone_withdrawn`: the trigger milestone was reached and then withdrawn;
 * - `cancelled`: the shipment was validly cancelled (before its dispatch), yet the trigger was
 *   reached (the parcel moved although cancelled); held while the cancellation holds (@since 0.2.0);
 * - `return_to_sender`: the shipment is on its way back to the sender (`return_initiated` or
 *   `returned`) with no delivery to the customer before the return (refused, undeliverable); held
 *   while that holds, unless an operator approves the return (`return`: the customer received the
 *   goods after all, or pays anyway). A return after a delivery (the customer sends the goods
 *   back) is not billing's concern and holds nothing (@since 0.2.0).
 *
 * @since 0.1.0
 */
export const HoldReason = Schema.Literal(
  "missing_pod",
  "weight_out_of_tolerance",
  "open_damage",
  "milestone_withdrawn",
  "cancelled",
  "return_to_sender"
)
/** @since 0.1.0 */
export type HoldReason = typeof HoldReason.Type

/**
 * Holds an operator can approve: `damage` (`open_damage`), `weight` (`weight_out_of_tolerance`),
 * `pod` (`missing_pod`), `return` (`return_to_sender`, @since 0.2.0: a shipment has one return
 * track, so the approval covers it whatever return scans arrive later).
 *
 * @since 0.1.0
 */
export const Approval = Schema.Literal("damage", "weight", "pod", "return")
/** @since 0.1.0 */
export type Approval = typeof Approval.Type

/**
 * The hold each approval lifts. An approval counts only against its hold while raised: approving
 * before the hold exists does not wave through a later one (a damage reported afterwards).
 *
 * @since 0.2.0
 */
export const approvedHold: Readonly<Record<Approval, HoldReason>> = {
  damage: "open_damage",
  weight: "weight_out_of_tolerance",
  pod: "missing_pod",
  return: "return_to_sender"
}

/**
 * Whether a billing's approvals cover a shipment's view for one hold: `damage` every damage
 * exception not cleared by the carrier ({@link ShipmentState.unclearedDamage}: those it was given
 * for), `weight` the measured weight (one of those it accepted), `pod` the missing proof of
 * delivery, `return` the shipment's return to the sender.
 *
 * @since 0.2.0
 */
export const approves = (billing: Billing, approval: Approval, view: ShipmentState.ShipmentView): boolean => {
  if (!billing.approvals.includes(approval)) return false
  switch (approval) {
    case "pod":
    case "return":
      return true
    case "weight":
      return (
        billing.approvedWeights === undefined ||
        (view.measuredWeight !== undefined && billing.approvedWeights.includes(view.measuredWeight))
      )
    case "damage": {
      const covered = billing.approvedDamage
      if (covered === undefined) return true
      for (const e of ShipmentState.unclearedDamage(view)) if (!covered.includes(e.eventId)) return false
      return true
    }
  }
}

/**
 * A billing with an approval given over a shipment's view: it records what the approval covers
 * (the damage exceptions not cleared, which hold the invoice; the measured weight), so a later
 * damage or another weight holds again.
 *
 * @since 0.2.0
 */
export const approve = (billing: Billing, approval: Approval, view: ShipmentState.ShipmentView): Billing => {
  const approvals = billing.approvals.includes(approval) ? billing.approvals : [...billing.approvals, approval]
  switch (approval) {
    case "pod":
    case "return":
      return new Billing({ ...billing, approvals }, true)
    case "weight": {
      // Each weight approved stays approved: a later approval of a re-weigh adds its weight, so
      // the measurement coming back to an approved one (the re-weigh withdrawn) holds no more.
      const { approvedWeights: before = [], ...rest } = billing
      const measured = view.measuredWeight
      const weights = measured === undefined || before.includes(measured) ? before : [...before, measured]
      return new Billing({ ...rest, approvals, ...(weights.length > 0 ? { approvedWeights: weights } : {}) }, true)
    }
    case "damage": {
      const covered = new Set(billing.approvedDamage ?? [])
      for (const e of ShipmentState.unclearedDamage(view)) covered.add(e.eventId)
      return new Billing({ ...billing, approvals, approvedDamage: [...covered] }, true)
    }
  }
}

/**
 * The billing decision: waiting for the trigger milestone, held (with reasons), or released
 * (once, never taken back; later problems are compensated through a case).
 *
 * @since 0.1.0
 */
export class Billing extends Schema.Class<Billing>("Billing")({
  status: Schema.Literal("waiting", "held", "released"),
  holds: Schema.Array(HoldReason),
  approvals: Schema.Array(Approval),
  /**
   * What a `damage` approval covered: the damage exceptions (event ids) not cleared by the carrier
   * when it was given (open, or passed by a later movement scan: both hold the invoice).
   * A damage reported afterwards holds the invoice again, until approved in turn. Absent on a
   * record written before 0.2.0, whose damage approval covers every damage.
   *
   * @since 0.2.0
   */
  approvedDamage: Schema.optionalWith(Schema.Array(Ids.EventId), { exact: true }),
  /**
   * Every weight a `weight` approval accepted (the measured weight when each was given): another
   * measurement out of tolerance holds the invoice again, and a re-weigh approved in turn and
   * then withdrawn leaves the measurement at a weight approved before, which holds no more.
   * Absent on a record written before 0.2.0, whose weight approval covers any measurement.
   *
   * @since 0.2.0
   */
  approvedWeights: Schema.optionalWith(Schema.Array(Weight.Grams), { exact: true })
}) {
  /** @since 0.1.0 */
  static readonly initial: Billing = new Billing({ status: "waiting", holds: [], approvals: [] })
}

/**
 * The stored record of one shipment.
 *
 * @since 0.1.0
 */
export class ShipmentRecord extends Schema.Class<ShipmentRecord>("ShipmentRecord")({
  state: ShipmentState.ShipmentState,
  billing: Billing,
  /** The key of the action that opened the shipment's case; later case actions run after it. */
  caseKey: Schema.optionalWith(Schema.String, { exact: true }),
  /**
   * The fingerprint of the reference data (`ShipmentInfo`) the last registration stored, written
   * with it (`Pipeline.register`). A process whose cached reference data has another fingerprint
   * reads it again before planning, so a registration made by another process (a label bought,
   * an address or weight corrected) reaches every process's next commit. Absent on records
   * written by earlier versions until their next registration.
   *
   * @since 0.2.0
   */
  reference: Schema.optionalWith(Schema.String, { exact: true }),
  /** The head of the shipment's audit stream, continued by the next commit. */
  audit: Schema.Struct({ seq: Schema.NonNegativeInt, hash: Schema.String })
}) {}

/**
 * Reference data about a shipment: the entity and what the order says about the customer.
 *
 * @since 0.1.0
 */
export class ShipmentInfo extends Schema.Class<ShipmentInfo>("ShipmentInfo")({
  shipment: Shipment.Shipment,
  customer: Schema.optionalWith(Party.Party, { exact: true }),
  orderTotal: Schema.optionalWith(Money.Money, { exact: true })
}) {}

// -------------------------------------------------------------------------------------------
// stored form
// -------------------------------------------------------------------------------------------

/**
 * The stored form of a record written by 0.1: the event set inside the record, not the derived
 * view (which is rebuilt on load). Still read; 0.2 writes {@link StoredHead}.
 *
 * @since 0.1.0
 */
export const Stored = Schema.Struct({
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  events: Schema.Array(ShipmentEvent.ShipmentEvent),
  variants: Schema.Array(ShipmentEvent.ShipmentEvent),
  billing: Billing,
  caseKey: Schema.optionalWith(Schema.String, { exact: true }),
  audit: Schema.Struct({ seq: Schema.NonNegativeInt, hash: Schema.String })
}).annotations({ identifier: "StoredShipmentRecord" })

/**
 * The JSON of an encoded event: `JSON.stringify(event)`, which equals its Schema encoding
 * (instants serialize as ISO strings, classes as their fields); `Model.test.ts` checks both for
 * arbitrary events. The instants are written by `Instant.formatIso` rather than through
 * `DateTime#toJSON` (a callback and a `Date` each): the same string in about two thirds of the
 * time. Not cached: it is written once per event, and a `WeakMap` entry for every event held
 * costs the garbage collector more than it saves.
 *
 * @since 0.1.0
 */
export const eventJson = (event: ShipmentEvent.ShipmentEvent): string => {
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(event)) {
    const value = (event as unknown as Record<string, unknown>)[key]
    copy[key] = DateTime.isDateTime(value) ? Instant.formatIso(value as Instant.Instant) : value
  }
  return JSON.stringify(copy)
}


/**
 * The stored form of a record since 0.2: the business state and the number of events the state
 * holds. The events themselves are the first `eventCount` entries of the shipment's event log
 * (`Store.events`), which every commit appends to in the same step, so a commit writes only its
 * new events, whatever the length of the history.
 *
 * @since 0.2.0
 */
export const StoredHead = Schema.Struct({
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  eventCount: Schema.NonNegativeInt,
  billing: Billing,
  caseKey: Schema.optionalWith(Schema.String, { exact: true }),
  reference: Schema.optionalWith(Schema.String, { exact: true }),
  audit: Schema.Struct({ seq: Schema.NonNegativeInt, hash: Schema.String })
}).annotations({ identifier: "StoredShipmentRecordHead" })

/**
 * Serializes a record for the store ({@link StoredHead}): everything but the events, which the
 * store keeps in the shipment's event log.
 *
 * @since 0.1.0
 */
export const toJson = (record: ShipmentRecord): string => {
  const state = record.state
  return (
    `{"shipmentId":${JSON.stringify(state.shipmentId)},"companyId":${JSON.stringify(state.companyId)},` +
    `"eventCount":${state.events.length + state.variants.length},` +
    `"billing":${JSON.stringify(record.billing)},` +
    (record.caseKey !== undefined ? `"caseKey":${JSON.stringify(record.caseKey)},` : "") +
    (record.reference !== undefined ? `"reference":${JSON.stringify(record.reference)},` : "") +
    `"audit":${JSON.stringify(record.audit)}}`
  )
}

const decodeStored = Schema.decodeUnknownEither(Stored)
const decodeHead = Schema.decodeUnknownEither(StoredHead)
/** The log is read back on every cache miss: the fast decoder (Schema-exact results). */
const decodeEvent = FastDecode.decodeEvent

/**
 * Reads a record from its stored JSON and the shipment's event log (the bodies `Store.events`
 * returns, in order), rebuilding the state from the first `eventCount` events. A record stored
 * by 0.1 (events inside the record) needs no log.
 *
 * @since 0.1.0
 */
export const fromJson = (
  json: string,
  log: ReadonlyArray<string> = []
): Either.Either<ShipmentRecord, ParseResult.ParseError | Error> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (e) {
    return Either.left(e instanceof Error ? e : new Error(String(e)))
  }
  if (typeof parsed === "object" && parsed !== null && "events" in parsed) {
    return Either.map(
      decodeStored(parsed),
      (stored) =>
        new ShipmentRecord(
          {
            state: ShipmentState.restore(stored.shipmentId, stored.companyId, stored.events, stored.variants),
            billing: stored.billing,
            ...(stored.caseKey !== undefined ? { caseKey: stored.caseKey } : {}),
            audit: stored.audit
          },
          true
        )
    )
  }
  return Either.flatMap(decodeHead(parsed), (head): Either.Either<ShipmentRecord, ParseResult.ParseError | Error> => {
    if (log.length < head.eventCount) {
      return Either.left(new Error(`the record names ${head.eventCount} events but the event log holds ${log.length}`))
    }
    const events: Array<ShipmentEvent.ShipmentEvent> = []
    for (let i = 0; i < head.eventCount; i++) {
      let body: unknown
      try {
        body = JSON.parse(log[i]!)
      } catch (e) {
        return Either.left(new Error(`event ${i} of the log is not JSON: ${e instanceof Error ? e.message : String(e)}`))
      }
      const event = decodeEvent(body)
      if (Either.isLeft(event)) return Either.left(event.left)
      events.push(event.right)
    }
    return Either.right(
      new ShipmentRecord(
        {
          state: ShipmentState.fold(head.shipmentId, head.companyId, events),
          billing: head.billing,
          ...(head.caseKey !== undefined ? { caseKey: head.caseKey } : {}),
          ...(head.reference !== undefined ? { reference: head.reference } : {}),
          audit: head.audit
        },
        true
      )
    )
  })
}
