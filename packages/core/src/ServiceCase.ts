/**
 * Helpdesk cases, one per shipment, opened or enriched by exceptions.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Pii from "./Pii.js"
import * as Status from "./Status.js"

/**
 * Where a case stands.
 *
 * @since 0.1.0
 */
export const CaseStatus = Schema.Literal("open", "pending", "resolved")
/** @since 0.1.0 */
export type CaseStatus = typeof CaseStatus.Type

/**
 * A service case about one shipment. The summary is free text and may carry personal data.
 *
 * @since 0.1.0
 */
export class ServiceCase extends Schema.Class<ServiceCase>("ServiceCase")({
  id: Ids.CaseId,
  companyId: Ids.CompanyId,
  shipmentId: Ids.ShipmentId,
  refs: ExternalRefs.ExternalRefs,
  status: CaseStatus,
  subject: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)),
  summary: Schema.String.pipe(Schema.maxLength(20_000)).pipe(Pii.pii("free_text")),
  exceptionKinds: Schema.Array(Status.ExceptionKind),
  openedAt: Instant.Instant,
  updatedAt: Instant.Instant
}) {}
