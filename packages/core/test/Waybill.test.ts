/**
 * The Promise facade, as a host without Effect uses it.
 */
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ErpPort, Flows, Instant, MemoryStore, MemoryTransport, Pipeline, PortError, Waybill, Worker } from "../src/index.js"
import { FakePorts, Histories } from "../src/testing/index.js"
import { companyId, exception, scan, shipmentId } from "./builders.js"

/** A started instance with one message on its topic that its workers never receive. */
const stuckWaybill = async () => {
  const far = FakePorts.make({ rate: 0, kinds: [] })
  const memory = await Effect.runPromise(MemoryTransport.make)
  const transport = { ...memory, receive: () => Effect.succeed([]) }
  const waybill = await Waybill.create({ erp: far.erp, transport, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
  await waybill.start()
  await Effect.runPromise(memory.publish(Worker.TOPIC, [{ key: "k", body: "{}" }]))
  return waybill
}

describe("Waybill facade", () => {
  it("registers, ingests in the background, drains, reports, replays and stops", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [], permanent: (key) => key.includes(":notifier.notify:") })
    const waybill = await Waybill.create({
      erp: far.erp,
      helpdesk: far.helpdesk,
      notifier: far.notifier,
      dispatcher: { idleMillis: 5, retry: { base: "1 millis", cap: "5 millis" } },
      worker: { waitMillis: 5 }
    })
    const histories = Array.from({ length: 20 }, (_, i) => Histories.generate(i + 1, { cancellations: false }, i))
    for (const [i, h] of histories.entries()) {
      // Hosts may pass the JSON form they received.
      const json = JSON.parse(JSON.stringify(Schema.encodeSync(ErpPort.OrderIntake)(Histories.intake(h, i))))
      expect(await waybill.registerOrder(json)).toEqual([h.shipmentId])
    }
    await waybill.start()
    for (const h of histories) for (const event of h.events) await waybill.ingest({ _tag: "Event", event })
    await waybill.drain({ timeoutMillis: 30_000 }).catch(() => undefined) // notifications are rejected for good
    const summary = await waybill.shipment(histories[0]!.shipmentId)
    expect(summary?.shipmentId).toBe(histories[0]!.shipmentId)
    expect(summary?.events).toBeGreaterThan(0)
    const dead = await waybill.deadLetters({ target: "notifier" })
    expect(dead.length).toBeGreaterThan(0)
    expect(dead.every((d) => JSON.parse(d.error).reason === "Invalid")).toBe(true)
    // The fault is fixed; replay drains the dead letters.
    far.setFaults({ rate: 0, kinds: [] })
    const report = await waybill.replay({ target: "notifier" }, "ops@example.com")
    expect(report.requeued).toBe(dead.length)
    await waybill.drain({ timeoutMillis: 30_000 })
    expect(await waybill.deadLetters()).toEqual([])
    expect(far.effects.filter((e) => e.port === "notifier").length).toBe(dead.length)
    // Typed rejections.
    await expect(waybill.registerOrder({ nonsense: true })).rejects.toMatchObject({
      _tag: "IngestError",
      reason: "Invalid",
      message: expect.stringMatching(/OrderIntake/)
    })
    await waybill.stop()
  }, 60_000)

  it("rejects with the typed error itself, and takes messages in their JSON form", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const waybill = await Waybill.create({ erp: far.erp, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
    const h = Histories.generate(1, { cancellations: false }, 0)
    await waybill.registerOrder(Histories.intake(h, 0))
    // A host without Effect branches on the error's _tag and reason (Unavailable: retry; Invalid: refuse).
    const unknown = await waybill.approve("SHP-NOPE", "damage", "ops@example.com").then(
      () => undefined,
      (e: unknown) => e
    )
    expect(unknown).toMatchObject({ _tag: "IngestError", reason: "NotFound" })
    expect(String((unknown as Error).message)).toMatch(/SHP-NOPE/)
    // A misspelt approval, or one without who gave it, is refused rather than audited as a no-op.
    await expect(waybill.approve(h.shipmentId, "Damage" as never, "ops@example.com")).rejects.toMatchObject({
      _tag: "IngestError",
      reason: "Invalid",
      message: expect.stringMatching(/"damage", "weight", "pod", "return", got "Damage"/)
    })
    await expect(waybill.approve(h.shipmentId, "damage", " ")).rejects.toMatchObject({ reason: "Invalid" })
    // A message that is not an InboundMessage is refused as Invalid, naming what is wrong, and nothing is enqueued.
    const bad = await waybill.ingest({ _tag: "Event", event: { id: 42 } } as never).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(bad).toMatchObject({ _tag: "IngestError", reason: "Invalid" })
    expect(String((bad as Error).message)).toMatch(/InboundMessage/)
    await expect(waybill.ingestNow("nonsense" as never)).rejects.toMatchObject({ _tag: "IngestError", reason: "Invalid" })
    // The JSON form a host received (or stored) is taken like the message itself.
    const json = JSON.parse(JSON.stringify(Schema.encodeSync(Pipeline.InboundMessage)({ _tag: "Event", event: h.events[0]! })))
    const now = await waybill.ingestNow(json)
    expect(now.results.map((r) => r.eventId)).toEqual([h.events[0]!.id])
    await waybill.ingest(JSON.parse(JSON.stringify(Schema.encodeSync(Pipeline.InboundMessage)({ _tag: "Event", event: h.events[1]! }))))
    await waybill.start()
    await waybill.drain({ timeoutMillis: 30_000 })
    expect((await waybill.shipment(h.shipmentId))?.events).toBe(2)
    await waybill.stop()
  })

  it("shows the record's version and approves only on the version the operator saw", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const waybill = await Waybill.create({ erp: far.erp })
    await waybill.registerOrder(Histories.intake({ shipmentId, companyId, events: [] }, 1))
    // The damage report is ingested before the delivery it follows: billing settles on both.
    await waybill.ingestNow({ _tag: "Event", event: exception("dmg1", "damaged", 605) })
    await waybill.ingestNow({ _tag: "Event", event: scan("v", "delivered", 600) })
    const seen = (await waybill.shipment(shipmentId))!
    expect(seen.billing.holds).toEqual(["open_damage"])
    expect(seen.version).toBeGreaterThan(0)
    // A second damage after the operator looked: the approval given on what they saw is refused.
    await waybill.ingestNow({ _tag: "Event", event: exception("dmg2", "damaged", 615) })
    const moved = (await waybill.shipment(shipmentId))!
    expect(moved.version).toBeGreaterThan(seen.version)
    await expect(waybill.approve(shipmentId, "damage", "ops@example.com", { seenVersion: seen.version })).rejects.toMatchObject({
      _tag: "IngestError",
      reason: "Conflict",
      message: expect.stringContaining(`version ${seen.version}`)
    })
    expect(await waybill.shipment(shipmentId)).toEqual(moved)
    // On the version shown now, it is applied.
    await waybill.approve(shipmentId, "damage", "ops@example.com", { seenVersion: moved.version })
    const after = (await waybill.shipment(shipmentId))!
    expect(after.billing.status).toBe("released")
    expect(after.version).toBe(moved.version + 1)
    await waybill.stop()
  })

  it("stop() stops every worker, also of start() calls made concurrently", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    // The host owns the transport, so what consumes it after stop() can be seen.
    const transport = await Effect.runPromise(MemoryTransport.make)
    const waybill = await Waybill.create({ erp: far.erp, transport, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
    await Promise.all([waybill.start(), waybill.start()])
    await waybill.stop()
    await Effect.runPromise(transport.publish(Worker.TOPIC, [{ key: "k", body: "{}" }]))
    await new Promise((resolve) => setTimeout(resolve, 100))
    // Nobody took it: no worker outlived the stop.
    expect(await Effect.runPromise(transport.pending(Worker.TOPIC, Worker.GROUP))).toBe(1)
  })
  it("two processes' workers have consumer names of their own", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const memory = await Effect.runPromise(MemoryTransport.make)
    const consumers = new Set<string>()
    const transport = { ...memory, receive: (...args: Parameters<typeof memory.receive>) => (consumers.add(args[2]), memory.receive(...args)) }
    const a = await Waybill.create({ erp: far.erp, transport, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
    const b = await Waybill.create({ erp: far.erp, transport, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
    await Promise.all([a.start(), b.start()])
    await new Promise((resolve) => setTimeout(resolve, 100))
    await Promise.all([a.stop(), b.stop()])
    // Two workers each: four consumers, not the same two names twice.
    expect(consumers.size).toBe(4)
  })
  it("drain rejects at once with the error of a background loop that stopped", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const memory = await Effect.runPromise(MemoryStore.make)
    // A permanent storage error: the dispatcher stops (a retryable one it would ride out).
    const store = {
      ...memory,
      claim: () => Effect.fail(new PortError.StorageError({ reason: "Bug", module: "test", method: "claim", description: "WRONGTYPE" }))
    }
    const waybill = await Waybill.create({ erp: far.erp, store, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
    await waybill.start()
    // Not "drain timed out" after the timeout: the dispatcher's own error.
    await expect(waybill.drain({ timeoutMillis: 3_000 })).rejects.toMatchObject({ _tag: "StorageError", reason: "Bug" })
    await waybill.stop()
  })
  it("webhook refuses a body above maxWebhookBytes before storing it, as a typed Invalid", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const transport = await Effect.runPromise(MemoryTransport.make)
    const waybill = await Waybill.create({ erp: far.erp, transport, maxWebhookBytes: 1024 })
    await expect(waybill.webhook("easypost", {}, new Uint8Array(1025))).rejects.toMatchObject({ _tag: "StorageError", reason: "Invalid" })
    await waybill.webhook("easypost", {}, new Uint8Array(1024))
    // Only the one within the bound was stored.
    expect(await Effect.runPromise(transport.pending(Worker.TOPIC, Worker.GROUP))).toBe(1)
    await waybill.stop()
  })
  it("stop() during drain() ends the drain at once with a typed error, not after its timeout", async () => {
    // The workers never get the message: only stop() can end this drain early.
    const waybill = await stuckWaybill()
    const began = Date.now()
    const drained = waybill.drain({ timeoutMillis: 5_000 }).then(
      () => "resolved",
      (error: unknown) => error
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    await waybill.stop()
    expect(await drained).toMatchObject({ _tag: "StorageError", reason: "Unavailable", method: "drain" })
    expect(Date.now() - began).toBeLessThan(2_000)
  })
  it("drain() that times out rejects with a typed, retryable StorageError naming what is left", async () => {
    // The workers never get the message: the drain can only time out.
    const waybill = await stuckWaybill()
    const error = await waybill.drain({ timeoutMillis: 50 }).then(() => undefined, (e: unknown) => e)
    // A host branches on _tag and reason (Timeout: try again later), as for every other rejection.
    expect(error).toBeInstanceOf(PortError.StorageError)
    expect(error).toMatchObject({ _tag: "StorageError", reason: "Timeout", method: "drain" })
    expect((error as PortError.StorageError).message).toMatch(/1 messages and 0 actions pending/)
    await waybill.stop()
  })
  it("drain() with a timeout that is not a number is refused at once with a typed Invalid, not left waiting for ever", async () => {
    // The workers never get the message: only the timeout can end the drain.
    const waybill = await stuckWaybill()
    // From a JavaScript host, or a config value read as text.
    for (const timeoutMillis of [Number.NaN, "50", -1]) {
      const outcome = await Promise.race([
        waybill.drain({ timeoutMillis } as never).then(() => "resolved", (e: unknown) => e),
        new Promise((resolve) => setTimeout(() => resolve("still waiting"), 1_000))
      ])
      expect(outcome, String(timeoutMillis)).toMatchObject({ _tag: "StorageError", reason: "Invalid", method: "drain" })
      expect((outcome as PortError.StorageError).message).toMatch(/timeoutMillis/)
    }
    await waybill.stop()
  })
  it("refuses a finance billing target without a finance port, instead of invoicing in the ERP", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const flows = new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ target: "finance" }) })
    await expect(Waybill.create({ erp: far.erp, flows })).rejects.toMatchObject({
      _tag: "IngestError",
      reason: "Invalid",
      message: expect.stringMatching(/finance port/)
    })
    // With the port, it is taken.
    const waybill = await Waybill.create({ erp: far.erp, finance: far.finance, flows })
    await waybill.stop()
  })

  it("webhook takes the headers as Node gives them (repeated ones as arrays, absent ones undefined)", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const transport = await Effect.runPromise(MemoryTransport.make)
    const waybill = await Waybill.create({ erp: far.erp, transport })
    // `IncomingMessage.headers` from a JavaScript host: not a typed error, not a crash either.
    const headers = { "content-type": "application/json", "x-forwarded-for": ["10.0.0.1", "10.0.0.2"], "x-absent": undefined }
    await waybill.webhook("easypost", headers as never, new TextEncoder().encode("{}"))
    const [stored] = await Effect.runPromise(transport.receive(Worker.TOPIC, Worker.GROUP, "c", { max: 1, visibilityMillis: 1000, waitMillis: 0, maxDeliveries: 1 }))
    expect(JSON.parse(stored!.body).headers).toEqual({ "content-type": "application/json", "x-forwarded-for": "10.0.0.1, 10.0.0.2" })
    await waybill.stop()
  })
  it("webhook refuses a source that is not text, a body that is not bytes and headers that are not an object, as a typed Invalid", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const transport = await Effect.runPromise(MemoryTransport.make)
    const waybill = await Waybill.create({ erp: far.erp, transport })
    // What a JavaScript host may hand over: the body as text (a body parser ran first), no body,
    // a source from a route parameter that is missing.
    const calls: ReadonlyArray<readonly [unknown, unknown, unknown, RegExp]> = [
      [undefined, {}, new Uint8Array(2), /source/],
      [42, {}, new Uint8Array(2), /source/],
      ["easypost", {}, '{"secret":"personal"}', /body/],
      ["easypost", {}, undefined, /body/],
      ["easypost", "x-signature: abc", new Uint8Array(2), /headers/]
    ]
    for (const [source, headers, body, names] of calls) {
      const error = await waybill.webhook(source as never, headers as never, body as never).then(() => undefined, (e: unknown) => e)
      expect(error, String(source)).toBeInstanceOf(Pipeline.IngestError)
      expect(error).toMatchObject({ _tag: "IngestError", reason: "Invalid", method: "webhook" })
      expect((error as Pipeline.IngestError).message).toMatch(names)
      // The body's content is not quoted in the error.
      expect((error as Pipeline.IngestError).message).not.toMatch(/personal/)
    }
    // Nothing was stored.
    expect(await Effect.runPromise(transport.pending(Worker.TOPIC, Worker.GROUP))).toBe(0)
    await waybill.stop()
  })
  it("approve refuses a shipment id that is not text as a typed Invalid, not with a crash", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const waybill = await Waybill.create({ erp: far.erp })
    // A host reading the id from a request body or a form field that is missing or a number.
    for (const id of [undefined, null, 42, { id: "SHP-1" }]) {
      const error = await waybill.approve(id as never, "damage", "ops@example.com").then(() => undefined, (e: unknown) => e)
      expect(error, JSON.stringify(id)).toBeInstanceOf(Pipeline.IngestError)
      expect(error).toMatchObject({ _tag: "IngestError", reason: "Invalid", method: "approve" })
      expect((error as Pipeline.IngestError).message).toMatch(/shipment id/)
    }
    await waybill.stop()
  })
  it("ingest and ingestNow refuse a message nested too deep to describe as a typed Invalid, rejecting, not throwing", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const transport = await Effect.runPromise(MemoryTransport.make)
    const waybill = await Waybill.create({ erp: far.erp, transport })
    // JSON a host parsed from a request and handed over as it is.
    let deep: unknown = []
    for (let i = 0; i < 5000; i++) deep = [deep]
    const message = { _tag: "Request", source: "easypost", headers: deep, body: "", receivedAt: "2024-01-01T00:00:00Z" }
    for (const call of [() => waybill.ingest(message), () => waybill.ingestNow(message)]) {
      let thrown: unknown
      let rejected: unknown
      try {
        rejected = await call().then(() => undefined, (e: unknown) => e)
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeUndefined()
      expect(rejected).toBeInstanceOf(Pipeline.IngestError)
      expect(rejected).toMatchObject({ _tag: "IngestError", reason: "Invalid" })
    }
    expect(await Effect.runPromise(transport.pending(Worker.TOPIC, Worker.GROUP))).toBe(0)
    await waybill.stop()
  })
  it("create refuses worker options that would never ingest, or bound nothing, as a typed Invalid naming the option", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    // From a host's config (environment variables read as text, a typo): a batch of 0 takes no
    // message, NaN bounds nothing, a visibility of 0 hands every message to every worker at once.
    const cases: ReadonlyArray<readonly [Partial<Waybill.Options>, string]> = [
      [{ worker: { batch: 0 } }, "worker.batch"],
      [{ worker: { batch: "64" as never } }, "worker.batch"],
      [{ worker: { concurrency: Number.NaN } }, "worker.concurrency"],
      [{ worker: { visibilityMillis: 0 } }, "worker.visibilityMillis"],
      [{ worker: { maxDeliveries: 0 } }, "worker.maxDeliveries"],
      [{ worker: { waitMillis: -1 } }, "worker.waitMillis"],
      [{ worker: { maxLeaseMillis: Number.NaN } }, "worker.maxLeaseMillis"],
      [{ workers: Number.NaN }, "workers"],
      [{ workers: -1 }, "workers"],
      [{ maxWebhookBytes: Number.NaN }, "maxWebhookBytes"]
    ]
    for (const [options, name] of cases) {
      const error = await Waybill.create({ erp: far.erp, ...options }).then(
        async (w) => {
          await w.stop()
          return undefined
        },
        (e: unknown) => e
      )
      expect(error, name).toBeInstanceOf(Pipeline.IngestError)
      expect(error).toMatchObject({ _tag: "IngestError", reason: "Invalid", method: "create" })
      expect((error as Pipeline.IngestError).message).toContain(name)
    }
    // Zero workers is a choice (a process that only enqueues), and so is waiting 0 ms.
    const enqueueOnly = await Waybill.create({ erp: far.erp, workers: 0, worker: { waitMillis: 0 } })
    await enqueueOnly.stop()
  })
  it("ingestNow refuses a raw request above maxWebhookBytes before anything is stored, as webhook and ingest do", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const waybill = await Waybill.create({ erp: far.erp, maxWebhookBytes: 1024 })
    // An unsigned sender's body no adapter would read: not kept in the dead letters either.
    const request = { _tag: "Request" as const, source: "acme", headers: {}, body: new Uint8Array(4096), receivedAt: Instant.fromMillis(0) }
    for (const call of [() => waybill.webhook("acme", {}, request.body), () => waybill.ingest(request), () => waybill.ingestNow(request)]) {
      await expect(call()).rejects.toMatchObject({ _tag: "StorageError", reason: "Invalid", message: expect.stringMatching(/4096 bytes, more than the 1024 allowed/) })
    }
    expect(await waybill.deadLetters()).toEqual([])
    await waybill.stop()
  })
  it("stop() twice is harmless; start() and the other methods after stop() reject with a typed error", async () => {
    const far = FakePorts.make({ rate: 0, kinds: [] })
    const waybill = await Waybill.create({ erp: far.erp, worker: { waitMillis: 5 }, dispatcher: { idleMillis: 5 } })
    await waybill.start()
    await Promise.all([waybill.stop(), waybill.stop()])
    await waybill.stop()
    // Not a bare "ManagedRuntime disposed" string: the facade's typed rejection, and no restart
    // on a closed scope.
    await expect(waybill.start()).rejects.toMatchObject({ _tag: "StorageError", reason: "Unavailable", method: "start" })
    await expect(waybill.shipment("SHP-1")).rejects.toMatchObject({ _tag: "StorageError", reason: "Unavailable", method: "shipment" })
    await expect(waybill.drain()).rejects.toMatchObject({ _tag: "StorageError", reason: "Unavailable", method: "drain" })
    // A webhook that arrives during a shutdown is refused as retryable (a host answers 503, the
    // carrier sends it again), not as Invalid (4xx: the carrier would drop it).
    await expect(waybill.webhook("easypost", {}, new Uint8Array(2))).rejects.toMatchObject({ _tag: "StorageError", reason: "Unavailable" })
  })
})
