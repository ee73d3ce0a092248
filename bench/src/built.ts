/**
 * The benchmarks measure what ships: the packages' built `dist/` (tsup's ESM), not their sources
 * run through tsx (whose `keepNames` wraps every closure in a naming call and costs the pipeline
 * about a fifth of its speed). Imported first by each benchmark: it stops with a clear message when
 * a package's sources are newer than its build, so a figure is never taken on stale code.
 */
import { readFileSync } from "node:fs"
import { staleBuilds } from "../../scripts/build-freshness.mjs"

/** The workspace packages the benchmarks import (`@waybill/core` → `packages/core`). */
const used = Object.keys(
  (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string> }).dependencies
)
  .filter((name) => name.startsWith("@waybill/"))
  .map((name) => name.slice("@waybill/".length))

const stale = staleBuilds(used)
if (stale.length > 0) {
  console.error(`bench: the build of ${stale.map((n) => `packages/${n}`).join(", ")} is older than its sources; run \`pnpm build\` first (the benchmarks measure the built packages)`)
  process.exit(1)
}
