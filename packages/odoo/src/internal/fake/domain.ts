/**
 * Domain evaluation for the Odoo fake: parses prefix-notation domains and evaluates them on
 * records, with Odoo's semantics for `false` (not set), many2one ids, x2many "any", `like`
 * wildcards and naive UTC datetimes.
 *
 * @internal
 */
import { repr, reprTuple } from "./python.js"

/** What the evaluator needs from the database. */
export interface Resolver {
  /** The field type and relation, or undefined when the model has no such field. */
  readonly field: (model: string, name: string) => { readonly type: string; readonly relation?: string | undefined } | undefined
  /** The raw value of a field: ids for relations (`false` when not set), epoch ms for datetimes. */
  readonly raw: (model: string, id: number, name: string) => unknown
  readonly displayName: (model: string, id: number) => string
}

export type Node =
  | { readonly _tag: "Leaf"; readonly path: ReadonlyArray<string>; readonly op: string; readonly value: unknown; readonly constant?: boolean }
  | { readonly _tag: "And" | "Or"; readonly left: Node; readonly right: Node }
  | { readonly _tag: "Not"; readonly item: Node }
  | { readonly _tag: "True" }

/** A domain the server refuses, with the exception Odoo raises. */
export class DomainError extends Error {
  constructor(readonly pyName: string, message: string) {
    super(message)
  }
}

const OPERATORS = new Set([
  "=",
  "!=",
  "<>",
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
  "parent_of",
  "any",
  "not any"
])

/** Parses and validates a domain for `model`; `word` is "leaf" (17/18) or "condition" (19). */
export const parse = (resolver: Resolver, model: string, domain: unknown, word: "leaf" | "condition"): Node => {
  if (!Array.isArray(domain)) throw new DomainError("builtins.ValueError", `Invalid domain: ${repr(domain)}`)
  let pos = 0
  const one = (): Node => {
    if (pos >= domain.length) throw new DomainError("builtins.ValueError", `Invalid domain: ${repr(domain)}`)
    const term: unknown = domain[pos++]
    if (term === "&" || term === "|") {
      const left = one()
      const right = one()
      return { _tag: term === "&" ? "And" : "Or", left, right }
    }
    if (term === "!") return { _tag: "Not", item: one() }
    if (!Array.isArray(term) || term.length !== 3) {
      throw new DomainError("builtins.ValueError", `Invalid ${word} ${repr(term)}`)
    }
    const [field, op, value] = term as [unknown, unknown, unknown]
    // TRUE_LEAF (1, '=', 1) and FALSE_LEAF (0, '=', 1)
    if (typeof field === "number" && op === "=" && value === 1) {
      return { _tag: "Leaf", path: [], op: field === 1 ? "true" : "false", value, constant: true }
    }
    if (typeof op !== "string" || !OPERATORS.has(op)) {
      throw new DomainError("builtins.ValueError", `Invalid operator ${repr(op)} in ${word} ${reprTuple(term)}`)
    }
    if (typeof field !== "string") throw new DomainError("builtins.ValueError", `Invalid field ${repr(field)} in ${word} ${reprTuple(term)}`)
    const path = field.split(".")
    let current = model
    for (let i = 0; i < path.length; i++) {
      const def = resolver.field(current, path[i]!)
      if (def === undefined) {
        throw new DomainError("builtins.ValueError", `Invalid field ${current}.${path[i]} in ${word} ${reprTuple(term)}`)
      }
      if (i < path.length - 1) {
        if (def.relation === undefined) {
          throw new DomainError("builtins.ValueError", `Invalid field ${current}.${path[i]} in ${word} ${reprTuple(term)}`)
        }
        current = def.relation
      }
    }
    return { _tag: "Leaf", path, op, value }
  }
  const items: Array<Node> = []
  while (pos < domain.length) items.push(one())
  if (items.length === 0) return { _tag: "True" }
  return items.reduceRight((acc, n) => ({ _tag: "And", left: n, right: acc }))
}

const likeRegex = (pattern: string, insensitive: boolean, anchored: boolean): RegExp => {
  let src = ""
  for (const ch of pattern) {
    if (ch === "%") src += "[\\s\\S]*"
    else if (ch === "_") src += "[\\s\\S]"
    else src += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  }
  return new RegExp(anchored ? `^${src}$` : src, insensitive ? "i" : "")
}

const naive = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$/

/** A domain value compared with a datetime field: naive UTC strings become epoch ms. */
const toMillis = (value: unknown): unknown => {
  if (typeof value !== "string") return value
  const m = naive.exec(value)
  if (m === null) return value
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0))
}

