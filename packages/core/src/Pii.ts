/**
 * Personal data markers.
 *
 * Fields that hold personal data carry a `Pii` annotation naming their kind. A privacy policy
 * (per destination: helpdesk, notifier, finance) reads these annotations with {@link paths}
 * and strips or masks the fields before anything leaves the process.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/**
 * The annotation key for personal data.
 *
 * @since 0.1.0
 */
export const PiiAnnotationId: unique symbol = Symbol.for("@waybill/core/Pii")

/**
 * What kind of personal data a field holds.
 *
 * @since 0.1.0
 */
export type PiiKind = "name" | "email" | "phone" | "street" | "postal_code" | "signature" | "free_text"

/**
 * Marks a schema as holding personal data of the given kind.
 *
 * @since 0.1.0
 */
export const pii =
  (kind: PiiKind) =>
  <S extends Schema.Schema.Any>(schema: S): S =>
    schema.annotations({ [PiiAnnotationId]: kind }) as S

/**
 * Reads the personal-data kind of an AST node, looking through optional (`| undefined`) unions,
 * refinements (`Schema.String.pipe(pii("email"), Schema.maxLength(254))`) and transformations
 * (`Schema.OptionFromNullOr(Schema.String.pipe(pii("name")))`: its encoded form holds the name).
 *
 * @since 0.1.0
 */
export const kindOf = (ast: AST.AST): PiiKind | undefined => {
  const own = AST.getAnnotation<PiiKind>(PiiAnnotationId)(ast)
  if (Option.isSome(own)) return own.value
  if (AST.isRefinement(ast)) return kindOf(ast.from)
  if (AST.isTransformation(ast)) return kindOf(ast.from) ?? kindOf(ast.to)
  if (AST.isUnion(ast)) {
    for (const member of ast.types) {
      const kind = kindOf(member)
      if (kind !== undefined) return kind
    }
  }
  return undefined
}

/**
 * A personal-data field: its path in the encoded value (`"*"` stands for any array element or
 * record value) and its kind.
 *
 * @since 0.1.0
 */
export interface PiiPath {
  readonly path: ReadonlyArray<string>
  readonly kind: PiiKind
  /** Whether the field may be absent (a policy can drop it) or must stay (a policy masks it). */
  readonly optional: boolean
}

const walk = (ast: AST.AST, prefix: ReadonlyArray<string>, out: Array<PiiPath>, seen: Set<AST.AST>): void => {
  if (seen.has(ast)) return
  switch (ast._tag) {
    case "Transformation":
      return walk(ast.from, prefix, out, seen)
    case "Refinement":
      return walk(ast.from, prefix, out, seen)
    case "Suspend": {
      seen.add(ast)
      return walk(ast.f(), prefix, out, seen)
    }
    case "Union":
      for (const member of ast.types) walk(member, prefix, out, seen)
      return
    case "TupleType":
      // An element cannot be removed without changing the array: a policy that drops it masks it.
      for (const element of ast.elements) field(element.type, [...prefix, "*"], false, out, seen)
      for (const rest of ast.rest) field(rest.type, [...prefix, "*"], false, out, seen)
      return
    case "TypeLiteral":
      for (const ps of ast.propertySignatures) field(ps.type, [...prefix, String(ps.name)], ps.isOptional, out, seen)
      for (const is of ast.indexSignatures) field(is.type, [...prefix, "*"], true, out, seen)
      return
    default:
      return
  }
}

/** A field, an array element or a record value: personal data itself, or a structure to walk. */
const field = (ast: AST.AST, path: ReadonlyArray<string>, optional: boolean, out: Array<PiiPath>, seen: Set<AST.AST>) => {
  const kind = kindOf(ast)
  if (kind !== undefined) out.push({ path, kind, optional })
  else walk(ast, path, out, seen)
}

/**
 * Lists every personal-data field of a schema's encoded form, deduplicated.
 *
 * @example
 * ```ts
 * import { Party, Pii } from "@waybill/core"
 * Pii.paths(Party.Party) // [{ path: ["name"], kind: "name" }, { path: ["email"], kind: "email" }, ...]
 * ```
 *
 * @since 0.1.0
 */
export const paths = (schema: Schema.Schema.Any): ReadonlyArray<PiiPath> => {
  const cached = cache.get(schema.ast)
  if (cached !== undefined) return cached
  const out: Array<PiiPath> = []
  walk(schema.ast, [], out, new Set())
  const unique = new Map<string, PiiPath>()
  for (const p of out) unique.set(p.path.join("."), p)
  const result = [...unique.values()]
  cache.set(schema.ast, result)
  return result
}

const cache = new WeakMap<AST.AST, ReadonlyArray<PiiPath>>()
