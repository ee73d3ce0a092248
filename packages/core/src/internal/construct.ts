/**
 * Trusted construction of Schema classes on the hot path.
 *
 * `new Cls(props, true)` skips validation but still copies `props` twice, deletes `_tag` (which
 * drops the copy into V8's slow dictionary mode) and walks every field for constructor defaults:
 * ~3-7 µs for an event or a record, several times per ingested event. {@link trusted} builds the
 * same instance (same prototype, same own keys in the same order, so equal by `Equal.equals` and
 * by `JSON.stringify`) in a fraction of that. `test/Construct.test.ts` checks the equivalence.
 *
 * Only for props that are complete and valid by construction: every field present that the
 * class would default, nothing extra, values of the right types.
 *
 * @internal
 */

/** A class whose instances are built from their fields (a Schema `Class`). */
type FieldsClass<A> = abstract new (props: any, options?: any) => A

/**
 * The instance `new Cls(props, true)` makes, for a class whose fields have no constructor
 * defaults (`Schema.Class`): `props`' own keys in their order.
 *
 * @internal
 */
export const trusted = <A>(Cls: FieldsClass<A>, props: { readonly [K in keyof A]?: A[K] }): A =>
  Object.assign(Object.create(Cls.prototype), props)

/**
 * The instance `new Cls({ ...a, ...b }, true)` makes for a `Schema.TaggedClass`: the fields but
 * `_tag` of the sources in their order, then `_tag` (the class re-adds its tag last, as a
 * constructor default).
 *
 * @internal
 */
export const trustedTagged = <A extends { readonly _tag: string }>(
  Cls: FieldsClass<A>,
  tag: A["_tag"],
  ...sources: ReadonlyArray<object>
): A => {
  const out = Object.create(Cls.prototype)
  for (const props of sources) {
    for (const key of Object.keys(props)) if (key !== "_tag") out[key] = (props as Record<string, unknown>)[key]
  }
  out._tag = tag
  return out
}
