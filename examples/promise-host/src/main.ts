/**
 * A host without Effect: create waybill with its Promise facade, register orders, feed it a
 * messy stream of carrier events, and read back shipments and dead letters.
 *
 *   pnpm --filter @waybill/example-promise-host start
 */
import { Waybill } from "@waybill/core"
import { FakePorts, Histories } from "@waybill/core/simulation"

const main = async () => {
  // In-memory far sides that fail 10% of calls; a real host passes its Odoo/helpdesk adapters.
  const far = FakePorts.make({ rate: 0.1, kinds: ["timeout", "rate-limited", "server-error"], retryAfterMillis: 5 })
  const waybill = await Waybill.create({
    erp: far.erp,
    helpdesk: far.helpdesk,
    notifier: far.notifier,
    dispatcher: { retry: { base: "5 millis", cap: "50 millis", maxAttempts: 20 } }
  })
  await waybill.start()

  const histories = Array.from({ length: 50 }, (_, i) => Histories.generate(i + 1, {}, i))
  for (const [i, h] of histories.entries()) await waybill.registerOrder(Histories.intake(h, i))
  for (const h of histories) for (const event of h.events) await waybill.ingest({ _tag: "Event", event })
  await waybill.drain({ timeoutMillis: 30_000 })

  const statuses = new Map<string, number>()
  for (const h of histories) {
    const s = await waybill.shipment(h.shipmentId)
    statuses.set(s!.status, (statuses.get(s!.status) ?? 0) + 1)
  }
  console.log("shipments by status:", Object.fromEntries(statuses))
  console.log("far-side effects:", far.effects.length, "invoices:", far.invoices.size, "cases:", far.cases.size)
  console.log("dead letters:", (await waybill.deadLetters()).length)
  await waybill.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
