/**
 * What happens to each shipment of the scenario, before anyone reports it: a scripted story per
 * order (its profile, the warehouse steps and the carrier scans with their true times) and the
 * outcome the distributor should see at the end.
 *
 * The stories are seeded and deterministic. Most orders go through cleanly; the rest carry the
 * irregularities a logistics manager deals with every week: weather delays, failed delivery
 * attempts, damage in transit and on delivery, a packed weight far off the declared one, a lost
 * parcel, a refused delivery returned to sender, a delivery scan the courier withdraws, a
 * cancellation that comes after dispatch, a courier resending a scan with different content, a
 * courier code nobody mapped, a pick that reaches waybill before the order does, and parcels
 * still on the road when the demo stops. `Sources` turns the stories into what the warehouse
 * and the carriers actually send.
 *
 * @since 0.1.0
 */
import type { ShipmentRecord, Status } from "@waybill/core"
import { Random } from "@waybill/core/simulation"

/**
 * The kind of story.
 *
 * @since 0.1.0
 */
export type Profile =
  | "clean"
  | "local"
  | "delayed"
  | "failed_attempt"
  | "damaged_in_transit"
  | "damaged_on_delivery"
  | "weight_discrepancy"
  | "lost"
  | "refused_return"
  | "retracted_delivery"
  | "cancel_after_dispatch"
  | "conflicting_resend"
  | "unmapped_code"
  | "early_pick"
  | "in_flight"

/**
 * Who carries the parcel: EasyPost (labels bought through its API, tracking by webhook) or the
 * small local courier onboarded with a mapping config.
 *
 * @since 0.1.0
 */
export type CarrierChoice = "easypost" | "swift"

/** @since 0.1.0 */
export type WarehouseCode = "order.picked" | "order.packed" | "label.printed" | "order.dispatched" | "order.cancelled"

/**
 * A step the warehouse reports.
 *
 * @since 0.1.0
 */
export interface WarehouseStep {
  readonly _tag: "Warehouse"
  /** Epoch ms when it happened. */
  readonly at: number
  readonly code: WarehouseCode
}

/** @since 0.1.0 */
export type ScanKind =
  | "label"
  | "pickup"
  | "transit"
  | "out_for_delivery"
  | "delivered"
  | "delayed"
  | "failed_attempt"
  | "damaged"
  | "lost"
  | "refused"
  | "return_initiated"
  | "returned"
  | "unmapped"
  | "correction"

/**
 * A scan the carrier reports.
 *
 * @since 0.1.0
 */
export interface CarrierStep {
  readonly _tag: "Carrier"
  readonly at: number
  readonly kind: ScanKind
  readonly place: Place
  /** `correction`: the index (in `carrierSteps`) of the scan it withdraws. */
  readonly voids?: number
  /** The courier sends this scan in one batch with the next one (damage noted at the door). */
  readonly batchWithNext?: boolean
  /** The courier later resends this scan with a corrected depot (same scan id, new content). */
  readonly resentWithCorrection?: boolean
  /** The courier's messages about this scan are never late (the story's outcome depends on their order). */
  readonly punctual?: boolean
}

/**
 * A place on the road.
 *
 * @since 0.1.0
 */
export interface Place {
  readonly city: string
  readonly state: string
  readonly zip: string
}

/**
 * A customer address.
 *
 * @since 0.1.0
 */
export interface Customer {
  readonly name: string
  readonly email: string
  readonly phone: string
  readonly street: string
  readonly city: string
  readonly state: string
  readonly zip: string
}

/**
 * What the distributor should see for the shipment at the end.
 *
 * @since 0.1.0
 */
export interface Expected {
  readonly status: ReadonlyArray<Status.DisplayStatus>
  readonly billing: ShipmentRecord.Billing["status"]
  readonly holds: ReadonlyArray<ShipmentRecord.HoldReason>
  /** A service case must exist (an exception, or an invoice released on a withdrawn delivery). */
  readonly compensation: boolean
}

/**
 * One order's story.
 *
 * @since 0.1.0
 */
