/**
 * `pnpm demo`: runs the distributor scenario and prints its report.
 *
 *   pnpm demo                          # 300 orders, seed 1, embedded Odoo 17 and EasyPost fakes
 *   pnpm demo -- --orders 100 --seed 7 --odoo-version 19
 *
 * `ODOO_URL`, `ODOO_DB`, `ODOO_LOGIN` and `ODOO_API_KEY` (or `ODOO_PASSWORD`) point it at a real
 * Odoo instead (use a test database: it creates orders, validates deliveries and posts
 * invoices). `REDIS_URL` puts the store and the transport on Redis. The exit code is 1 when an
 * invariant fails, 2 when the run itself fails.
 */
import { OdooClient } from "@waybill/odoo"
import * as Effect from "effect/Effect"
import * as Report from "./Report.js"
import * as Run from "./Run.js"
import * as Stories from "./Stories.js"

const usage = `usage: pnpm demo [-- --orders N] [--seed S] [--odoo-version 17|18|19] [--workers N]`

const parseArgs = (argv: ReadonlyArray<string>) => {
  const options = { orders: 300, seed: 1, odooVersion: 17 as 17 | 18 | 19, workers: 3 }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = argv[i + 1]
    const int = () => {
      const n = Number(value)
      if (value === undefined || !Number.isInteger(n)) throw new Error(`${arg} needs a whole number\n${usage}`)
      i++
      return n
    }
    if (arg === "--") continue
    else if (arg === "--orders") options.orders = int()
    else if (arg === "--seed") options.seed = int()
    else if (arg === "--workers") options.workers = int()
    else if (arg === "--odoo-version") {
      const v = int()
      if (v !== 17 && v !== 18 && v !== 19) throw new Error(`--odoo-version is 17, 18 or 19\n${usage}`)
      options.odooVersion = v
    } else if (arg === "--help" || arg === "-h") {
      console.log(usage)
      process.exit(0)
    } else throw new Error(`unknown argument ${arg}\n${usage}`)
  }
  if (options.orders < Stories.minimumOrders) throw new Error(`--orders must be at least ${Stories.minimumOrders}`)
  return options
}

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  const odoo = process.env["ODOO_URL"] !== undefined && process.env["ODOO_URL"] !== ""
    ? await Effect.runPromise(OdooClient.config("ODOO_"))
    : undefined
  const redisUrl = process.env["REDIS_URL"] !== undefined && process.env["REDIS_URL"] !== "" ? process.env["REDIS_URL"] : undefined
  console.log(
    `waybill distributor demo: ${args.orders} orders, seed ${args.seed}, ` +
      `${odoo !== undefined ? `Odoo at ${odoo.url} (database ${odoo.database})` : `embedded Odoo ${args.odooVersion} fake`}, ` +
      `${redisUrl !== undefined ? "Redis" : "memory"} store\n`
  )
  const report = await Effect.runPromise(
    Run.run({
      orders: args.orders,
      seed: args.seed,
      odooVersion: args.odooVersion,
      workers: args.workers,
      odoo,
      redisUrl,
      log: (line) => console.log(line)
    })
  )
  console.log(`\n${Report.format(report)}`)
  process.exitCode = Report.ok(report) ? 0 : 1
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 2
})
