/**
 * What the runtime stores per shipment: the state machine's state plus the business state the
 * flows need (billing decision, whether a case is open), and the reference data it works with
 * (the shipment entity and the order's customer).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Money from "./Money.js"
import * as Party from "./Party.js"
import * as Shipment from "./Shipment.js"
import * as ShipmentState from "./ShipmentState.js"

/**
 * Why an invoice is held.
 *
 * - `missing_pod`: the policy requires a proof of delivery and none was received;
 * - `weight_out_of_tolerance`: the measured weight deviates from the declared one beyond the tolerance;
 * - `open_damage`: a damage exception awaits an explicit approval;
 * - `milestone_withdrawn`: the trigger milestone was reached and then withdrawn.
 *
 * @since 0.1.0
 */
export const HoldReason = Schema.Literal("missing_pod", "weight_out_of_tolerance", "open_damage", "milestone_withdrawn")
/** @since 0.1.0 */
export type HoldReason = typeof HoldReason.Type

/**
 * Holds an operator can approve.
 *
 * @since 0.1.0
 */
export const Approval = Schema.Literal("damage", "weight", "pod")
/** @since 0.1.0 */
export type Approval = typeof Approval.Type

/**
 * The billing decision: waiting for the trigger milestone, held (with reasons), or released
 * (once, never taken back; later problems are compensated through a case).
 *
 * @since 0.1.0
 */
export class Billing extends Schema.Class<Billing>("Billing")({
  status: Schema.Literal("waiting", "held", "released"),
  holds: Schema.Array(HoldReason),
  approvals: Schema.Array(Approval)
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
