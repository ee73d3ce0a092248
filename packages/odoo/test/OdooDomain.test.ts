/**
 * The domain builder renders prefix notation that means what the tree says: evaluated by the
 * fake's ORM, `and` is intersection, `or` union, `not` complement, and parsing a rendered domain
 * gives it back.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { FakeDatabase } from "../src/internal/fake/database.js"
import * as D from "../src/OdooDomain.js"

const db = new FakeDatabase({ version: 18, now: () => Date.UTC(2026, 0, 1), helpdesk: false, deliveryState: false })
const names = ["Ada", "Grace", "Linus", "ada lovelace", "Ken", "Barbara", "100% Cotton", "under_score"]
names.forEach((name, i) =>
  db.create("res.partner", {
    name,
    is_company: i % 3 === 0,
    zip: i % 2 === 0 ? `1000${i}` : false,
    parent_id: i > 2 && i % 2 === 1 ? 1 : false
  })
)
const everyone = db.search("res.partner", [])
const run = (domain: D.Domain) => new Set(db.search("res.partner", D.toJson(domain)))

const leaf: FastCheck.Arbitrary<D.Domain> = FastCheck.oneof(
  FastCheck.constantFrom(...names, "ad", "%", "_", "zz").chain((v) =>
    FastCheck.constantFrom<D.Operator>("=", "!=", "ilike", "not ilike", "like", "=ilike").map((op) => D.leaf("name", op, v))
  ),
  FastCheck.boolean().map((b) => D.eq("is_company", b)),
  FastCheck.constantFrom<D.Scalar>(false, "10000", "10002", "2").chain((v) =>
    FastCheck.constantFrom<D.Operator>("=", "!=", ">", "<=").map((op) => D.leaf("zip", op, v))
  ),
  FastCheck.integer({ min: 0, max: 20 }).chain((v) =>
    FastCheck.constantFrom<D.Operator>("=", "!=", ">", ">=", "<", "<=").map((op) => D.leaf("id", op, v))
  ),
  FastCheck.subarray(everyone).map((ids) => D.isIn("id", ids)),
  FastCheck.constantFrom<D.Scalar>(false, 1, "My Company").map((v) => D.eq("parent_id", v)),
  FastCheck.constantFrom("My", "Company").map((v) => D.ilike("parent_id.name", v))
)

const tree: FastCheck.Arbitrary<D.Domain> = FastCheck.letrec<{ node: D.Domain }>((tie) => ({
  node: FastCheck.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    FastCheck.array(tie("node"), { maxLength: 3 }).map((items) => D.and(...items)),
    FastCheck.array(tie("node"), { minLength: 1, maxLength: 3 }).map((items) => D.or(...items)),
    tie("node").map(D.not)
  )
})).node

describe("OdooDomain", () => {
  it("and is intersection, or is union, not is complement", () => {
    FastCheck.assert(
      FastCheck.property(tree, tree, (a, b) => {
        const sa = run(a)
        const sb = run(b)
        expect(run(D.and(a, b))).toEqual(new Set([...sa].filter((id) => sb.has(id))))
        expect(run(D.or(a, b))).toEqual(new Set([...sa, ...sb]))
        expect(run(D.not(a))).toEqual(new Set(everyone.filter((id) => !sa.has(id))))
      }),
      { numRuns: 400 }
    )
  })

  it("parsing a rendered domain gives the same domain", () => {
    FastCheck.assert(
      FastCheck.property(tree, (d) => {
        const parsed = D.fromJson(JSON.parse(JSON.stringify(D.toJson(d))))
        expect(typeof parsed).not.toBe("string")
        expect(D.toJson(parsed as D.Domain)).toEqual(D.toJson(d))
      }),
      { numRuns: 1000 }
    )
  })

  it("renders Odoo's prefix notation", () => {
    const d = "2026-11-27 11:21:26"
    expect(D.toJson(D.and(D.isIn("state", ["sale", "done"]), D.or(D.gt("write_date", d), D.and(D.eq("write_date", d), D.gt("id", 42))))))
      .toEqual(["&", ["state", "in", ["sale", "done"]], "|", ["write_date", ">", d], "&", ["write_date", "=", d], ["id", ">", 42]])
    expect(D.toJson(D.all)).toEqual([])
    expect(D.toJson(D.and(D.all, D.eq("id", 1)))).toEqual([["id", "=", 1]])
    expect(run(D.or())).toEqual(new Set())
    expect(run(D.and())).toEqual(new Set(everyone))
  })

  it("names what is wrong with a domain it cannot parse", () => {
    expect(D.fromJson("x")).toBe("a domain is a list")
    expect(D.fromJson(["&", ["id", "=", 1]])).toBe("an operator is missing an operand")
    expect(D.fromJson([["id", "~", 1]])).toBe("term 0: unknown operator ~")
    expect(D.fromJson([["id", "=", { a: 1 }]])).toBe("term 0: the value must be a scalar or a list of scalars")
  })
})
