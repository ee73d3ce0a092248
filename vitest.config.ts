import { defineConfig } from "vitest/config"

// Workspace packages resolve to their `src` through the "source" export condition, so tests
// run without a build.
export default defineConfig({
  resolve: { conditions: ["source", "module", "node", "import", "default"] },
  ssr: { resolve: { conditions: ["source", "module", "node", "import", "default"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    setupFiles: ["./vitest.setup.ts"],
    // Two files at a time, also on 2-core machines (vitest's default there is one): much of the
    // suite waits on Redis, child processes or timers. Safe since every worker breathes between
    // tests (vitest.setup.ts); before that a long synchronous stretch tripped vitest's RPC timeout.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 60_000
  }
})
