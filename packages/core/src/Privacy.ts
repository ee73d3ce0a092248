/**
 * Data minimization: a per-destination policy applied to every payload before it leaves for a
 * helpdesk, a notifier or a finance system (and before it is stored in the outbox).
 *
 * The policy is driven by the model's `Pii` annotations: for each kind of personal data a
 * destination either keeps it, masks it (`a***@example.com`, `+*** ***00`) or drops it.
 * Fields without an annotation pass unchanged: the schemas of outbound requests only carry
 * what support or the customer needs.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Pii from "./Pii.js"

/**
 * What happens to one kind of personal data.
 *
 * @since 0.1.0
 */
export const Treatment = Schema.Literal("keep", "mask", "drop")
/** @since 0.1.0 */
export type Treatment = typeof Treatment.Type

const Kinds = Schema.Literal("name", "email", "phone", "street", "postal_code", "signature", "free_text")

/**
 * A destination's policy: a treatment per kind of personal data; kinds not listed are dropped.
 *
 * @since 0.1.0
 */
export const Policy = Schema.Record({ key: Kinds, value: Treatment }).pipe(Schema.partial)
/** @since 0.1.0 */
export type Policy = typeof Policy.Type

/**
 * Defaults: the helpdesk gets the customer's name and masked contacts, no street or postal
 * code; the notifier gets what it needs to reach the customer; finance gets names and the
 * invoice address, no contacts. A required field a policy drops is masked instead, so the
 * payload still decodes.
 *
 * @since 0.1.0
 */
export const defaults: { readonly helpdesk: Policy; readonly notifier: Policy; readonly finance: Policy } = {
  helpdesk: { name: "keep", email: "mask", phone: "mask" },
  notifier: { name: "keep", email: "keep", phone: "keep" },
  finance: { name: "keep", street: "keep", postal_code: "keep" }
}

/**
 * Masks a value of a kind, keeping just enough to recognise it.
 *
 * @since 0.1.0
 */
export const mask = (kind: Pii.PiiKind, value: string): string => {
  switch (kind) {
    case "email": {
      const at = value.indexOf("@")
      return at <= 0 ? "***" : `${value[0]}***${value.slice(at)}`
    }
    case "phone": {
      const digits = value.replace(/\D/g, "")
      return digits.length <= 2 ? "***" : `${value.startsWith("+") ? "+" : ""}*** ***${digits.slice(-2)}`
    }
    case "name":
      return value
        .split(/\s+/)
        .filter((w) => w.length > 0)
        .map((w) => `${w[0]}.`)
        .join(" ")
    default:
      return "***"
  }
}

/** The keys of `record` that `head` names: one property, or every value of a record (`"*"`). */
const keysAt = (record: Record<string, unknown>, head: string): ReadonlyArray<string> =>
  head === "*" ? Object.keys(record) : head in record ? [head] : []

/** A treated value: `undefined` when it is dropped (null is no personal data and stays). */
const treat = (kind: Pii.PiiKind, treatment: Treatment, field: unknown): unknown =>
  field === null || treatment === "keep"
    ? field
    : treatment === "drop" || typeof field !== "string"
    ? undefined
    : mask(kind, field)

const applyAt = (value: unknown, path: ReadonlyArray<string>, kind: Pii.PiiKind, treatment: Treatment): unknown => {
  if (value === null || typeof value !== "object") return value
  const [head, ...rest] = path
  if (head === undefined) return value
  if (Array.isArray(value)) {
    if (head !== "*") return value
    return rest.length > 0
      ? value.map((item) => applyAt(item, rest, kind, treatment))
      : treatment === "keep"
      ? value
      : value.map((item) => treat(kind, treatment, item)).filter((item) => item !== undefined)
  }
  const keys = keysAt(value as Record<string, unknown>, head)
  if (keys.length === 0 || (rest.length === 0 && treatment === "keep")) return value
  const record: Record<string, unknown> = { ...value }
  for (const key of keys) {
    const next = rest.length > 0 ? applyAt(record[key], rest, kind, treatment) : treat(kind, treatment, record[key])
    if (next === undefined) delete record[key]
    else record[key] = next
  }
  return record
}

/**
 * Applies a policy to the encoded form of a value of `schema`.
 *
 * @example
 * ```ts
 * import { HelpdeskPort, Privacy } from "@waybill/core"
 * const safe = Privacy.minimize(HelpdeskPort.OpenCase, encoded, Privacy.defaults.helpdesk)
 * ```
 *
 * @since 0.1.0
 */
export const minimize = <I>(schema: Schema.Schema<any, I, never>, encoded: I, policy: Policy): I => {
  let out: unknown = encoded
  for (const { kind, optional, path } of Pii.paths(schema)) {
    const treatment = policy[kind] ?? "drop"
    // A required field cannot be dropped without breaking the payload: it is masked instead.
    out = applyAt(out, path, kind, treatment === "drop" && !optional ? "mask" : treatment)
  }
  return out as I
}