const compare = (a: unknown, b: unknown): number | undefined => {
  if (typeof a === "number" && typeof b === "number") return a - b
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b)
  return undefined
}

/** Evaluates one operator on one scalar raw value (not set = false). */
const test = (
  resolver: Resolver,
  relation: string | undefined,
  type: string,
  raw: unknown,
  op: string,
  value: unknown
): boolean => {
  const isDate = type === "datetime"
  const v = isDate ? (Array.isArray(value) ? value.map(toMillis) : toMillis(value)) : value
  const unset = raw === false || raw === null || raw === undefined || raw === ""
  const asText = (): string | undefined => {
    if (unset) return undefined
    if (relation !== undefined && typeof raw === "number") return resolver.displayName(relation, raw)
    return String(raw)
  }
  switch (op) {
    case "=":
      if (v === false) return unset
      if (relation !== undefined && typeof v === "string") return asText() === v
      return !unset && raw === v
    case "!=":
    case "<>":
      if (v === false) return !unset
      if (relation !== undefined && typeof v === "string") return asText() !== v
      return unset || raw !== v
    case ">":
    case ">=":
    case "<":
    case "<=": {
      if (unset) return false
      const c = compare(raw, v)
      if (c === undefined) return false
      return op === ">" ? c > 0 : op === ">=" ? c >= 0 : op === "<" ? c < 0 : c <= 0
    }
    case "in":
    case "not in": {
      const list = Array.isArray(v) ? v : [v]
      const hit = list.some((item) => (item === false ? unset : !unset && item === raw))
      return op === "in" ? hit : !hit
    }
    case "like":
    case "ilike":
    case "=like":
    case "=ilike":
    case "not like":
    case "not ilike": {
      if (v === false) return op.startsWith("not") ? !unset : unset
      const text = asText()
      const insensitive = op.includes("ilike")
      const anchored = op.startsWith("=")
      const hit = text !== undefined && likeRegex(String(v), insensitive, anchored).test(text)
      return op.startsWith("not") ? text === undefined || !hit : hit
    }
    case "child_of":
    case "parent_of": {
      const list = Array.isArray(v) ? v : [v]
      return !unset && list.includes(raw)
    }
    default:
      return false
  }
}

/** Evaluates a parsed domain on record `id` of `model`. */
export const evaluate = (resolver: Resolver, model: string, node: Node, id: number): boolean => {
  switch (node._tag) {
    case "True":
      return true
    case "And":
      return evaluate(resolver, model, node.left, id) && evaluate(resolver, model, node.right, id)
    case "Or":
      return evaluate(resolver, model, node.left, id) || evaluate(resolver, model, node.right, id)
    case "Not":
      return !evaluate(resolver, model, node.item, id)
    case "Leaf": {
      if (node.constant === true) return node.op === "true"
      // Walk the path; every x2many step means "any of".
      let frontier: Array<{ model: string; id: number }> = [{ model, id }]
      for (let i = 0; i < node.path.length - 1; i++) {
        const next: Array<{ model: string; id: number }> = []
        for (const at of frontier) {
          const def = resolver.field(at.model, node.path[i]!)!
          const raw = resolver.raw(at.model, at.id, node.path[i]!)
          const ids = Array.isArray(raw) ? (raw as Array<number>) : typeof raw === "number" ? [raw] : []
          for (const nextId of ids) next.push({ model: def.relation!, id: nextId })
        }
        frontier = next
      }
      const last = node.path[node.path.length - 1]!
      const negative = node.op === "!=" || node.op === "<>" || node.op === "not in" || node.op.startsWith("not ")
      if (frontier.length === 0) return negative || (node.op === "=" && node.value === false)
      return frontier.some((at) => {
        const def = resolver.field(at.model, last)!
        const raw = resolver.raw(at.model, at.id, last)
        if (def.type === "one2many" || def.type === "many2many") {
          const ids = Array.isArray(raw) ? (raw as Array<number>) : []
          if (node.op === "=" && node.value === false) return ids.length === 0
          if (node.op === "!=" && node.value === false) return ids.length > 0
          if (negative) {
            return ids.length === 0 || ids.every((x) => test(resolver, def.relation, "integer", x, node.op, node.value))
          }
          return ids.some((x) => test(resolver, def.relation, "integer", x, node.op, node.value))
        }
        return test(resolver, def.relation, def.type, raw, node.op, node.value)
      })
    }
  }
}
