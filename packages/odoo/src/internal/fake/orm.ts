/**
 * The in-memory ORM of the Odoo fake: records, fields, x2many commands, defaults, domains,
 * ordering, `read` formatting, method dispatch with Odoo's argument binding, and the exceptions
 * Odoo raises, with their JSON-2 HTTP statuses.
 *
 * @internal
 */
import * as Domain from "./domain.js"
import { repr } from "./python.js"

export type Version = 17 | 18 | 19
export type Transport = "jsonrpc" | "json2"

/** A Python exception as Odoo sends it. */
export class OdooException extends Error {
  constructor(
    readonly pyName: string,
    message: string,
    /** HTTP status on JSON-2. */
    readonly status: number,
    /** `arguments` of the error payload (werkzeug exceptions carry the status too). */
    readonly args: ReadonlyArray<unknown> = [message]
  ) {
    super(message)
  }
}

export const userError = (m: string) => new OdooException("odoo.exceptions.UserError", m, 422)
export const validationError = (m: string) => new OdooException("odoo.exceptions.ValidationError", m, 422)
export const accessError = (m: string) => new OdooException("odoo.exceptions.AccessError", m, 403)
export const accessDenied = () => new OdooException("odoo.exceptions.AccessDenied", "Access Denied", 401)
export const missingError = (m: string) => new OdooException("odoo.exceptions.MissingError", m, 404)
export const valueError = (m: string) => new OdooException("builtins.ValueError", m, 500)
export const keyError = (m: string) => new OdooException("builtins.KeyError", m, 500)
export const typeError = (m: string) => new OdooException("builtins.TypeError", m, 500)
export const attributeError = (m: string) => new OdooException("builtins.AttributeError", m, 500)
export const werkzeug = (name: string, m: string, status: number) =>
  new OdooException(`werkzeug.exceptions.${name}`, m, status, [m, status])

/** A method result that is a recordset (serialized per version and transport). */
export class Recordset {
  constructor(readonly model: string, readonly ids: ReadonlyArray<number>) {}
}

/** A method result that `create` produced (an int for one dict on JSON-RPC, else a list). */
export class Created {
  constructor(readonly ids: ReadonlyArray<number>, readonly single: boolean) {}
}

export type FieldType =
  | "char"
  | "text"
  | "html"
  | "integer"
  | "float"
  | "monetary"
  | "boolean"
  | "selection"
  | "many2one"
  | "one2many"
  | "many2many"
  | "date"
  | "datetime"
  | "json"
  | "binary"

export type Rec = { id: number; [field: string]: unknown }
export type Context = Readonly<Record<string, unknown>>

export interface FieldDef {
  readonly type: FieldType
  readonly string: string
  readonly relation?: string
  /** one2many: the many2one on the relation pointing back. */
  readonly inverse?: string
  readonly selection?: ReadonlyArray<readonly [string, string]>
  readonly readonly?: boolean
  /** Computed on read (not stored); writes are ignored. */
  readonly compute?: (rec: Rec) => unknown
  readonly default?: (vals: Record<string, unknown>, context: Context) => unknown
  /** The model named in "Wrong value for <owner>.<field>" (inherited fields). */
  readonly owner?: string
}

export interface Call {
  readonly model: string
  readonly method: string
  readonly ids: ReadonlyArray<number>
  readonly context: Context
  readonly transport: Transport
}

export interface MethodDef {
  /** `@api.model`: no records. */
  readonly model?: boolean
  readonly params: ReadonlyArray<string>
  readonly required?: ReadonlyArray<string>
  /** `**kwargs`: any keyword goes; `read_format`: unknown keywords fail inside `_read_format`. */
  readonly varKw?: "any" | "read_format"
  readonly run: (call: Call, kw: Record<string, unknown>) => unknown
}

