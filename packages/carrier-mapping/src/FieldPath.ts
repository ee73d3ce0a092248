/**
 * The small path language a mapping config uses to point into a partner's JSON payload.
 *
 * ```text
 * path     := scope? step*
 * scope    := "$"            the payload root
 *           | "^"+           an enclosing element of the event: "^" the nearest, "^^" the next, …
 *           | (nothing)      the event itself
 * step     := "." name       a property: letters, digits and _ @ : -   (e.g. .addressLocality, .@type)
 *           | "[" n "]"      an array element, n ≥ 0
 *           | "[*]"          every element of an array (only in the `events` path)
 *           | "[" "\"…\"" "]"  a property with any other name, as a JSON string (e.g. ["weight (kg)"])
 * ```
 *
 * A path may start with a bare name (`location.address.countryCode` is `.location.address.countryCode`
 * relative to the event). Examples: `shipments[*].events[*]` (the events path of DHL's unified
 * tracking response), `^.id` (the id of the shipment that holds the event), `$.webhook_id`,
 * `details["dgf:routes"][0]`.
 *
 * The `events` path is absolute and may contain `[*]`; each `[*]` opens an enclosing element
 * that field paths reach with `^`. Field paths select one value and never contain `[*]`.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"

/**
 * One step of a path.
 *
 * @since 0.1.0
 */
export type Step =
  | { readonly _tag: "Key"; readonly key: string }
  | { readonly _tag: "Index"; readonly index: number }
  | { readonly _tag: "Each" }

/**
 * Where a path starts.
 *
 * @since 0.1.0
 */
export type Scope =
  | { readonly _tag: "Root" }
  | { readonly _tag: "Event" }
  | { readonly _tag: "Up"; readonly levels: number }

/**
 * A parsed path.
 *
 * @since 0.1.0
 */
export interface FieldPath {
  readonly source: string
  readonly scope: Scope
  readonly steps: ReadonlyArray<Step>
}

/** Longest path accepted, in characters. @since 0.1.0 */
export const maxLength = 500
/** Most steps in one path. @since 0.1.0 */
export const maxSteps = 32

const NAME = /[A-Za-z0-9_@:-]/

/**
 * Parses a path, or says what is wrong with it and where.
 *
 * @example
 * ```ts
 * import { FieldPath } from "@waybill/carrier-mapping"
 * FieldPath.parse("shipments[*].events[*]") // Right({ scope: Root, steps: [Key shipments, Each, Key events, Each] })
 * FieldPath.parse("shipments[*.events")     // Left('expected "]" after "*" at position 11')
 * ```
 *
 * @since 0.1.0
 */
export const parse = (source: string): Either.Either<FieldPath, string> => {
  if (source.length === 0) return Either.left("a path must not be empty")
  if (source.length > maxLength) return Either.left(`a path is at most ${maxLength} characters`)
  let i = 0
  let scope: Scope = { _tag: "Event" }
  if (source[0] === "$") {
    scope = { _tag: "Root" }
    i = 1
  } else if (source[0] === "^") {
    let levels = 0
    while (source[i] === "^") {
      levels++
      i++
    }
    scope = { _tag: "Up", levels }
  }
  const steps: Array<Step> = []
  const at = (pos: number) => `at position ${pos + 1}`
  const readName = (): Either.Either<string, string> => {
    const start = i
    while (i < source.length && NAME.test(source[i]!)) i++
    if (i === start) {
      const c = source[i]
      return Either.left(
        c === undefined ? `expected a property name at the end` : `unexpected "${c}" ${at(i)} (expected a property name)`
      )
    }
    return Either.right(source.slice(start, i))
  }
  // A bare name may open a path relative to the event.
  if (scope._tag === "Event") {
    if (source[0] !== "[") {
      const name = readName()
      if (Either.isLeft(name)) return Either.left(name.left)
      steps.push({ _tag: "Key", key: name.right })
    }
  }
  while (i < source.length) {
    const c = source[i]!
    if (c === ".") {
      i++
      const name = readName()
      if (Either.isLeft(name)) return Either.left(name.left)
      steps.push({ _tag: "Key", key: name.right })
    } else if (c === "[") {
      const open = i
      i++
      if (source[i] === "*") {
        i++
        if (source[i] !== "]") return Either.left(`expected "]" after "*" ${at(i)}`)
        i++
        steps.push({ _tag: "Each" })
      } else if (source[i] === '"') {
        // A JSON string literal: find its closing quote, honouring escapes.
        let j = i + 1
        while (j < source.length && source[j] !== '"') j += source[j] === "\\" ? 2 : 1
        if (j >= source.length) return Either.left(`unterminated quoted name opened ${at(i)}`)
        const literal = source.slice(i, j + 1)
        let key: unknown
        try {
          key = JSON.parse(literal)
        } catch {
          return Either.left(`invalid quoted name ${literal} ${at(i)}`)
        }
        if (typeof key !== "string" || key.length === 0) return Either.left(`a quoted name must not be empty ${at(i)}`)
        i = j + 1
        if (source[i] !== "]") return Either.left(`expected "]" ${at(i)}`)
        i++
        steps.push({ _tag: "Key", key })
      } else {
        const start = i
        while (i < source.length && source[i]! >= "0" && source[i]! <= "9") i++
        if (i === start) {
          return Either.left(
            source[i] === undefined
              ? `unclosed "[" ${at(open)}`
              : `unexpected "${source[i]}" ${at(i)} (expected an index, * or a quoted name)`
          )
        }
        if (i - start > 9) return Either.left(`index too large ${at(start)}`)
        if (source[i] !== "]") return Either.left(`expected "]" ${at(i)}`)
        steps.push({ _tag: "Index", index: Number(source.slice(start, i)) })
        i++
      }
    } else {
      return Either.left(`unexpected "${c}" ${at(i)} (expected "." or "[")`)
    }
    if (steps.length > maxSteps) return Either.left(`a path has at most ${maxSteps} steps`)
  }
  return Either.right({ source, scope, steps })
}

