/**
 * The benchmarks measure what ships: the packages' built `dist/` (tsup's ESM), not their sources
 * run through tsx (whose `keepNames` wraps every closure in a naming call and costs the pipeline
 * about a fifth of its speed). Imported first by each benchmark: it stops with a clear message when
 * a package's sources are newer than its build, so a figure is never taken on stale code.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const packages = fileURLToPath(new URL("../../packages/", import.meta.url))

/** The newest modification time of any file under `dir` (0 when it does not exist). */
const newest = (dir: string): number => {
  let max = 0
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return max
}

/** The workspace packages the benchmarks import (`@waybill/core` → `packages/core`). */
const used = Object.keys(
  (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string> }).dependencies
)
  .filter((name) => name.startsWith("@waybill/"))
  .map((name) => name.slice("@waybill/".length))

const stale = used.filter((name) => {
  const src = newest(join(packages, name, "src"))
  return src > 0 && newest(join(packages, name, "dist")) < src
})
if (stale.length > 0) {
  console.error(`bench: the build of ${stale.map((n) => `packages/${n}`).join(", ")} is older than its sources; run \`pnpm build\` first (the benchmarks measure the built packages)`)
  process.exit(1)
}
