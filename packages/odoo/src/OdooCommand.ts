/**
 * x2many write commands (`one2many` / `many2many` values in `create` and `write`).
 *
 * Odoo never takes a plain id list for an x2many field on write: it takes command triples. These
 * helpers build them with the numbers Odoo's `Command` class uses.
 *
 * @example
 * ```ts
 * import { OdooCommand } from "@waybill/odoo"
 *
 * client.create("sale.order", {
 *   partner_id: 7,
 *   order_line: [OdooCommand.create({ product_id: 2, product_uom_qty: 3 })]
 * })
 * ```
 *
 * @since 0.1.0
 */

/**
 * Field values for `create` / `write`.
 *
 * @since 0.1.0
 */
export type Values = Readonly<Record<string, unknown>>

/**
 * One x2many command.
 *
 * @since 0.1.0
 */
export type Command =
  | readonly [0, 0, Values]
  | readonly [1, number, Values]
  | readonly [2, number, 0]
  | readonly [3, number, 0]
  | readonly [4, number, 0]
  | readonly [5, 0, 0]
  | readonly [6, 0, ReadonlyArray<number>]

/** Create a new record with `values` and link it. @since 0.1.0 */
export const create = (values: Values): Command => [0, 0, values]
/** Update the linked record `id` with `values`. @since 0.1.0 */
export const update = (id: number, values: Values): Command => [1, id, values]
/** Delete the record `id` (and unlink it). @since 0.1.0 */
export const remove = (id: number): Command => [2, id, 0]
/** Unlink the record `id` without deleting it. @since 0.1.0 */
export const unlink = (id: number): Command => [3, id, 0]
/** Link the existing record `id`. @since 0.1.0 */
export const link = (id: number): Command => [4, id, 0]
/** Unlink every record. @since 0.1.0 */
export const clear = (): Command => [5, 0, 0]
/** Replace the linked records by `ids`. @since 0.1.0 */
export const set = (ids: ReadonlyArray<number>): Command => [6, 0, ids]
