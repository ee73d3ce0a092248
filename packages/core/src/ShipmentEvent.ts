/**
 * What carriers, warehouses and transport systems report about a shipment, in canonical form.
 *
 * Four kinds of event, one `Schema.TaggedClass` each:
 * - `StatusReported`: a forward, return, cancellation or `unknown` status scan;
 * - `ExceptionReported`: an exception (delay, failed attempt, damage, …) over the progress;
 * - `ExceptionCleared`: the source says a problem is resolved ("problem resolved" scans);
 * - `Retraction`: the source withdraws earlier events (a mis-scanned "delivered").
 *
 * Every event keeps the vendor's raw code. Adapters produce these; the state machine consumes
 * them.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Pii from "./Pii.js"
import * as Status from "./Status.js"
import * as Construct from "./internal/construct.js"
import * as Weight from "./Weight.js"

/**
 * The system an event came from, e.g. `easypost`, `wms:acme`, `odoo`.
 *
 * @since 0.1.0
 */
export const Source = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9._:-]{0,63}$/, {
    message: () => "a source is 1-64 lower-case letters, digits or . _ : - (e.g. easypost, wms:acme)"
  })
).annotations({
  identifier: "Source",
  arbitrary: () => (fc) => fc.constantFrom("easypost", "aftership", "wms:acme", "dhl", "odoo")
})

/**
 * The vendor's own code for the event, kept verbatim next to the canonical meaning. `code` and
 * `detail` are the vendor's codes; `description` is the vendor's free text ("Left with
 * neighbour J. Smith at no. 12"), which may name or locate a person: it is personal data
 * (`free_text`), dropped by every default privacy policy.
 *
 * @since 0.1.0
 */
export class RawCode extends Schema.Class<RawCode>("RawCode")({
  code: Schema.String.pipe(Schema.maxLength(200, { message: () => "a raw code must be at most 200 characters" })),
  detail: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(200)), { exact: true }),
  description: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(2000)).pipe(Pii.pii("free_text")), {
    exact: true
  })
}) {}

/**
 * Where a scan happened. `city`, `region` and `country` are structured and kept; `postalCode`
 * is personal data. `facility` is a depot or hub name for most sources, but adapters fill it
 * from the vendor's free-text location when nothing structured is given, and for a delivery
 * scan that text can be the consignee's street address: it is personal data (`free_text`) too.
 *
 * @since 0.1.0
 */
export class Location extends Schema.Class<Location>("Location")({
  facility: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(200)).pipe(Pii.pii("free_text")), {
    exact: true
  }),
  city: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(120)), { exact: true }),
  region: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(120)), { exact: true }),
  postalCode: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(20)).pipe(Pii.pii("postal_code")), {
    exact: true
  }),
  country: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[A-Z]{2}$/, { message: () => "a country is an ISO 3166-1 alpha-2 code" })),
    { exact: true }
  )
}) {}

/**
 * Proof of delivery: who signed, and where the evidence is kept.
 *
 * @since 0.1.0
 */
export class ProofOfDelivery extends Schema.Class<ProofOfDelivery>("ProofOfDelivery")({
  signedBy: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(200)).pipe(Pii.pii("name")), { exact: true }),
  evidenceUrl: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(2000)).pipe(Pii.pii("signature")), {
    exact: true
  })
}) {}

const common = {
  id: Ids.EventId,
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  source: Source,
  occurredAt: Instant.Instant,
  receivedAt: Instant.Instant,
  raw: RawCode
}

/**
 * A status scan. `cancelled` is valid only before dispatch; `unknown` keeps an unmapped code.
 *
 * @since 0.1.0
 */
export class StatusReported extends Schema.TaggedClass<StatusReported>()("StatusReported", {
  ...common,
  status: Status.ReportedStatus,
  location: Schema.optionalWith(Location, { exact: true }),
  pod: Schema.optionalWith(ProofOfDelivery, { exact: true }),
  weight: Schema.optionalWith(Weight.Grams, { exact: true })
}) {}

/**
 * An exception over the forward progress.
 *
 * @since 0.1.0
 */
export class ExceptionReported extends Schema.TaggedClass<ExceptionReported>()("ExceptionReported", {
  ...common,
  kind: Status.ExceptionKind,
  location: Schema.optionalWith(Location, { exact: true })
}) {}

/**
 * The source declares open exceptions of the given kinds (all kinds when omitted) resolved as
 * of `occurredAt`.
 *
 * @since 0.1.0
 */
export class ExceptionCleared extends Schema.TaggedClass<ExceptionCleared>()("ExceptionCleared", {
  ...common,
  kinds: Schema.optionalWith(Schema.NonEmptyArray(Status.ExceptionKind), { exact: true })
}) {}

/**
 * The source withdraws earlier events (a mis-scan). The state is computed as if the named
 * events had never been reported; milestones that disappear are reported as retracted.
 * A retraction cannot retract another retraction.
 *
 * @since 0.1.0
 */
export class Retraction extends Schema.TaggedClass<Retraction>()("Retraction", {
  ...common,
  retracts: Schema.NonEmptyArray(Ids.EventId).pipe(Schema.maxItems(100))
}) {}

/**
 * Any canonical shipment event.
 *
 * @since 0.1.0
 */
export const ShipmentEvent = Schema.Union(StatusReported, ExceptionReported, ExceptionCleared, Retraction).annotations({
  identifier: "ShipmentEvent"
})

/** @since 0.1.0 */
export type ShipmentEvent = typeof ShipmentEvent.Type

/** @since 0.1.0 */
export type Encoded = typeof ShipmentEvent.Encoded

/**
 * An event as an adapter produces it, before it is routed to a shipment: every field of the
 * canonical event but `shipmentId` and `companyId`, which the runtime fills in.
 *
 * @since 0.1.0
 */
export const Draft = Schema.Union(
  Schema.Struct(StatusReported.fields).omit("shipmentId", "companyId"),
  Schema.Struct(ExceptionReported.fields).omit("shipmentId", "companyId"),
  Schema.Struct(ExceptionCleared.fields).omit("shipmentId", "companyId"),
  Schema.Struct(Retraction.fields).omit("shipmentId", "companyId")
).annotations({ identifier: "ShipmentEventDraft" })

/** @since 0.1.0 */
export type Draft = typeof Draft.Type

/**
 * Routes a draft to its shipment.
 *
 * @since 0.1.0
 */
export const fromDraft = (draft: Draft, shipmentId: Ids.ShipmentId, companyId: Ids.CompanyId): ShipmentEvent => {
  // What `new StatusReported({ ...draft, shipmentId, companyId }, true)` makes, without the
  // constructor's copies (this runs once per ingested event).
  const ids = { shipmentId, companyId }
  switch (draft._tag) {
    case "StatusReported":
      return Construct.trustedTagged(StatusReported, draft._tag, draft, ids)
    case "ExceptionReported":
      return Construct.trustedTagged(ExceptionReported, draft._tag, draft, ids)
    case "ExceptionCleared":
      return Construct.trustedTagged(ExceptionCleared, draft._tag, draft, ids)
    case "Retraction":
      return Construct.trustedTagged(Retraction, draft._tag, draft, ids)
  }
}