export interface ModelDef {
  readonly name: string
  readonly description: string
  readonly fields: Record<string, FieldDef>
  /** Default `_order`. */
  readonly order: string
  readonly methods: Record<string, MethodDef>
  /** Private methods that exist (18 answers AttributeError for the others). */
  readonly privateMethods?: ReadonlyArray<string>
  readonly displayName?: (rec: Rec) => string
  readonly onCreate?: (rec: Rec, context: Context) => void
  readonly afterCreate?: (rec: Rec, context: Context) => void
  readonly beforeWrite?: (recs: ReadonlyArray<Rec>, vals: Record<string, unknown>) => void
  readonly afterWrite?: (recs: ReadonlyArray<Rec>, vals: Record<string, unknown>) => void
  readonly beforeUnlink?: (recs: ReadonlyArray<Rec>) => void
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0")

export const formatDateTime = (ms: number): string => {
  const d = new Date(ms)
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${
    pad(d.getUTCMinutes())
  }:${pad(d.getUTCSeconds())}`
}

export const formatDate = (ms: number): string => formatDateTime(ms).slice(0, 10)

const NAIVE = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.\d+)?)?$/

const parseDateTime = (value: unknown): number | false => {
  if (value === false || value === null || value === undefined) return false
  if (typeof value === "number") return value
  const m = NAIVE.exec(String(value))
  if (m === null) throw valueError(`time data ${repr(value)} does not match format '%Y-%m-%d %H:%M:%S'`)
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0))
}

const isCommandList = (value: unknown): value is ReadonlyArray<ReadonlyArray<unknown>> =>
  Array.isArray(value) && value.every((c) => Array.isArray(c))

/** Field constructors. */
export const F = {
  char: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "char", string, ...extra }),
  text: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "text", string, ...extra }),
  html: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "html", string, ...extra }),
  int: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "integer", string, ...extra }),
  float: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "float", string, ...extra }),
  money: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "monetary", string, ...extra }),
  bool: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "boolean", string, ...extra }),
  sel: (string: string, selection: ReadonlyArray<readonly [string, string]>, extra: Partial<FieldDef> = {}): FieldDef => ({
    type: "selection",
    string,
    selection,
    ...extra
  }),
  m2o: (relation: string, string: string, extra: Partial<FieldDef> = {}): FieldDef => ({
    type: "many2one",
    relation,
    string,
    ...extra
  }),
  o2m: (relation: string, inverse: string, string: string, extra: Partial<FieldDef> = {}): FieldDef => ({
    type: "one2many",
    relation,
    inverse,
    string,
    ...extra
  }),
  m2m: (relation: string, string: string, extra: Partial<FieldDef> = {}): FieldDef => ({
    type: "many2many",
    relation,
    string,
    ...extra
  }),
  date: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "date", string, ...extra }),
  datetime: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "datetime", string, ...extra }),
  json: (string: string, extra: Partial<FieldDef> = {}): FieldDef => ({ type: "json", string, ...extra })
}

/** The ORM: tables, generic methods and dispatch. Models are registered by the database. */
export class Orm implements Domain.Resolver {
  readonly models = new Map<string, ModelDef>()
  readonly tables = new Map<string, Map<number, Rec>>()
  readonly sequences = new Map<string, number>()
  readonly uid = 2

  constructor(readonly version: Version, readonly now: () => number) {}

  // -- registry ---------------------------------------------------------------------------------

  define(
    def: Omit<ModelDef, "methods" | "fields"> & {
      readonly fields: Record<string, FieldDef>
      readonly methods?: Record<string, MethodDef>
    }
  ): void {
    const self = this
    const fields: Record<string, FieldDef> = {
      id: F.int("ID", { readonly: true }),
      display_name: F.char("Display Name", {
        readonly: true,
        compute: (rec) => self.displayName(def.name, rec.id)
      }),
      create_date: F.datetime("Created on", { readonly: true }),
      write_date: F.datetime("Last Updated on", { readonly: true }),
      create_uid: F.m2o("res.users", "Created by", { readonly: true }),
      write_uid: F.m2o("res.users", "Last Updated by", { readonly: true }),
      ...def.fields
    }
    this.models.set(def.name, { ...def, fields, methods: def.methods ?? {} })
    if (!this.tables.has(def.name)) this.tables.set(def.name, new Map())
  }

  hasModel(model: string): boolean {
    return this.models.has(model)
  }

  model(model: string): ModelDef {
    const def = this.models.get(model)
    if (def === undefined) throw userError(`Object ${model} doesn't exist`)
    return def
  }

  field(model: string, name: string): FieldDef | undefined {
    return this.models.get(model)?.fields[name]
  }

  table(model: string): Map<number, Rec> {
    let t = this.tables.get(model)
    if (t === undefined) this.tables.set(model, (t = new Map()))
    return t
  }

  get(model: string, id: number): Rec | undefined {
    return this.table(model).get(id)
  }