/**
 * How many `[*]` a path has.
 *
 * @since 0.1.0
 */
export const wildcards = (path: FieldPath): number => path.steps.filter((s) => s._tag === "Each").length

/**
 * How many enclosing elements (`^` levels) an event selected by this `events` path has: one per
 * `[*]` plus the root, minus the event itself when the path ends with `[*]`.
 *
 * @since 0.1.0
 */
export const enclosingLevels = (eventsPath: FieldPath): number => {
  const last = eventsPath.steps[eventsPath.steps.length - 1]
  const wild = wildcards(eventsPath)
  if (eventsPath.steps.length === 0) return 0
  return last?._tag === "Each" ? wild : wild + 1
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const step = (value: unknown, s: Step): unknown => {
  if (s._tag === "Key") return isRecord(value) && Object.prototype.hasOwnProperty.call(value, s.key) ? value[s.key] : undefined
  if (s._tag === "Index") return Array.isArray(value) ? value[s.index] : undefined
  return undefined
}

/**
 * One event found by the `events` path, with its enclosing elements (outermost first: the root,
 * then the element of each `[*]` above the event) and where it was found.
 *
 * @since 0.1.0
 */
export interface Located {
  readonly value: unknown
  readonly enclosing: ReadonlyArray<unknown>
  readonly at: string
}

const describe = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : `a ${typeof u}`

/**
 * Finds every element an `events` path selects. A missing or `null` value on the way yields no
 * events; a value of the wrong kind (a string where `[*]` needs an array) is an error. Every
 * element of an array the last `[*]` iterates is an event, `null` included (the caller refuses
 * it as malformed rather than skipping it).
 *
 * @since 0.1.0
 */
export const select = (path: FieldPath, root: unknown, limit: number): Either.Either<ReadonlyArray<Located>, string> => {
  const out: Array<Located> = []
  let overflow = false
  const walk = (value: unknown, from: number, enclosing: ReadonlyArray<unknown>, at: string): string | undefined => {
    let current = value
    let where = at
    for (let k = from; k < path.steps.length; k++) {
      const s = path.steps[k]!
      if (current === undefined || current === null) return undefined
      if (s._tag === "Each") {
        if (!Array.isArray(current)) return `expected an array at ${where === "" ? "$" : where}, found ${describe(current)}`
        const isLast = k === path.steps.length - 1
        for (let n = 0; n < current.length; n++) {
          const element = current[n]
          if (isLast) {
            // An element of the event list is an event, whatever it holds: a `null` one is
            // handed on (and refused as malformed), never skipped.
            if (out.length >= limit) {
              overflow = true
              return undefined
            }
            out.push({ value: element, enclosing, at: `${where}[${n}]` })
            continue
          }
          const error = walk(element, k + 1, [...enclosing, element], `${where}[${n}]`)
          if (error !== undefined) return error
          if (overflow) return undefined
        }
        return undefined
      }
      if (s._tag === "Key") {
        if (!isRecord(current)) return `expected an object at ${where === "" ? "$" : where}, found ${describe(current)}`
        where = where === "" ? s.key : `${where}.${s.key}`
      } else {
        if (!Array.isArray(current)) return `expected an array at ${where === "" ? "$" : where}, found ${describe(current)}`
        where = `${where}[${s.index}]`
      }
      current = step(current, s)
    }
    if (current === undefined || current === null) return undefined
    if (out.length >= limit) {
      overflow = true
      return undefined
    }
    out.push({ value: current, enclosing, at: where === "" ? "$" : where })
    return undefined
  }
  const error = walk(root, 0, path.steps.length === 0 ? [] : [root], "")
  if (error !== undefined) return Either.left(error)
  if (overflow) return Either.left(`more than ${limit} events`)
  return Either.right(out)
}

/**
 * Reads the value a field path selects for one located event (`undefined` when absent).
 *
 * @since 0.1.0
 */
export const get = (path: FieldPath, root: unknown, event: Located): unknown => {
  let current: unknown
  switch (path.scope._tag) {
    case "Root":
      current = root
      break
    case "Event":
      current = event.value
      break
    case "Up":
      current = event.enclosing[event.enclosing.length - path.scope.levels]
      break
  }
  for (const s of path.steps) {
    if (current === undefined || current === null) return undefined
    current = step(current, s)
  }
  return current
}
