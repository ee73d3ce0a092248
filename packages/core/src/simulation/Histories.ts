/**
 * Realistic, messy shipment event histories for property tests, chaos tests and demos.
 *
 * A history is what one shipment's sources report over its life: warehouse pick/pack, label,
 * dispatch and transit scans, delivery with or without proof, exceptions and clearances,
 * returns, cancellations, unmapped codes, carrier retractions, clock skew between scanners and
 * retransmitted duplicates. {@link arbitrary} yields the events in arrival order (shuffled);
 * {@link generate} does the same from a plain seed for code that does not run under fast-check.
 *
 * @since 0.1.0
 */
import * as FastCheck from "effect/FastCheck"
import * as Random from "./Random.js"
import * as ErpPort from "../ErpPort.js"
import * as ExternalRefs from "../ExternalRefs.js"
import * as Ids from "../Ids.js"
import * as Instant from "../Instant.js"
import * as Money from "../Money.js"
import * as Order from "../Order.js"
import * as Party from "../Party.js"
import * as Shipment from "../Shipment.js"
import * as ShipmentEvent from "../ShipmentEvent.js"
import * as Status from "../Status.js"
import * as Weight from "../Weight.js"

/**
 * Which irregularities a history may contain.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Carrier retractions of earlier scans (and, rarely, of a retraction). Default true. */
  readonly retractions?: boolean
  /** Cancellations, before or after dispatch. Default true. */
  readonly cancellations?: boolean
  /** Two copies of one event id with different content. Default true. */
  readonly conflicts?: boolean
  /** Retransmitted copies of events. Default true. */
  readonly duplicates?: boolean
  /** Scanner clocks off by up to this many minutes. Default 90. */
  readonly maxSkewMinutes?: number
}

/**
 * A generated history: the events in arrival order, and the shipment they belong to.
 *
 * @since 0.1.0
 */
export interface History {
  readonly shipmentId: Ids.ShipmentId
  readonly companyId: Ids.CompanyId
  readonly events: ReadonlyArray<ShipmentEvent.ShipmentEvent>
}

type Rng = Random.Random
const prng = Random.make

/** Generated values are valid by construction; the property tests decode them anyway. */
const trusted = true

const BASE = Date.UTC(2024, 6, 1, 6, 0, 0)
const MINUTE = 60_000

const warehouseStatuses: ReadonlySet<Status.ForwardStatus> = new Set(["created", "picked", "packed"])

const rawCodes: Record<string, string> = {
  created: "ORD", picked: "PCK", packed: "PAK", label_created: "LBL", dispatched: "DSP", in_transit: "IT",
  out_for_delivery: "OD", available_for_pickup: "PUP", delivered: "DL", return_initiated: "RS", returned: "RD",
  cancelled: "CX", unknown: "ZZ", delayed: "DLY", failed_attempt: "NA", damaged: "DMG", address_issue: "ADR",
  customs_hold: "CUS", refused: "REF", lost: "LST"
}

const cities = ["Rotterdam", "Venlo", "Cologne", "Frankfurt", "Leipzig", "Munich", "Lyon", "Antwerp"]

/**
 * Builds one history from a seed. Deterministic: the same seed and options give the same events
 * in the same order.
 *
 * @since 0.1.0
 */