  need(model: string, id: number): Rec {
    const rec = this.get(model, id)
    if (rec === undefined) throw this.missing(model, [id])
    return rec
  }

  all(model: string): Array<Rec> {
    return [...this.table(model).values()]
  }

  missing(model: string, ids: ReadonlyArray<number>): OdooException {
    const tuple = ids.length === 1 ? `(${ids[0]},)` : `(${ids.join(", ")})`
    return missingError(`Record does not exist or has been deleted.\n(Record: ${model}${tuple}, User: ${this.uid})`)
  }

  nextSequence(key: string, start = 1): number {
    const n = this.sequences.get(key) ?? start
    this.sequences.set(key, n + 1)
    return n
  }

  /** Sets the next id of a model (to line ids up with a real database). */
  seedSequence(model: string, next: number): void {
    this.sequences.set(`id:${model}`, next)
  }

  // -- values -----------------------------------------------------------------------------------

  displayName(model: string, id: number): string {
    const def = this.models.get(model)
    const rec = this.get(model, id)
    if (def === undefined || rec === undefined) return ""
    if (def.displayName !== undefined) return def.displayName(rec)
    const name = rec.name
    return typeof name === "string" ? name : `${model},${id}`
  }

  /** The raw value of a field (ids for relations, epoch ms for datetimes, false when not set). */
  raw(model: string, id: number, name: string): unknown {
    const rec = this.get(model, id)
    if (rec === undefined) return false
    return this.rawOf(model, rec, name)
  }

  rawOf(model: string, rec: Rec, name: string): unknown {
    if (name === "id") return rec.id
    const def = this.field(model, name)
    if (def === undefined) return undefined
    if (def.compute !== undefined) return def.compute(rec)
    if (def.type === "one2many") {
      const inverse = def.inverse!
      return this.all(def.relation!)
        .filter((r) => r[inverse] === rec.id)
        .map((r) => r.id)
        .sort((a, b) => a - b)
    }
    const value = rec[name]
    if (value === undefined) return this.typeDefault(def)
    return value
  }

  typeDefault(def: FieldDef): unknown {
    switch (def.type) {
      case "boolean":
        return false
      case "integer":
      case "float":
      case "monetary":
        return 0
      case "one2many":
      case "many2many":
        return []
      default:
        return false
    }
  }

  format(def: FieldDef, raw: unknown): unknown {
    switch (def.type) {
      case "many2one":
        return typeof raw === "number" && this.get(def.relation!, raw) !== undefined
          ? [raw, this.displayName(def.relation!, raw)]
          : false
      case "datetime":
        return typeof raw === "number" ? formatDateTime(raw) : false
      case "date":
        return typeof raw === "number" ? formatDate(raw) : typeof raw === "string" ? raw : false
      case "one2many":
      case "many2many":
        return Array.isArray(raw) ? [...raw] : []
      case "integer":
      case "float":
      case "monetary":
        return typeof raw === "number" ? raw : 0
      case "boolean":
        return raw === true
      default:
        return raw === undefined || raw === null ? false : raw
    }
  }

  // -- generic ORM ------------------------------------------------------------------------------

  unknownField(model: string, name: string, on: "create" | "write" | "read"): OdooException {
    if (this.version >= 19) {
      return on === "write" ? keyError(name) : valueError(`Invalid field ${repr(name)} in ${repr(model)}`)
    }
    return valueError(`Invalid field ${repr(name)} on model ${repr(model)}`)
  }