/** Applies a treatment at `path[i..]` of `value`, editing it in place (see {@link minimizeFresh}). */
const editAt = (value: unknown, path: ReadonlyArray<string>, i: number, kind: Pii.PiiKind, treatment: Treatment): void => {
  if (value === null || typeof value !== "object") return
  const head = path[i]
  if (head === undefined) return
  const last = i === path.length - 1
  if (Array.isArray(value)) {
    if (head !== "*") return
    if (!last) for (const item of value) editAt(item, path, i + 1, kind, treatment)
    else {
      let n = 0
      for (const item of value) {
        const next = treat(kind, treatment, item)
        if (next !== undefined) value[n++] = next
      }
      value.length = n
    }
    return
  }
  const record = value as Record<string, unknown>
  for (const key of keysAt(record, head)) {
    if (!last) editAt(record[key], path, i + 1, kind, treatment)
    else {
      const next = treat(kind, treatment, record[key])
      if (next === undefined) delete record[key]
      else record[key] = next
    }
  }
}

/**
 * {@link minimize} for an encoded value the caller has just built and shares with nobody: the
 * same result, made by editing the value in place instead of copying it along every personal
 * data path (the flows build each payload fresh, several per milestone).
 *
 * @internal
 */
export const minimizeFresh = <I>(schema: Schema.Schema<any, I, never>, encoded: I, policy: Policy): I => {
  for (const { kind, optional, path } of Pii.paths(schema)) {
    const treatment = policy[kind] ?? "drop"
    if (treatment === "keep") continue
    editAt(encoded, path, 0, kind, treatment === "drop" && !optional ? "mask" : treatment)
  }
  return encoded
}

/**
 * Encodes a value and minimizes it for a destination; the result is what may leave.
 *
 * @since 0.1.0
 */
export const encodeMinimized = <A, I>(schema: Schema.Schema<A, I, never>, value: A, policy: Policy): I =>
  minimize(schema, Schema.encodeSync(schema)(value), policy)

/**
 * The personal values of an encoded value of `schema` (the strings at its {@link Pii.paths}), of
 * at least four characters: what a far side that was sent it may quote back in an error.
 *
 * @example
 * ```ts
 * // The street, postal code, name… of an outbound case request, to withhold from an error text
 * const values = Privacy.personalValues(HelpdeskPort.OpenCase, JSON.parse(action.payload))
 * ```
 *
 * @since 0.2.0
 */
export const personalValues = <I>(schema: Schema.Schema<any, I, never>, encoded: I): ReadonlyArray<string> => {
  const out = new Set<string>()
  const collect = (value: unknown, path: ReadonlyArray<string>, i: number): void => {
    if (i === path.length) {
      if (typeof value === "string" && value.trim().length >= 4) out.add(value)
      else if (Array.isArray(value)) for (const item of value) collect(item, path, i)
      return
    }
    if (value === null || typeof value !== "object") return
    const head = path[i]!
    const record = value as Record<string, unknown>
    for (const key of keysAt(record, head)) collect(record[key], path, i + 1)
  }
  for (const { path } of Pii.paths(schema)) collect(encoded, path, 0)
  return [...out]
}

/**
 * `text` with every occurrence of the given values (see {@link personalValues}) replaced by
 * `<redacted>`, longest first, in any letter case and Unicode normal form (the text comes back
 * composed, NFC): for a vendor's error text that may quote the request. A phone number (six digits or more) is withheld however it is written back: its
 * digits in order, with any separators or none (`+4917012345678` for `+49 170 1234 5678`). A text
 * already cut short (ending in `…`) in the middle of a value has that value's beginning, of at
 * least four characters, replaced too.
 *
 * @example
 * ```ts
 * Privacy.scrub("street 'Flat 3, 12 Privet Drive' is not deliverable", ["Flat 3, 12 Privet Drive"])
 * // "street '<redacted>' is not deliverable"
 * ```
 *
 * @since 0.2.0
 */
export const scrub = (text: string, values: ReadonlyArray<string>): string => {
  // Compared composed (NFC): a far side may keep and quote a name in another normal form.
  let out = text.normalize("NFC")
  // each value as sent, and as it reads inside a JSON string (an error body quoting it)
  const forms = values
    .filter((v) => v.trim().length >= 4)
    .map((v) => v.normalize("NFC"))
    .flatMap((v) => [v, JSON.stringify(v).slice(1, -1)])
  for (const value of forms.sort((a, b) => b.length - a.length)) {
    // In any letter case: a far side may keep (and quote) an e-mail address lower-cased.
    out = out.replace(new RegExp(escapeRegExp(value), "gi"), "<redacted>")
  }
  // A phone number as a far side writes it back (E.164, its own grouping): its digits, in order,
  // with any separators or none, and any `+`.
  for (const value of values) {
    if (!phoneLike.test(value)) continue
    const digits = value.replace(/\D/g, "")
    if (digits.length < 6) continue
    out = out.replace(new RegExp(`\\+?${digits.split("").join("[ ()./-]*")}`, "g"), "<redacted>")
  }
  return out.endsWith("…") ? scrubCutTail(out, forms) : out
}

/** What a phone number may be written with (as `Party.phone` accepts it). */
const phoneLike = /^\+?[0-9 ()./-]+$/

const escapeRegExp = (value: string): string => value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** `text` (ending in `…`) with the longest beginning of a value it ends in replaced. */
const scrubCutTail = (text: string, forms: ReadonlyArray<string>): string => {
  const body = text.slice(0, -1)
  let longest = 0
  for (const value of forms) {
    for (let n = Math.min(value.length - 1, body.length); n >= 4 && n > longest; n--) {
      if (body.endsWith(value.slice(0, n))) {
        longest = n
        break
      }
    }
  }
  return longest === 0 ? text : `${body.slice(0, body.length - longest)}<redacted>…`
}
