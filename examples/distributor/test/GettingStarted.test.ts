import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

// docs/getting-started.md quotes the snippet files region by region; the snippets are compiled
// with the example, so the guide's code compiles too as long as the quotes match.
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../../..")
const guide = fs.readFileSync(path.join(root, "docs/getting-started.md"), "utf8")

const regions = (file: string): Map<string, string> => {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  const out = new Map<string, string>()
  for (const m of text.matchAll(/\/\/ #region (\S+)\n([\s\S]*?)\/\/ #endregion \1/g)) out.set(m[1]!, m[2]!.trimEnd())
  return out
}

const quotes = [...guide.matchAll(/<!-- snippet: (\S+?)#(\S+) -->\n```ts\n([\s\S]*?)\n```/g)].map((m) => ({
  file: m[1]!,
  region: m[2]!,
  code: m[3]!
}))

describe("docs/getting-started.md", () => {
  it("quotes every snippet region exactly as it is in the compiled files", () => {
    const files = [
      "examples/distributor/src/snippets/EffectHost.ts",
      "examples/distributor/src/snippets/PromiseHost.ts",
      "examples/distributor/src/snippets/PromiseHostRedis.ts"
    ]
    const expected = files.flatMap((file) => [...regions(file)].map(([region, code]) => ({ file, region, code })))
    expect(expected.length).toBeGreaterThanOrEqual(6)
    expect(quotes.map((q) => `${q.file}#${q.region}`).sort()).toEqual(expected.map((e) => `${e.file}#${e.region}`).sort())
    for (const e of expected) {
      expect(quotes.find((q) => q.file === e.file && q.region === e.region)?.code, `${e.file}#${e.region}`).toBe(e.code)
    }
  })

  it("has no TypeScript block that is not a quoted snippet", () => {
    const tsBlocks = [...guide.matchAll(/```ts\n/g)].length
    expect(tsBlocks).toBe(quotes.length)
  })

  it("gives exactly two Quick start commands: install and run the demo, run the tests", () => {
    const block = /<!-- quick-start -->\n```sh\n([\s\S]*?)\n```/.exec(guide)?.[1]
    expect(block?.split("\n")).toEqual(["pnpm install && pnpm demo", "pnpm test"])
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }
    expect(pkg.scripts["demo"]).toBe("pnpm --filter @waybill/example-distributor start")
    expect(pkg.scripts["test"]).toBe("vitest run")
  })
})
