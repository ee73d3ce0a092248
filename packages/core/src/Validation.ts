/**
 * Decoding untrusted input into the canonical model.
 *
 * Nothing unvalidated enters the core: adapters and hosts decode with {@link decodeUnknown},
 * which fails with a {@link ValidationError} naming every offending path and the rule it broke.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import * as Pii from "./Pii.js"

/**
 * One broken rule: where (a dotted path such as `lines.0.unitPrice.currency`) and what.
 *
 * @since 0.1.0
 */
export class Issue extends Schema.Class<Issue>("Issue")({
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * Untrusted input did not match a canonical schema. Permanent: retrying the same input fails
 * the same way, so the runtime keeps it as a dead letter.
 *
 * @since 0.1.0
 */
export class ValidationError extends Schema.TaggedError<ValidationError>("@waybill/core/ValidationError")(
  "ValidationError",
  {
    reason: Schema.Literal("Invalid"),
    module: Schema.String,
    method: Schema.String,
    schema: Schema.String,
    issues: Schema.NonEmptyArray(Issue)
  }
) {
  override get message(): string {
    const shown = this.issues.slice(0, 5).map((i) => `${i.path === "" ? "(root)" : i.path}: ${i.message}`)
    const more = this.issues.length > 5 ? ` (and ${this.issues.length - 5} more)` : ""
    return `invalid ${this.schema}: ${shown.join("; ")}${more}`
  }

  /**
   * Translates a `ParseError` into a `ValidationError` for the given schema.
   *
   * @since 0.1.0
   */
  static fromParseError(
    error: ParseResult.ParseError,
    options: { readonly schema: string; readonly module: string; readonly method: string }
  ): ValidationError {
    const safe = redact(error)
    const formatted = ParseResult.ArrayFormatter.formatErrorSync(safe)
    const issues = formatted.map((i) => new Issue({ path: i.path.map(String).join("."), message: i.message }))
    return new ValidationError({
      reason: "Invalid",
      module: options.module,
      method: options.method,
      schema: options.schema,
      issues: issues.length > 0 ? (issues as [Issue, ...Array<Issue>]) : [new Issue({ path: "", message: safe.message })]
    })
  }
}

/** What a failure shows of a personal value in place of the value: its size, never its content. */
class Withheld {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
  toJSON(): string {
    return this.text
  }
}

/** The stand-in for a personal value; `null`, `undefined` and booleans say nothing and stay. */
const withhold = (actual: unknown): unknown =>
  actual === null || actual === undefined || typeof actual === "boolean" || actual instanceof Withheld
    ? actual
    : new Withheld(
      typeof actual === "string"
        ? `<redacted, ${actual.length} characters>`
        : `<redacted ${Array.isArray(actual) ? "array" : typeof actual}>`
    )

/** Whether a value at a node of this schema holds a personal field somewhere inside. */
const holdsPersonal = (ast: AST.AST): boolean => Pii.paths(Schema.make(ast)).length > 0

/**
 * The issue with every personal value withheld: under a node annotated with `Pii` (the field
 * itself, or a structure marked as a whole) each `actual` becomes `<redacted, N characters>` and
 * messages baked from the value by a filter are dropped (the formatter then names the rule from
 * the schema: `Expected a string at most 200 character(s) long, actual <redacted, 312
 * characters>`). Above it, a value of a schema holding a personal field is withheld too, and so
 * is that same value wherever else it shows up (a union member's `Expected number, actual {...}`).
 */
const redactIssue = (
  issue: ParseResult.ParseIssue,
  personal: boolean,
  held: Set<unknown>
): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Pointer":
      return new ParseResult.Pointer(
        issue.path,
        personal || held.has(issue.actual) ? withhold(issue.actual) : issue.actual,
        redactIssue(issue.issue, personal, held)
      )
    case "Unexpected":
      return personal || held.has(issue.actual) ? new ParseResult.Unexpected(withhold(issue.actual)) : issue
    case "Missing":
      return issue
    default: {
      const inside = personal || Pii.kindOf(issue.ast) !== undefined
      const hide = inside || held.has(issue.actual) || holdsPersonal(issue.ast)
      if (hide && withhold(issue.actual) !== issue.actual) held.add(issue.actual)
      const actual = hide ? withhold(issue.actual) : issue.actual
      switch (issue._tag) {
        case "Type":
          return new ParseResult.Type(issue.ast, actual, inside ? undefined : issue.message)
        case "Forbidden":
          return new ParseResult.Forbidden(issue.ast, actual, inside ? undefined : issue.message)
        case "Refinement":
          return new ParseResult.Refinement(issue.ast, actual, issue.kind, redactIssue(issue.issue, inside, held))
        case "Transformation":
          return new ParseResult.Transformation(issue.ast, actual, issue.kind, redactIssue(issue.issue, inside, held))
        case "Composite": {
          const issues = Array.isArray(issue.issues)
            ? (issue.issues.map((i) => redactIssue(i, inside, held)) as unknown as ParseResult.SingleOrNonEmpty<
              ParseResult.ParseIssue
            >)
            : redactIssue(issue.issues as ParseResult.ParseIssue, inside, held)
          return hide
            ? new ParseResult.Composite(issue.ast, actual, issues)
            : new ParseResult.Composite(issue.ast, actual, issues, issue.output)
        }
      }
    }
  }
}

/**
 * The same failure with every value of a field annotated as personal data ({@link Pii})
 * withheld: its path and the rule it broke stay, its content is replaced by
 * `<redacted, N characters>`. The error's `message` (and so a dead letter's description or a
 * log line made of it) quotes no personal value; other values are quoted as before.
 *
 * @example
 * ```ts
 * // "pod.signedBy: Expected a string at most 200 character(s) long, actual <redacted, 312 characters>"
 * Validation.redact(error).message
 * ```
 *
 * @since 0.2.0
 */
export const redact = (error: ParseResult.ParseError): ParseResult.ParseError =>
  ParseResult.parseError(redactIssue(error.issue, false, new Set()))

const schemaName = (schema: Schema.Schema.Any): string =>
  Option.getOrElse(
    Option.orElse(AST.getIdentifierAnnotation(schema.ast), () =>
      AST.isTransformation(schema.ast) ? AST.getIdentifierAnnotation(schema.ast.to) : Option.none()
    ),
    () => "input"
  )

/**
 * Decodes untrusted input, collecting every issue, or fails with a {@link ValidationError}.
 *
 * @example
 * ```ts
 * import { Order, Validation } from "@waybill/core"
 * const order = Validation.decodeUnknownEither(Order.Order)(json)
 * ```
 *
 * @since 0.1.0
 */
export const decodeUnknownEither =
  <A, I>(schema: Schema.Schema<A, I, never>, options?: { readonly module?: string; readonly method?: string }) =>
  (input: unknown): Either.Either<A, ValidationError> =>
    Either.mapLeft(Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })(input), (error) =>
      ValidationError.fromParseError(error, {
        schema: schemaName(schema),
        module: options?.module ?? "@waybill/core/Validation",
        method: options?.method ?? "decodeUnknown"
      })
    )

/**
 * Effectful form of {@link decodeUnknownEither}.
 *
 * @since 0.1.0
 */
export const decodeUnknown =
  <A, I>(schema: Schema.Schema<A, I, never>, options?: { readonly module?: string; readonly method?: string }) =>
  (input: unknown): Effect.Effect<A, ValidationError> =>
    decodeUnknownEither(schema, options)(input)