  private checkValue(model: string, name: string, def: FieldDef, value: unknown): unknown {
    switch (def.type) {
      case "selection":
        if (value === false || value === null) return false
        if (def.selection !== undefined && !def.selection.some(([k]) => k === value)) {
          throw valueError(`Wrong value for ${def.owner ?? model}.${name}: ${repr(value)}`)
        }
        return value
      case "many2one":
        if (value === false || value === null || value === 0) return false
        if (typeof value !== "number") throw valueError(`Wrong value for ${model}.${name}: ${repr(value)}`)
        return value
      case "datetime":
        return parseDateTime(value)
      case "date":
        if (value === false || value === null) return false
        if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value)) return value.slice(0, 10)
        throw valueError(`time data ${repr(value)} does not match format '%Y-%m-%d'`)
      case "integer":
      case "float":
      case "monetary":
        if (value === false || value === null) return 0
        if (typeof value !== "number") throw valueError(`Wrong value for ${model}.${name}: ${repr(value)}`)
        return value
      case "boolean":
        return value === true || value === 1
      default:
        return value === null ? false : value
    }
  }

  /** Applies x2many commands; returns the children to create once the parent exists. */
  private applyX2many(
    model: string,
    rec: Rec,
    name: string,
    def: FieldDef,
    value: unknown,
    context: Context,
    deferred: Array<() => void>
  ): void {
    const commands: ReadonlyArray<ReadonlyArray<unknown>> = isCommandList(value)
      ? value
      : Array.isArray(value)
      ? [[6, 0, value]]
      : value === false
      ? [[5, 0, 0]]
      : (() => {
        throw valueError(`Wrong value for ${model}.${name}: ${repr(value)}`)
      })()
    const relation = def.relation!
    const childContext = Object.fromEntries(Object.entries(context).filter(([k]) => !k.startsWith("default_")))
    if (def.type === "one2many") {
      const inverse = def.inverse!
      for (const command of commands) {
        const [code, id, vals] = command as [number, number, Record<string, unknown> | ReadonlyArray<number>]
        switch (code) {
          case 0:
            deferred.push(() => {
              this.create(relation, { ...(vals as Record<string, unknown>), [inverse]: rec.id }, childContext)
            })
            break
          case 1:
            deferred.push(() => this.write(relation, [id], vals as Record<string, unknown>, childContext))
            break
          case 2:
            deferred.push(() => this.unlink(relation, [id]))
            break
          case 3:
            deferred.push(() => this.write(relation, [id], { [inverse]: false }, childContext))
            break
          case 4:
            deferred.push(() => this.write(relation, [id], { [inverse]: rec.id }, childContext))
            break
          case 5:
            deferred.push(() => {
              for (const child of this.rawOf(model, rec, name) as Array<number>) {
                this.write(relation, [child], { [inverse]: false }, childContext)
              }
            })
            break
          case 6:
            deferred.push(() => {
              for (const child of this.rawOf(model, rec, name) as Array<number>) {
                this.write(relation, [child], { [inverse]: false }, childContext)
              }
              for (const child of vals as ReadonlyArray<number>) this.write(relation, [child], { [inverse]: rec.id }, childContext)
            })
            break
          default:
            throw valueError(`Invalid command ${repr(command)} for ${model}.${name}`)
        }
      }
      return
    }
    let ids = Array.isArray(rec[name]) ? [...(rec[name] as Array<number>)] : []
    for (const command of commands) {
      const [code, id, vals] = command as [number, number, Record<string, unknown> | ReadonlyArray<number>]
      switch (code) {
        case 0: {
          const child = this.create(relation, vals as Record<string, unknown>, childContext)
          ids.push(child)
          break
        }
        case 1:
          this.write(relation, [id], vals as Record<string, unknown>, childContext)
          break
        case 2:
          this.unlink(relation, [id])
          ids = ids.filter((x) => x !== id)
          break
        case 3:
          ids = ids.filter((x) => x !== id)
          break
        case 4:
          if (!ids.includes(id)) ids.push(id)
          break
        case 5:
          ids = []
          break
        case 6:
          ids = [...(vals as ReadonlyArray<number>)]
          break
        default:
          throw valueError(`Invalid command ${repr(command)} for ${model}.${name}`)
      }
    }
    rec[name] = ids
  }

  create(model: string, vals: Readonly<Record<string, unknown>>, context: Context = {}): number {
    const def = this.model(model)
    for (const name of Object.keys(vals)) {
      if (def.fields[name] === undefined) throw this.unknownField(model, name, "create")
    }
    const id = this.nextSequence(`id:${model}`)
    const now = this.now()
    const rec: Rec = { id, create_date: now, write_date: now, create_uid: this.uid, write_uid: this.uid }
    const deferred: Array<() => void> = []
    const withDefaults: Record<string, unknown> = { ...vals }
    for (const [name, field] of Object.entries(def.fields)) {
      if (name in withDefaults || field.compute !== undefined || field.type === "one2many") continue
      const fromContext = context[`default_${name}`]
      if (fromContext !== undefined) withDefaults[name] = fromContext
      else if (field.default !== undefined) withDefaults[name] = field.default(withDefaults, context)
    }
    for (const [name, value] of Object.entries(withDefaults)) {
      const field = def.fields[name]!
      if (field.compute !== undefined || ["id", "create_date", "write_date", "create_uid", "write_uid"].includes(name)) continue
      if (field.type === "one2many" || field.type === "many2many") {
        this.applyX2many(model, rec, name, field, value, context, deferred)
      } else {
        rec[name] = this.checkValue(model, name, field, value)
      }
    }
    def.onCreate?.(rec, context)
    this.table(model).set(id, rec)
    for (const run of deferred) run()
    def.afterCreate?.(rec, context)
    return id
  }

  write(model: string, ids: ReadonlyArray<number>, vals: Readonly<Record<string, unknown>>, context: Context = {}): void {
    const def = this.model(model)
    const missing = ids.filter((id) => this.get(model, id) === undefined)
    if (missing.length > 0) throw this.missing(model, missing)
    for (const name of Object.keys(vals)) {
      if (def.fields[name] === undefined) throw this.unknownField(model, name, "write")
    }
    const recs = ids.map((id) => this.get(model, id)!)
    def.beforeWrite?.(recs, { ...vals })
    const now = this.now()
    const deferred: Array<() => void> = []
    for (const rec of recs) {
      for (const [name, value] of Object.entries(vals)) {
        const field = def.fields[name]!
        if (field.compute !== undefined || ["id", "create_date", "write_date", "create_uid", "write_uid"].includes(name)) continue
        if (field.type === "one2many" || field.type === "many2many") {
          this.applyX2many(model, rec, name, field, value, context, deferred)
        } else {
          rec[name] = this.checkValue(model, name, field, value)
        }
      }
      rec.write_date = now
      rec.write_uid = this.uid
    }
    for (const run of deferred) run()
    def.afterWrite?.(recs, { ...vals })
  }

  /** Updates stored values from workflow code (no validation, bumps `write_date`). */
  touch(model: string, id: number, vals: Record<string, unknown>): void {
    const rec = this.need(model, id)
    Object.assign(rec, vals)
    rec.write_date = this.now()
  }

  unlink(model: string, ids: ReadonlyArray<number>): void {
    const def = this.model(model)
    const missing = ids.filter((id) => this.get(model, id) === undefined)
    if (missing.length > 0) throw this.missing(model, missing)
    def.beforeUnlink?.(ids.map((id) => this.get(model, id)!))
    for (const id of ids) this.table(model).delete(id)
  }

  private parseOrder(model: string, order: string): Array<{ field: string; desc: boolean }> {
    return order
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part.length > 0)
      .map((part) => {
        const [field = "id", dir = "asc"] = part.split(/\s+/)
        if (this.field(model, field) === undefined) throw valueError(`Invalid "order" specified (${order}).`)
        return { field, desc: dir.toLowerCase() === "desc" }
      })
  }

  search(
    model: string,
    domain: unknown,
    options: {
      readonly offset?: number | undefined
      readonly limit?: number | undefined | false | null
      readonly order?: string | undefined | false | null
      readonly context?: Context | undefined
    } = {}
  ): Array<number> {
    const def = this.model(model)
    let node: Domain.Node
    try {
      node = Domain.parse(this, model, domain ?? [], this.version >= 19 ? "condition" : "leaf")
    } catch (e) {
      if (e instanceof Domain.DomainError) throw new OdooException(e.pyName, e.message, 500)
      throw e
    }
    const activeTest = options.context?.active_test !== false && def.fields.active !== undefined &&
      !JSON.stringify(domain ?? []).includes("\"active\"")
    const ids = this.all(model)
      .filter((rec) => !activeTest || rec.active !== false)
      .filter((rec) => Domain.evaluate(this, model, node, rec.id))
      .map((rec) => rec.id)
    const order = this.parseOrder(model, typeof options.order === "string" && options.order !== "" ? options.order : def.order)
    ids.sort((a, b) => {
      for (const { field, desc } of order) {
        const ra = this.raw(model, a, field)
        const rb = this.raw(model, b, field)
        const va = typeof ra === "number" || typeof ra === "string" ? ra : null
        const vb = typeof rb === "number" || typeof rb === "string" ? rb : null
        if (va === vb) continue
        // NULLs last in ascending order, first in descending (PostgreSQL)
        if (va === null) return desc ? -1 : 1
        if (vb === null) return desc ? 1 : -1
        const c = va < vb ? -1 : 1
        return desc ? -c : c
      }
      return 0
    })
    const offset = options.offset ?? 0
    const limit = typeof options.limit === "number" ? options.limit : undefined
    return ids.slice(offset, limit !== undefined ? offset + limit : undefined)
  }

  read(model: string, ids: ReadonlyArray<number>, fields: ReadonlyArray<string> | undefined | null | false): Array<Record<string, unknown>> {
    const def = this.model(model)
    const names = fields === undefined || fields === null || fields === false || fields.length === 0
      ? Object.keys(def.fields).filter((f) => def.fields[f]!.type !== "binary")
      : fields
    for (const name of names) if (def.fields[name] === undefined) throw this.unknownField(model, name, "read")
    const out: Array<Record<string, unknown>> = []
    for (const id of ids) {
      const rec = this.get(model, id)
      if (rec === undefined) continue // reading a deleted id returns nothing, without error
      const row: Record<string, unknown> = { id }
      for (const name of names) {
        if (name === "id") continue
        row[name] = this.format(def.fields[name]!, this.rawOf(model, rec, name))
      }
      out.push(row)
    }
    return out
  }

  fieldsGet(model: string, allfields: unknown, attributes: unknown): Record<string, Record<string, unknown>> {
    const def = this.model(model)
    const names = Array.isArray(allfields) && allfields.length > 0
      ? (allfields as Array<string>).filter((n) => def.fields[n] !== undefined)
      : Object.keys(def.fields)
    const wanted = Array.isArray(attributes) ? new Set(attributes as Array<string>) : undefined
    const out: Record<string, Record<string, unknown>> = {}
    for (const name of names.sort()) {
      const field = def.fields[name]!
      const desc: Record<string, unknown> = {
        type: field.type,
        string: field.string,
        readonly: field.readonly === true || field.compute !== undefined,
        ...(field.selection !== undefined ? { selection: field.selection.map(([k, v]) => [k, v]) } : {}),
        ...(field.relation !== undefined ? { relation: field.relation } : {})
      }
      const picked: Record<string, unknown> = {}
      for (const key of Object.keys(desc).sort()) if (wanted === undefined || wanted.has(key)) picked[key] = desc[key]
      out[name] = picked
    }
    return out
  }

  // -- dispatch ---------------------------------------------------------------------------------

  genericMethods(): Record<string, MethodDef> {
    return {
      create: {
        model: true,
        params: ["vals_list"],
        required: ["vals_list"],
        run: (call, kw) => {
          const input = kw.vals_list
          const list = Array.isArray(input) ? input : [input]
          const ids = list.map((vals) => this.create(call.model, (vals ?? {}) as Record<string, unknown>, call.context))
          return new Created(ids, !Array.isArray(input))
        }
      },
      read: {
        params: ["fields", "load"],
        run: (call, kw) => this.read(call.model, call.ids, kw.fields as ReadonlyArray<string> | undefined)
      },
      write: {
        params: ["vals"],
        required: ["vals"],
        run: (call, kw) => {
          this.write(call.model, call.ids, (kw.vals ?? {}) as Record<string, unknown>, call.context)
          return true
        }
      },
      unlink: {
        params: [],
        run: (call) => {
          this.unlink(call.model, call.ids)
          return true
        }
      },
      search: {
        model: true,
        params: ["domain", "offset", "limit", "order"],
        run: (call, kw) =>
          this.search(call.model, kw.domain, {
            offset: kw.offset as number | undefined,
            limit: kw.limit as number | undefined,
            order: kw.order as string | undefined,
            context: call.context
          })
      },
      search_count: {
        model: true,
        params: ["domain", "limit"],
        run: (call, kw) => this.search(call.model, kw.domain, { limit: kw.limit as number | undefined, context: call.context }).length
      },
      search_read: {
        model: true,
        params: ["domain", "fields", "offset", "limit", "order"],
        varKw: "read_format",
        run: (call, kw) => {
          const ids = this.search(call.model, kw.domain, {
            offset: kw.offset as number | undefined,
            limit: kw.limit as number | undefined,
            order: kw.order as string | undefined,
            context: call.context
          })
          return this.read(call.model, ids, kw.fields as ReadonlyArray<string> | undefined)
        }
      },
      fields_get: {
        model: true,
        params: ["allfields", "attributes"],
        run: (call, kw) => this.fieldsGet(call.model, kw.allfields, kw.attributes)
      }
    }
  }

  /**
   * Runs a public method as `execute_kw` or JSON-2 would: model and method checks (with each
   * version's messages), argument binding, then the method.
   */
  execute(input: {
    readonly model: string
    readonly method: string
    readonly transport: Transport
    /** JSON-RPC: the raw positional args (ids first for record methods). */
    readonly args?: ReadonlyArray<unknown> | undefined
    /** JSON-2: the `ids` key. */
    readonly ids?: unknown
    readonly kwargs: Readonly<Record<string, unknown>>
    readonly context: Context
  }): unknown {
    const { model, method, transport } = input
    const json2 = transport === "json2"
    const def = this.models.get(model)
    if (def === undefined) {
      throw json2 ? werkzeug("NotFound", `the model ${repr(model)} does not exist`, 404) : userError(`Object ${model} doesn't exist`)
    }
    const quoted = `'${model}.${method}'`
    if (method.startsWith("_")) {
      const exists = def.privateMethods?.includes(method) === true
      if (!json2 && this.version === 17) throw accessError(`Private methods (such as ${method}) cannot be called remotely.`)
      if (!json2 && this.version === 18 && !exists) throw attributeError(`The method ${quoted} does not exist`)
      throw accessError(`Private methods (such as ${quoted}) cannot be called remotely.`)
    }
    const impl = def.methods[method] ?? this.genericMethods()[method]
    if (impl === undefined) {
      if (json2) throw werkzeug("NotFound", `The method ${quoted} does not exist`, 404)
      throw attributeError(
        this.version === 17 ? `The method '${method}' does not exist on the model '${model}'` : `The method ${quoted} does not exist`
      )
    }
    let ids: ReadonlyArray<number> = []
    let positional: ReadonlyArray<unknown> = []
    if (json2) {
      if (input.ids !== undefined) {
        if (impl.model === true) throw werkzeug("UnprocessableEntity", `cannot call ${model}.${method} with ids`, 422)
        ids = toIds(input.ids)
      }
    } else {
      const args = input.args ?? []
      if (impl.model === true) positional = args
      else {
        if (args.length === 0) throw typeError(`${method}() missing 1 required positional argument: 'self'`)
        ids = toIds(args[0])
        positional = args.slice(1)
      }
    }
    const kw = bind(impl, positional, input.kwargs, transport, model, method)
    return impl.run({ model, method, ids, context: input.context, transport }, kw)
  }
}