export const generate = (seed: number, options: Options = {}, index = 0): History => {
  const rng = prng(seed)
  const shipmentId = Ids.ShipmentId.make(`shp-${index}-${seed >>> 0}`)
  const companyId = Ids.CompanyId.make(index % 3 === 0 ? "co-eu" : "co-us")
  const maxSkew = options.maxSkewMinutes ?? 90
  const events: Array<ShipmentEvent.ShipmentEvent> = []
  let n = 0
  const nextId = (source: string) => Ids.EventId.make(`${source}:${shipmentId}:${n++}`)
  const skew = (ms: number) => (rng.chance(0.2) ? ms + rng.int(-maxSkew, maxSkew) * MINUTE : ms)
  const received = (ms: number) => Instant.fromMillis(ms + rng.int(0, 240) * MINUTE)
  const common = (source: string, ms: number, code: string) => ({
    id: nextId(source),
    shipmentId,
    companyId,
    source,
    occurredAt: Instant.fromMillis(ms),
    receivedAt: received(ms),
    raw: new ShipmentEvent.RawCode({ code, description: `${code} scan` }, trusted)
  })
  const location = () =>
    rng.chance(0.7)
      ? new ShipmentEvent.Location({ city: rng.pick(cities), country: rng.pick(["NL", "DE", "FR", "BE"]) }, trusted)
      : undefined
  const status = (s: Status.ReportedStatus, ms: number, extra: { pod?: boolean; weight?: number } = {}) => {
    const source = Status.isForward(s) && warehouseStatuses.has(s) ? "wms:acme" : "carrier"
    const loc = location()
    events.push(
      new ShipmentEvent.StatusReported({
        ...common(source, ms, rawCodes[s] ?? "ZZ"),
        status: s,
        ...(loc !== undefined ? { location: loc } : {}),
        ...(extra.pod === true ? { pod: new ShipmentEvent.ProofOfDelivery({ signedBy: "J. DOE" }, trusted) } : {}),
        ...(extra.weight !== undefined ? { weight: Weight.Grams.make(extra.weight) } : {})
      }, trusted)
    )
  }

  // The true path along the forward track, with gaps and skewed scanner clocks.
  const maxRank = rng.chance(0.15) ? rng.int(0, 8) : 9
  let t = BASE
  const branch = rng.pick(["none", "none", "out_for_delivery", "available_for_pickup"] as const)
  for (const s of Status.forwardStatuses) {
    const rank = Status.forwardRank(s)
    if (rank > maxRank) break
    if (Status.branchStatuses.has(s) && s !== branch) continue
    if (rank < maxRank && !Status.branchStatuses.has(s) && rng.chance(0.2)) continue
    t += rng.int(5, 600) * MINUTE
    const repeats = s === "in_transit" ? rng.int(1, 4) : 1
    for (let i = 0; i < repeats; i++) {
      if (i > 0) t += rng.int(30, 900) * MINUTE
      status(s, skew(t), {
        pod: s === "delivered" && rng.chance(0.6),
        ...(s === "packed" && rng.chance(0.8) ? { weight: rng.int(500, 30_000) } : {})
      })
    }
  }
  const end = t

  // Stale scans: transit scans stamped after delivery (scanner clocks, missorts).
  if (maxRank === 9 && rng.chance(0.25)) status("in_transit", end + rng.int(1, 300) * MINUTE)

  // Exceptions and clearances.
  const exceptionCount = rng.chance(0.5) ? rng.int(1, 3) : 0
  for (let i = 0; i < exceptionCount; i++) {
    const kind = rng.pick(Status.exceptionKinds)
    const ms = BASE + rng.int(0, Math.max(1, (end - BASE) / MINUTE + 120)) * MINUTE
    const loc = location()
    events.push(
      new ShipmentEvent.ExceptionReported({
        ...common("carrier", ms, rawCodes[kind]!),
        kind,
        ...(loc !== undefined ? { location: loc } : {})
      }, trusted)
    )
    if (rng.chance(0.3)) {
      events.push(
        new ShipmentEvent.ExceptionCleared({
          ...common("carrier", ms + rng.int(-30, 600) * MINUTE, "CLR"),
          ...(rng.chance(0.5) ? { kinds: [kind] as const } : {})
        }, trusted)
      )
    }
  }

  // The return track.
  if (rng.chance(0.12)) {
    const ms = end + rng.int(60, 3000) * MINUTE
    status("return_initiated", ms)
    if (rng.chance(0.6)) status("returned", ms + rng.int(600, 6000) * MINUTE)
  }

  // Cancellations, before or after dispatch.
  if (options.cancellations !== false && rng.chance(0.12)) {
    status("cancelled", BASE + rng.int(0, Math.max(1, (end - BASE) / MINUTE)) * MINUTE)
  }

  // Codes no table maps.
  if (rng.chance(0.15)) status("unknown", BASE + rng.int(0, Math.max(1, (end - BASE) / MINUTE)) * MINUTE)

  // Retractions of earlier scans (a mis-scanned delivery, a withdrawn exception), sometimes of
  // events never seen, rarely of another retraction.
  if (options.retractions !== false && rng.chance(0.25)) {
    const count = rng.int(1, 2)
    for (let i = 0; i < count; i++) {
      const candidates = events.filter((e) => e._tag !== "Retraction")
      const target =
        rng.chance(0.1) || candidates.length === 0
          ? Ids.EventId.make(`carrier:${shipmentId}:never-seen-${i}`)
          : rng.pick(candidates).id
      const retraction = events.find((e) => e._tag === "Retraction")
      const targets =
        retraction !== undefined && rng.chance(0.1) ? ([target, retraction.id] as const) : ([target] as const)
      events.push(
        new ShipmentEvent.Retraction({
          ...common("carrier", end + rng.int(-600, 600) * MINUTE, "COR"),
          retracts: targets
        }, trusted)
      )
    }
    // A mis-scanned delivery followed by its retraction, then the real one.
    if (maxRank >= 5 && rng.chance(0.3)) {
      status("delivered", end - rng.int(60, 600) * MINUTE, { pod: rng.chance(0.5) })
      const misScan = events[events.length - 1]!
      events.push(
        new ShipmentEvent.Retraction({ ...common("carrier", end + 10 * MINUTE, "COR"), retracts: [misScan.id] }, trusted)
      )
    }
  }

  // Two copies of one id that disagree.
  if (options.conflicts !== false && rng.chance(0.05) && events.length > 0) {
    const original = rng.pick(events)
    if (original._tag === "StatusReported") {
      events.push(
        new ShipmentEvent.StatusReported({
          ...original,
          status: original.status === "in_transit" ? "out_for_delivery" : "in_transit"
        }, trusted)
      )
    }
  }

  // Retransmissions: same id and content, received again later.
  const arrivals: Array<ShipmentEvent.ShipmentEvent> = []
  for (const event of events) {
    arrivals.push(event)
    if (options.duplicates !== false && rng.chance(0.3)) {
      const copies = rng.int(1, 2)
      for (let i = 0; i < copies; i++) arrivals.push(retransmit(event, rng))
    }
  }
  rng.shuffle(arrivals)
  return { shipmentId, companyId, events: arrivals }
}

