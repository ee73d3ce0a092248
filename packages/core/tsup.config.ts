import { defineConfig } from "tsup"

export default defineConfig({
  entry: { index: "src/index.ts", "simulation/index": "src/simulation/index.ts", "testing/index": "src/testing/index.ts" },
  format: ["esm"],
  dts: { compilerOptions: { composite: false, incremental: false } },
  tsconfig: "tsconfig.build.json",
  sourcemap: true,
  clean: true,
  target: "node20",
  splitting: true,
  treeshake: true
})
