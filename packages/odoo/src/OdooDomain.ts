/**
 * Odoo search domains, built with types instead of nested arrays.
 *
 * An Odoo domain is a list in prefix (Polish) notation: leaves `[field, operator, value]` and the
 * operators `"&"`, `"|"` (binary) and `"!"` (unary); top-level terms are implicitly AND-ed. This
 * module builds domains as a small expression tree and renders the prefix list only when the
 * domain is sent, so combining domains never miscounts operators.
 *
 * @example
 * ```ts
 * import { OdooDomain as D } from "@waybill/odoo"
 *
 * const after = D.or(
 *   D.gt("write_date", "2026-11-27 11:21:26"),
 *   D.and(D.eq("write_date", "2026-11-27 11:21:26"), D.gt("id", 42))
 * )
 * D.toJson(D.and(D.isIn("state", ["sale", "done"]), after))
 * // ["&", ["state", "in", ["sale", "done"]], "|", [...], "&", [...], [...]]
 * ```
 *
 * @since 0.1.0
 */

/**
 * A comparison operator of an Odoo domain leaf.
 *
 * @since 0.1.0
 */
export type Operator =
  | "="
  | "!="
  | ">"
  | ">="
  | "<"
  | "<="
  | "in"
  | "not in"
  | "like"
  | "not like"
  | "ilike"
  | "not ilike"
  | "=like"
  | "=ilike"
  | "child_of"
  | "parent_of"

/**
 * A scalar a leaf compares with. `false` is Odoo's "not set".
 *
 * @since 0.1.0
 */
export type Scalar = string | number | boolean

/**
 * The right-hand side of a leaf: a scalar, or a list for `in` / `not in`.
 *
 * @since 0.1.0
 */
export type Value = Scalar | ReadonlyArray<Scalar>

/**
 * A domain expression: a leaf, a conjunction, a disjunction or a negation. `and([])` is the
 * domain that matches everything.
 *
 * @since 0.1.0
 */
export type Domain =
  | { readonly _tag: "Leaf"; readonly field: string; readonly operator: Operator; readonly value: Value }
  | { readonly _tag: "And"; readonly items: ReadonlyArray<Domain> }
  | { readonly _tag: "Or"; readonly items: ReadonlyArray<Domain> }
  | { readonly _tag: "Not"; readonly item: Domain }

/**
 * One term of the rendered prefix list.
 *
 * @since 0.1.0
 */
export type Term = "&" | "|" | "!" | readonly [string, Operator, Value]

/**
 * The domain that matches every record (`[]`).
 *
 * @since 0.1.0
 */
export const all: Domain = { _tag: "And", items: [] }

/**
 * A leaf `[field, operator, value]`. `field` may be a dotted path (`sale_id.state`).
 *
 * @since 0.1.0
 */
export const leaf = (field: string, operator: Operator, value: Value): Domain => ({
  _tag: "Leaf",
  field,
  operator,
  value
})

/** `field = value` @since 0.1.0 */
export const eq = (field: string, value: Scalar): Domain => leaf(field, "=", value)
/** `field != value` @since 0.1.0 */
export const ne = (field: string, value: Scalar): Domain => leaf(field, "!=", value)
/** `field > value` @since 0.1.0 */
export const gt = (field: string, value: Scalar): Domain => leaf(field, ">", value)
/** `field >= value` @since 0.1.0 */
export const gte = (field: string, value: Scalar): Domain => leaf(field, ">=", value)
/** `field < value` @since 0.1.0 */
export const lt = (field: string, value: Scalar): Domain => leaf(field, "<", value)
/** `field <= value` @since 0.1.0 */
export const lte = (field: string, value: Scalar): Domain => leaf(field, "<=", value)
/** `field in values` @since 0.1.0 */
export const isIn = (field: string, values: ReadonlyArray<Scalar>): Domain => leaf(field, "in", values)
/** `field not in values` @since 0.1.0 */
export const notIn = (field: string, values: ReadonlyArray<Scalar>): Domain => leaf(field, "not in", values)
/** Case-insensitive substring match (`ilike`); `%` and `_` in `value` are SQL wildcards. @since 0.1.0 */
export const ilike = (field: string, value: string): Domain => leaf(field, "ilike", value)
/** Case-sensitive substring match (`like`). @since 0.1.0 */
export const like = (field: string, value: string): Domain => leaf(field, "like", value)