const retransmit = (event: ShipmentEvent.ShipmentEvent, rng: Rng): ShipmentEvent.ShipmentEvent => {
  const receivedAt = Instant.fromMillis(Instant.toMillis(event.receivedAt) + rng.int(1, 600) * MINUTE)
  switch (event._tag) {
    case "StatusReported":
      return new ShipmentEvent.StatusReported({ ...event, receivedAt }, trusted)
    case "ExceptionReported":
      return new ShipmentEvent.ExceptionReported({ ...event, receivedAt }, trusted)
    case "ExceptionCleared":
      return new ShipmentEvent.ExceptionCleared({ ...event, receivedAt }, trusted)
    case "Retraction":
      return new ShipmentEvent.Retraction({ ...event, receivedAt }, trusted)
  }
}


/**
 * A fast-check arbitrary of histories (events in a shuffled arrival order).
 *
 * @since 0.1.0
 */
export const arbitrary = (options: Options = {}): FastCheck.Arbitrary<History> =>
  FastCheck.tuple(FastCheck.integer(), FastCheck.nat({ max: 1000 })).map(([seed, index]) =>
    generate(seed, options, index)
  )

/**
 * Re-orders a history's events by a permutation drawn from fast-check.
 *
 * @since 0.1.0
 */
export const permutation = <A>(items: ReadonlyArray<A>): FastCheck.Arbitrary<ReadonlyArray<A>> =>
  FastCheck.shuffledSubarray(items as Array<A>, { minLength: items.length, maxLength: items.length })

/**
 * A plausible order intake for a generated history: one order with a customer, one shipment
 * with a tracking number, a carrier and a declared weight, in the history's company.
 *
 * @since 0.1.0
 */
export const intake = (history: History, index = 0): ErpPort.OrderIntake => {
  const rng = prng(hashString(history.shipmentId))
  const currency = Money.CurrencyCode.make(history.companyId === "co-eu" ? "EUR" : "USD")
  const country = Party.CountryCode.make(history.companyId === "co-eu" ? "DE" : "US")
  const address = new Party.Address({
    street: `${rng.int(1, 200)} ${rng.pick(["Hauptstrasse", "Main Street", "Kerkstraat", "Rue de la Paix"])}`,
    postalCode: `${rng.int(10000, 99999)}`,
    city: rng.pick(cities),
    country
  }, trusted)
  const orderId = Ids.OrderId.make(`SO-${history.shipmentId}`)
  const customer = new Party.Party({
    id: Ids.PartyId.make(`cust-${index}`),
    companyId: history.companyId,
    refs: ExternalRefs.ExternalRefs.empty,
    name: rng.pick(["Ada Lovelace", "Grace Hopper", "Alan Turing", "Emmy Noether", "Kurt Gödel"]),
    email: `customer${index}@example.com`,
    phone: `+49 30 ${rng.int(1000000, 9999999)}`,
    address
  }, trusted)
  const declared = Weight.Grams.make(rng.int(500, 30_000))
  const order = new Order.Order({
    id: orderId,
    companyId: history.companyId,
    refs: ExternalRefs.ExternalRefs.empty,
    customer,
    shipTo: address,
    currency,
    lines: [
      new Order.OrderLine({
        id: Ids.OrderLineId.make(`${orderId}-1`),
        sku: rng.pick(["WIDGET", "GADGET", "SPROCKET"]),
        description: "goods",
        quantity: rng.int(1, 5),
        unitPrice: new Money.Money({ amountMinor: rng.int(500, 50_000), currency }, trusted)
      }, trusted)
    ],
    confirmedAt: Instant.fromMillis(BASE - 60 * MINUTE)
  }, trusted)
  const shipment = new Shipment.Shipment({
    id: history.shipmentId,
    companyId: history.companyId,
    orderId,
    refs: ExternalRefs.ExternalRefs.empty,
    carrier: rng.pick(["DHL", "UPS", "FedEx", "DPD"]),
    trackingNumber: `TRK${(hashString(history.shipmentId) >>> 0).toString(36).toUpperCase()}${index}`,
    shipTo: address,
    packages: [new Shipment.Package({ id: Ids.PackageId.make(`${history.shipmentId}-p1`), weight: declared }, trusted)],
    declaredWeight: declared,
    createdAt: Instant.fromMillis(BASE - 30 * MINUTE)
  }, trusted)
  return new ErpPort.OrderIntake({ order, shipments: [shipment] }, trusted)
}

const hashString = (s: string): number => {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}
