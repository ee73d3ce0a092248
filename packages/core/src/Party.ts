/**
 * Parties (customers, consignees, carriers) and their postal addresses.
 * Personal data is annotated with {@link Pii}.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Pii from "./Pii.js"

const Text = (max: number) =>
  Schema.String.pipe(
    Schema.minLength(1, { message: () => "must not be empty" }),
    Schema.maxLength(max, { message: () => `must be at most ${max} characters` })
  )

/**
 * An ISO 3166-1 alpha-2 country code.
 *
 * @since 0.1.0
 */
export const CountryCode = Schema.String.pipe(
  Schema.pattern(/^[A-Z]{2}$/, { message: () => "a country must be an ISO 3166-1 alpha-2 code such as US or DE" }),
  Schema.brand("CountryCode")
).annotations({
  identifier: "CountryCode",
  arbitrary: () => (fc) => fc.constantFrom("US", "DE", "FR", "GB", "NL", "BE").map((c) => c as CountryCode)
})

/** @since 0.1.0 */
export type CountryCode = typeof CountryCode.Type

/**
 * A postal address. Street lines and postal code are personal data; city, region and country
 * are kept by the default privacy policy because support needs them.
 *
 * @since 0.1.0
 */
export class Address extends Schema.Class<Address>("Address")({
  street: Text(200).pipe(Pii.pii("street")),
  street2: Schema.optionalWith(Text(200).pipe(Pii.pii("street")), { exact: true }),
  postalCode: Schema.optionalWith(Text(20).pipe(Pii.pii("postal_code")), { exact: true }),
  city: Text(120),
  region: Schema.optionalWith(Text(120), { exact: true }),
  country: CountryCode
}) {}

/**
 * A person or organisation.
 *
 * @since 0.1.0
 */
export class Party extends Schema.Class<Party>("Party")({
  id: Ids.PartyId,
  companyId: Ids.CompanyId,
  refs: ExternalRefs.ExternalRefs,
  name: Text(200).pipe(Pii.pii("name")),
  email: Schema.optionalWith(
    Schema.String.pipe(
      Schema.maxLength(254),
      Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: () => "an email looks like name@example.com" })
    ).pipe(Pii.pii("email")),
    { exact: true }
  ),
  phone: Schema.optionalWith(
    Schema.String.pipe(
      Schema.pattern(/^\+?[0-9 ()./-]{4,30}$/, { message: () => "a phone number has 4 to 30 digits and separators" })
    ).pipe(Pii.pii("phone")),
    { exact: true }
  ),
  address: Schema.optionalWith(Address, { exact: true })
}) {}
