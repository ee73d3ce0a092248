import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

// Workspace packages resolve to their `src` through the "source" export condition, so tests
// run without a build.
export default defineConfig({
  resolve: { conditions: ["source", "module", "node", "import", "default"] },
  ssr: { resolve: { conditions: ["source", "module", "node", "import", "default"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    // Vitest's default (one worker less than the cores) runs the files one after the other on a
    // 2-core machine, and the suites that mostly wait (worker processes, Redis) then hold up
    // the rest: two at a time took the whole suite from ~480 s to ~275 s there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    minWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
