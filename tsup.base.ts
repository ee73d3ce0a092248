/**
 * The JavaScript build every package shares: ESM for Node 20. A package's tsup.config.ts only
 * names its entries.
 *
 * Declarations are not bundled here: the package's `build` script runs `tsc -p
 * tsconfig.build.json` after tsup, which writes one `.d.ts` per source file next to the entries
 * (`dist/index.d.ts`, ...), exactly as the compiler declares them. tsup's bundled declarations
 * exported every schema that is both a value and a type (`ShipmentEvent.ShipmentEvent`,
 * `Invoice.PaymentState`, 42 in `@waybill/core`) as a type only, so a consumer could not use
 * them as values. `tsconfig.build.json` resolves the other workspace packages through their
 * published types (no "source" condition), so each build also type-checks against what users get.
 */
import { defineConfig, type Options } from "tsup"

export const packageConfig = (entry: Record<string, string>): Options | Array<Options> =>
  defineConfig({
    entry,
    format: ["esm"],
    dts: false,
    tsconfig: "tsconfig.build.json",
    sourcemap: true,
    clean: true,
    target: "node20",
    splitting: true,
    treeshake: true
  }) as Options