const toIds = (value: unknown): ReadonlyArray<number> => {
  if (typeof value === "number") return [value]
  if (Array.isArray(value) && value.every((v) => typeof v === "number")) return value as ReadonlyArray<number>
  throw valueError(`Invalid ids ${repr(value)}`)
}

const bind = (
  impl: MethodDef,
  positional: ReadonlyArray<unknown>,
  kwargs: Readonly<Record<string, unknown>>,
  transport: Transport,
  model: string,
  method: string
): Record<string, unknown> => {
  const kw: Record<string, unknown> = {}
  if (positional.length > impl.params.length && impl.varKw === undefined) {
    throw typeError(`${method}() takes ${impl.params.length + 1} positional arguments but ${positional.length + 1} were given`)
  }
  positional.forEach((value, i) => {
    const name = impl.params[i]
    if (name !== undefined) kw[name] = value
  })
  const unexpected: Array<string> = []
  for (const [name, value] of Object.entries(kwargs)) {
    if (impl.params.includes(name)) kw[name] = value
    else if (impl.varKw === "any") kw[name] = value
    else unexpected.push(name)
  }
  for (const name of impl.required ?? []) {
    if (!(name in kw)) {
      throw transport === "json2"
        ? werkzeug("UnprocessableEntity", `missing a required argument: '${name}'`, 422)
        : typeError(`${model}.${method}() missing 1 required positional argument: '${name}'`)
    }
  }
  const first = unexpected[0]
  if (first !== undefined) {
    if (impl.varKw === "read_format") throw typeError(`BaseModel._read_format() got an unexpected keyword argument '${first}'`)
    throw transport === "json2"
      ? werkzeug("UnprocessableEntity", `got an unexpected keyword argument '${first}'`, 422)
      : typeError(`${method}() got an unexpected keyword argument '${first}'`)
  }
  return kw
}