export interface Story {
  readonly index: number
  readonly profile: Profile
  readonly carrier: CarrierChoice
  readonly customer: Customer
  /** Order lines: product index and quantity. */
  readonly lines: ReadonlyArray<{ readonly product: number; readonly quantity: number }>
  /** When the order is confirmed in Odoo. */
  readonly confirmAt: number
  /** Packed weight / declared weight. */
  readonly weightFactor: number
  readonly warehouseSteps: ReadonlyArray<WarehouseStep>
  readonly carrierSteps: ReadonlyArray<CarrierStep>
  readonly expected: Expected
}

/**
 * A product of the distributor's catalogue.
 *
 * @since 0.1.0
 */
export interface Product {
  readonly code: string
  readonly name: string
  readonly weightKg: number
  readonly price: number
}

/** @since 0.1.0 */
export const catalogue: ReadonlyArray<Product> = [
  { code: "PUMP-05", name: "Circulation pump 0.5 kW", weightKg: 6.4, price: 389 },
  { code: "VALVE-22", name: "Ball valve 22 mm", weightKg: 0.45, price: 18.9 },
  { code: "FILTER-M", name: "Magnetic sludge filter", weightKg: 1.8, price: 74.5 },
  { code: "THERM-S", name: "Smart thermostat", weightKg: 0.35, price: 129 },
  { code: "HOSE-10", name: "Braided hose 10 m", weightKg: 2.2, price: 41 },
  { code: "TANK-50", name: "Expansion tank 50 l", weightKg: 11.5, price: 214 },
  { code: "GAUGE-P", name: "Pressure gauge", weightKg: 0.3, price: 22.4 },
  { code: "SEAL-KIT", name: "Seal kit (assorted)", weightKg: 0.6, price: 15.75 }
]

/** The scenario's clock: Monday 2 June 2025, 08:00 in Newark, NJ (UTC-4). */
export const START = Date.UTC(2025, 5, 2, 12, 0, 0)
/** Local time of the warehouse and the couriers: UTC-4 (EDT). */
export const LOCAL_OFFSET_MINUTES = -240
/** Nothing happens after this: parcels on the road are reported as they are. */
export const HORIZON = START + 8 * 24 * 3_600_000

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/**
 * The seeded random source of the scenario (core's simulation PRNG).
 *
 * @since 0.1.0
 */
export const prng = Random.make

/** @since 0.1.0 */
export type Rng = ReturnType<typeof prng>

/**
 * How many stories of each irregular profile a run of `orders` holds: a share of the orders,
 * and at least the minimum so that even a small run shows every case. The rest are clean.
 *
 * @since 0.1.0
 */
export const mix: ReadonlyArray<{ readonly profile: Profile; readonly share: number; readonly min: number }> = [
  { profile: "local", share: 0.08, min: 2 },
  { profile: "delayed", share: 0.08, min: 2 },
  { profile: "failed_attempt", share: 0.07, min: 2 },
  { profile: "damaged_in_transit", share: 0.02, min: 1 },
  { profile: "damaged_on_delivery", share: 0.02, min: 2 },
  { profile: "weight_discrepancy", share: 0.03, min: 2 },
  { profile: "lost", share: 0.01, min: 1 },
  { profile: "refused_return", share: 0.02, min: 1 },
  { profile: "retracted_delivery", share: 0.01, min: 1 },
  { profile: "cancel_after_dispatch", share: 0, min: 1 },
  { profile: "conflicting_resend", share: 0, min: 1 },
  { profile: "unmapped_code", share: 0, min: 1 },
  { profile: "early_pick", share: 0, min: 1 },
  { profile: "in_flight", share: 0.03, min: 1 }
]

/**
 * The smallest run that holds every profile and some clean orders.
 *
 * @since 0.1.0
 */
export const minimumOrders = mix.reduce((n, m) => n + m.min, 0) + 4

const swiftProfiles: ReadonlySet<Profile> = new Set([
  "local",
  "damaged_on_delivery",
  "retracted_delivery",
  "conflicting_resend",
  "unmapped_code"
])

