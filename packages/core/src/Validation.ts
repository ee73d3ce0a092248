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
    const formatted = ParseResult.ArrayFormatter.formatErrorSync(error)
    const issues = formatted.map((i) => new Issue({ path: i.path.map(String).join("."), message: i.message }))
    return new ValidationError({
      reason: "Invalid",
      module: options.module,
      method: options.method,
      schema: options.schema,
      issues: issues.length > 0 ? (issues as [Issue, ...Array<Issue>]) : [new Issue({ path: "", message: error.message })]
    })
  }
}

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
