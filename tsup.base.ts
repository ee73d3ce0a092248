/**
 * The build every package shares: ESM with `.d.ts`, for Node 20. A package's tsup.config.ts
 * only names its entries.
 */
import { defineConfig, type Options } from "tsup"

export const packageConfig = (entry: Record<string, string>): Options | Array<Options> =>
  defineConfig({
    entry,
    format: ["esm"],
    dts: { compilerOptions: { composite: false, incremental: false } },
    tsconfig: "tsconfig.build.json",
    sourcemap: true,
    clean: true,
    target: "node20",
    splitting: true,
    treeshake: true
  }) as Options
