/**
 * Small builders for hand-written event sequences in tests.
 */
import { ErpPort, Ids, Instant, Shipment, ShipmentEvent, Status, Weight } from "../src/index.js"
import { Histories } from "../src/testing/index.js"

export const shipmentId = Ids.ShipmentId.make("shp-1")
export const companyId = Ids.CompanyId.make("co-1")

/** Minutes after 2024-07-01T08:00Z. */
export const t = (minutes: number) => Instant.fromMillis(Date.UTC(2024, 6, 1, 8, 0) + minutes * 60_000)

const common = (id: string, minutes: number, code: string) => ({
  id: Ids.EventId.make(id),
  shipmentId,
  companyId,
  source: "carrier",
  occurredAt: t(minutes),
  receivedAt: t(minutes + 5),
  raw: new ShipmentEvent.RawCode({ code })
})

export const scan = (
  id: string,
  status: Status.ReportedStatus,
  minutes: number,
  extra: { readonly pod?: boolean; readonly city?: string } = {}
) =>
  new ShipmentEvent.StatusReported({
    ...common(id, minutes, status.toUpperCase()),
    status,
    ...(extra.pod === true ? { pod: new ShipmentEvent.ProofOfDelivery({ signedBy: "M. MUSTER" }) } : {}),
    ...(extra.city !== undefined ? { location: new ShipmentEvent.Location({ city: extra.city }) } : {})
  })

export const exception = (id: string, kind: Status.ExceptionKind, minutes: number) =>
  new ShipmentEvent.ExceptionReported({ ...common(id, minutes, kind.toUpperCase()), kind })

export const cleared = (id: string, minutes: number, kinds?: readonly [Status.ExceptionKind, ...Array<Status.ExceptionKind>]) =>
  new ShipmentEvent.ExceptionCleared({ ...common(id, minutes, "CLEARED"), ...(kinds !== undefined ? { kinds } : {}) })

export const retraction = (id: string, minutes: number, ...targets: readonly [string, ...Array<string>]) =>
  new ShipmentEvent.Retraction({
    ...common(id, minutes, "CORRECTION"),
    retracts: targets.map((x) => Ids.EventId.make(x)) as unknown as readonly [Ids.EventId, ...Array<Ids.EventId>]
  })

/**
 * The intake of one shipment (`shp-1`) with a customer, declared at `declaredWeight` grams; with
 * `parcels` > 0 its packages are that many parcels (`pkg-<i>`, tracking `TRK-<i>`, not weighed).
 */
export const intakeWith = (declaredWeight: number, parcels = 0): ErpPort.OrderIntake => {
  const base = Histories.intake({ shipmentId, companyId, events: [] }, 1)
  return new ErpPort.OrderIntake({
    order: base.order,
    shipments: [
      new Shipment.Shipment({
        ...base.shipments[0]!,
        declaredWeight: Weight.Grams.make(declaredWeight),
        ...(parcels > 0
          ? {
            packages: Array.from({ length: parcels }, (_, i) =>
              new Shipment.Package({ id: Ids.PackageId.make(`pkg-${i}`), weight: Weight.Grams.make(0), trackingNumber: `TRK-${i}` }))
          }
          : {})
      })
    ]
  })
}
