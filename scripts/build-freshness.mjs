/**
 * Whether workspace packages' builds (`dist/`) are older than their sources. The benchmarks
 * refuse a stale build (they measure what ships); the multi-process test runs its worker
 * processes on the build only when it is current.
 */
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const packages = fileURLToPath(new URL("../packages/", import.meta.url))

/** The newest modification time of any file under `dir` (0 when it does not exist). */
const newest = (dir) => {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  let max = 0
  for (const entry of entries) {
    const path = join(dir, entry.name)
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return max
}

/** The packages (`"core"` → `packages/core`) whose build is missing or older than their sources. */
export const staleBuilds = (names) =>
  names.filter((name) => {
    const src = newest(join(packages, name, "src"))
    return src > 0 && newest(join(packages, name, "dist")) < src
  })