const firstNames = ["Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Ivy", "Lucas", "Nora", "Owen", "Ruth", "Omar", "Lena", "Hugo"]
const lastNames = ["Alvarez", "Brennan", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen", "Kowalski"]
const trades = ["Plumbing", "Heating", "HVAC Services", "Mechanical", "Boiler Works", "Pipe & Valve"]
const destinations: ReadonlyArray<Place & { readonly street: string }> = [
  { street: "214 Atlantic Ave", city: "Brooklyn", state: "NY", zip: "11201" },
  { street: "88 Washington St", city: "Hoboken", state: "NJ", zip: "07030" },
  { street: "1520 Spring Garden St", city: "Philadelphia", state: "PA", zip: "19130" },
  { street: "45 Summer St", city: "Boston", state: "MA", zip: "02110" },
  { street: "310 Chapel St", city: "New Haven", state: "CT", zip: "06511" },
  { street: "77 Market St", city: "Paterson", state: "NJ", zip: "07505" },
  { street: "901 N Charles St", city: "Baltimore", state: "MD", zip: "21201" },
  { street: "12 Broad St", city: "Stamford", state: "CT", zip: "06901" },
  { street: "640 W 42nd St", city: "New York", state: "NY", zip: "10036" },
  { street: "58 Main St", city: "White Plains", state: "NY", zip: "10601" }
]
const hubs: ReadonlyArray<Place> = [
  { city: "Newark", state: "NJ", zip: "07114" },
  { city: "Edison", state: "NJ", zip: "08817" },
  { city: "Secaucus", state: "NJ", zip: "07094" },
  { city: "Bethpage", state: "NY", zip: "11714" },
  { city: "Allentown", state: "PA", zip: "18109" },
  { city: "Hartford", state: "CT", zip: "06101" }
]

/** The warehouse: a third-party logistics site in Newark, NJ. */
export const warehousePlace: Place = { city: "Newark", state: "NJ", zip: "07114" }

const localHour = (ms: number): number => new Date(ms + LOCAL_OFFSET_MINUTES * MINUTE).getUTCHours()

/** The next local `hour:00` at or after `ms` (plus jitter). */
const nextLocal = (ms: number, hour: number, rng: Rng): number => {
  const local = ms + LOCAL_OFFSET_MINUTES * MINUTE
  const day = Math.floor(local / DAY) * DAY
  let at = day + hour * HOUR - LOCAL_OFFSET_MINUTES * MINUTE
  if (at < ms) at += DAY
  return at + rng.int(0, 50) * MINUTE
}

/**
 * Builds the stories of a run: `orders` stories from `seed`, profiles spread over the run.
 *
 * @since 0.1.0
 */
export const generate = (seed: number, orders: number): ReadonlyArray<Story> => {
  if (orders < minimumOrders) throw new RangeError(`the scenario needs at least ${minimumOrders} orders (got ${orders})`)
  const rng = prng(seed * 7919 + 17)
  const profiles: Array<Profile> = []
  for (const m of mix) {
    const n = Math.max(m.min, Math.round(m.share * orders))
    for (let i = 0; i < n; i++) profiles.push(m.profile)
  }
  while (profiles.length < orders) profiles.push("clean")
  // Parcels still on the road at the end are the ones confirmed last.
  const inFlight = profiles.filter((p) => p === "in_flight").length
  const rest = rng.shuffle(profiles.filter((p) => p !== "in_flight"))
  const confirmTimes = Array.from({ length: orders }, () => {
    const day = rng.chance(0.5) ? 0 : 1
    return START + day * DAY + rng.int(0, 10 * 60) * MINUTE
  }).sort((a, b) => a - b)
  const assigned = [...rest.slice(0, orders - inFlight), ...profiles.filter((p) => p === "in_flight")]
  return assigned.map((profile, index) => story(seed, index, profile, confirmTimes[index]!))
}

const story = (seed: number, index: number, profile: Profile, confirmedAt: number): Story => {
  // The early pick's order is confirmed just after the poller ran (it runs on the hour).
  const confirmAt =
    profile === "early_pick" ? START + Math.floor((confirmedAt - START) / HOUR) * HOUR + 5 * MINUTE : confirmedAt
  const rng = prng((seed * 1_000_003 + index * 7_919 + 1) >>> 0)
  const destination = rng.pick(destinations)
  const first = rng.pick(firstNames)
  const last = rng.pick(lastNames)
  const customer: Customer = {
    name: `${last} ${rng.pick(trades)}`,
    email: `${first.toLowerCase()}.${last.toLowerCase()}${index}@example.com`,
    phone: `+1 555 ${String(rng.int(100, 999))} ${String(rng.int(1000, 9999))}`,
    street: destination.street,
    city: destination.city,
    state: destination.state,
    zip: destination.zip
  }
  const lineCount = rng.int(1, 3)
  const products = rng.shuffle(catalogue.map((_, i) => i)).slice(0, lineCount)
  const lines = products.map((product) => ({ product, quantity: rng.int(1, 4) }))
  const carrier: CarrierChoice = swiftProfiles.has(profile) ? "swift" : "easypost"
  const weightFactor = profile === "weight_discrepancy" ? 1.25 + rng.int(0, 15) / 100 : 1 + rng.int(-3, 3) / 100

  // The warehouse: pick, pack (weighed), label, hand over at the dock.
  // An early pick: the warehouse works from Odoo's pick list minutes after the order is
  // confirmed, before waybill's order poller has seen the order (it polls hourly).
  const pick = confirmAt + (profile === "early_pick" ? rng.int(3, 8) * MINUTE : rng.int(90, 240) * MINUTE)
  const pack = pick + rng.int(15, 60) * MINUTE
  const label = pack + rng.int(4, 15) * MINUTE
  const dispatch = Math.max(label + rng.int(30, 90) * MINUTE, localHour(label) < 16 ? label + 45 * MINUTE : nextLocal(label, 8, rng))
  const warehouseSteps: Array<WarehouseStep> = [
    { _tag: "Warehouse", at: pick, code: "order.picked" },
    { _tag: "Warehouse", at: pack, code: "order.packed" },
    { _tag: "Warehouse", at: label, code: "label.printed" },
    { _tag: "Warehouse", at: dispatch, code: "order.dispatched" }
  ]
  if (profile === "cancel_after_dispatch") {
    // The customer cancels by phone after the parcel left; the warehouse records it anyway.
    warehouseSteps.push({ _tag: "Warehouse", at: dispatch + rng.int(60, 180) * MINUTE, code: "order.cancelled" })
  }

  // The carrier.
  const steps: Array<CarrierStep> = []
  const dest: Place = { city: destination.city, state: destination.state, zip: destination.zip }
  const scan = (at: number, kind: ScanKind, place: Place, extra: Partial<CarrierStep> = {}) =>
    steps.push({ _tag: "Carrier", at, kind, place, ...extra })
  let t = label + rng.int(1, 5) * MINUTE
  scan(t, "label", warehousePlace)
  t = dispatch + rng.int(40, 120) * MINUTE
  scan(t, "pickup", warehousePlace)
  const hops = carrier === "swift" ? 1 : rng.int(1, 3)
  for (let h = 0; h < hops; h++) {
    t += rng.int(3, 9) * HOUR
    scan(t, "transit", rng.pick(hubs))
    if (h === 0 && profile === "delayed") {
      t += rng.int(1, 3) * HOUR
      scan(t, "delayed", rng.pick(hubs))
      t += rng.int(8, 20) * HOUR
      scan(t, "transit", rng.pick(hubs))
    }
    if (h === 0 && profile === "damaged_in_transit") {
      t += rng.int(1, 2) * HOUR
      scan(t, "damaged", rng.pick(hubs))
      t += rng.int(3, 6) * HOUR
      scan(t, "transit", rng.pick(hubs))
    }
  }
  if (profile === "in_flight") {
    // Ground freight across the country: one scan a day, delivered after the demo ends.
    while (t < HORIZON + 2 * DAY) {
      t += rng.int(20, 30) * HOUR
      scan(t, "transit", rng.pick(hubs))
    }
  } else if (profile === "lost") {
    t += rng.int(20, 40) * HOUR
    scan(t, "lost", rng.pick(hubs))
  } else {
    const deliveryDay = (at: number) => nextLocal(at + 2 * HOUR, 8, rng)
    t = deliveryDay(t)
    scan(t, "out_for_delivery", dest)
    if (profile === "unmapped_code") {
      t += rng.int(20, 50) * MINUTE
      scan(t, "unmapped", dest)
    }
    if (profile === "failed_attempt") {
      t += rng.int(2, 5) * HOUR
      scan(t, "failed_attempt", dest)
      t = deliveryDay(t)
      scan(t, "out_for_delivery", dest)
    }
    if (profile === "refused_return") {
      t += rng.int(1, 4) * HOUR
      scan(t, "refused", dest)
      t += rng.int(2, 5) * HOUR
      scan(t, "return_initiated", rng.pick(hubs))
      t += rng.int(36, 60) * HOUR
      scan(t, "returned", warehousePlace)
    } else if (profile === "retracted_delivery") {
      // The driver scans "delivered" at the wrong door, the depot withdraws the scan in the
      // afternoon, and the parcel is delivered the next morning.
      t += rng.int(1, 3) * HOUR
      const misScan = steps.length
      scan(t, "delivered", dest, { punctual: true })
      t += rng.int(4, 6) * HOUR
      scan(t, "correction", dest, { voids: misScan, punctual: true })
      t = deliveryDay(t)
      scan(t, "out_for_delivery", dest, { punctual: true })
      t += rng.int(1, 3) * HOUR
      scan(t, "delivered", dest, { punctual: true })
    } else if (profile === "damaged_on_delivery") {
      // The recipient signs for a crushed box; the courier reports the damage with the delivery.
      t += rng.int(1, 4) * HOUR
      scan(t + 3 * MINUTE, "damaged", dest, { batchWithNext: true })
      scan(t, "delivered", dest)
    } else {
      t += rng.int(1, 5) * HOUR
      scan(t, "delivered", dest, profile === "conflicting_resend" ? { resentWithCorrection: true } : {})
      // A missorted parcel's label is scanned again at a hub after delivery: a stale scan.
      if (profile === "clean" && rng.chance(0.08)) scan(t + rng.int(2, 8) * HOUR, "transit", rng.pick(hubs))
    }
  }
  const carrierSteps = steps.filter((s) => s.at <= HORIZON)

  return {
    index,
    profile,
    carrier,
    customer,
    lines,
    confirmAt,
    weightFactor,
    warehouseSteps: warehouseSteps.filter((s) => s.at <= HORIZON),
    carrierSteps,
    expected: expectedOf(profile)
  }
}

const expectedOf = (profile: Profile): Expected => {
  switch (profile) {
    case "weight_discrepancy":
      return { status: ["delivered"], billing: "held", holds: ["weight_out_of_tolerance"], compensation: false }
    case "damaged_on_delivery":
    case "damaged_in_transit":
      // The later scans move the parcel on; nobody cleared the damage: held until approved.
      return { status: ["delivered"], billing: "held", holds: ["open_damage"], compensation: false }
    case "lost":
      return { status: ["lost"], billing: "waiting", holds: [], compensation: false }
    case "refused_return":
      return { status: ["returned"], billing: "waiting", holds: [], compensation: false }
    case "in_flight":
      return { status: ["in_transit"], billing: "waiting", holds: [], compensation: false }
    case "retracted_delivery":
      return { status: ["delivered"], billing: "released", holds: [], compensation: true }
    default:
      return { status: ["delivered"], billing: "released", holds: [], compensation: false }
  }
}

/**
 * Human names of the profiles, for the report.
 *
 * @since 0.1.0
 */
export const describeProfile: Readonly<Record<Profile, string>> = {
  clean: "delivered without incident",
  local: "local courier, delivered",
  delayed: "weather delay in transit",
  failed_attempt: "failed delivery attempt, delivered next day",
  damaged_in_transit: "damaged in transit, delivered (held until approved)",
  damaged_on_delivery: "damaged on delivery",
  weight_discrepancy: "packed weight off the declared weight",
  lost: "lost in transit",
  refused_return: "refused, returned to sender",
  retracted_delivery: "delivery scan withdrawn by the courier",
  cancel_after_dispatch: "cancelled after dispatch",
  conflicting_resend: "courier resent a scan with different content",
  unmapped_code: "courier code nobody mapped",
  early_pick: "picked before waybill saw the order",
  in_flight: "still on the road"
}