const flatten = (tag: "And" | "Or", items: ReadonlyArray<Domain>): ReadonlyArray<Domain> =>
  items.flatMap((d) => (d._tag === tag ? d.items : [d]))

/**
 * All of the domains (`"&"`). Nested conjunctions are flattened; `and()` matches everything.
 *
 * @since 0.1.0
 */
export const and = (...domains: ReadonlyArray<Domain>): Domain => {
  const items = flatten("And", domains)
  return items.length === 1 ? items[0]! : { _tag: "And", items }
}

/**
 * Any of the domains (`"|"`). `or()` with no argument matches nothing.
 *
 * @since 0.1.0
 */
export const or = (...domains: ReadonlyArray<Domain>): Domain => {
  const items = flatten("Or", domains)
  return items.length === 1 ? items[0]! : { _tag: "Or", items }
}

/**
 * The negation of a domain (`"!"`).
 *
 * @since 0.1.0
 */
export const not = (domain: Domain): Domain => ({ _tag: "Not", item: domain })

// `or()` has no neutral prefix form; Odoo spells "nothing" as a leaf that is never true.
const nothing: ReadonlyArray<Term> = [["id", "=", 0]]

const render = (domain: Domain, out: Array<Term>): void => {
  switch (domain._tag) {
    case "Leaf":
      out.push([domain.field, domain.operator, domain.value])
      return
    case "Not":
      out.push("!")
      render(domain.item, out)
      return
    case "And":
    case "Or": {
      if (domain.items.length === 0) {
        // an empty conjunction is true; nested inside an operator it is spelled as a tautology
        if (domain._tag === "And") out.push(["id", "!=", 0])
        else out.push(...nothing)
        return
      }
      const op = domain._tag === "And" ? "&" : "|"
      for (let i = 1; i < domain.items.length; i++) out.push(op)
      for (const item of domain.items) render(item, out)
    }
  }
}

/**
 * Renders the prefix list Odoo expects. The top-level `and()` of nothing renders as `[]`.
 *
 * @since 0.1.0
 */
export const toJson = (domain: Domain): ReadonlyArray<Term> => {
  if (domain._tag === "And" && domain.items.length === 0) return []
  const out: Array<Term> = []
  render(domain, out)
  return out
}

const operators: ReadonlySet<string> = new Set<Operator>([
  "=",
  "!=",
  ">",
  ">=",
  "<",
  "<=",
  "in",
  "not in",
  "like",
  "not like",
  "ilike",
  "not ilike",
  "=like",
  "=ilike",
  "child_of",
  "parent_of"
])

const isScalar = (u: unknown): u is Scalar => typeof u === "string" || typeof u === "number" || typeof u === "boolean"

/**
 * Parses a prefix-notation domain (as found in Odoo actions, server logs or configuration) into a
 * {@link Domain}, or returns a reason why it is not one.
 *
 * @since 0.1.0
 */
export const fromJson = (input: unknown): Domain | string => {
  if (!Array.isArray(input)) return "a domain is a list"
  let pos = 0
  const parse = (): Domain | string => {
    if (pos >= input.length) return "an operator is missing an operand"
    const term: unknown = input[pos++]
    if (term === "&" || term === "|") {
      const left = parse()
      if (typeof left === "string") return left
      const right = parse()
      if (typeof right === "string") return right
      return term === "&" ? and(left, right) : or(left, right)
    }
    if (term === "!") {
      const item = parse()
      return typeof item === "string" ? item : not(item)
    }
    if (!Array.isArray(term) || term.length !== 3) return `term ${pos - 1} is not a leaf [field, operator, value]`
    const [field, operator, value] = term as [unknown, unknown, unknown]
    if (typeof field !== "string" || field.length === 0) return `term ${pos - 1}: the field must be a name`
    if (typeof operator !== "string" || !operators.has(operator)) return `term ${pos - 1}: unknown operator ${String(operator)}`
    if (!(isScalar(value) || (Array.isArray(value) && value.every(isScalar)))) {
      return `term ${pos - 1}: the value must be a scalar or a list of scalars`
    }
    return leaf(field, operator as Operator, value as Value)
  }
  const items: Array<Domain> = []
  while (pos < input.length) {
    const d = parse()
    if (typeof d === "string") return d
    items.push(d)
  }
  return and(...items)
}
