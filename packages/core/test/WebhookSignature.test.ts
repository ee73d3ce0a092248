/**
 * WebhookSignature: EasyPost's golden HMAC vector, every way a signature can be wrong (missing,
 * too long, without its prefix, malformed, not matching), the scheme options (encodings, prefix
 * case, optional prefix, several signatures, secret normalization, signed parts), header lookup,
 * the body-size guard, `verify`'s errors and their evidence (never the body or the secret), the
 * `Verified` token and `parseJson`; with properties over arbitrary bodies, secrets and headers.
 */
import { createHash, createHmac } from "node:crypto"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import { CarrierAdapter, type CarrierPort, Instant, PortError, WebhookSignature } from "@waybill/core"

const easypost = new URL("../../../../shared/fixtures/carriers/easypost/", import.meta.url)
const golden = JSON.parse(readFileSync(new URL("webhook-hmac-fixture.json", easypost), "utf8")) as {
  readonly webhooks: { readonly secret: string; readonly hmac_signature: string }
}
const recorded = new Uint8Array(readFileSync(new URL("event-tracker-updated-webhook.json", easypost)))
/** The FedEx event exactly as EasyPost signed it: the file without its final newline. */
const goldenBody = recorded.subarray(0, recorded.length - 1)

const easyPostScheme: WebhookSignature.Scheme = {
  encoding: "hex",
  prefix: "hmac-sha256-hex=",
  ignorePrefixCase: true,
  normalizeSecret: "NFKD"
}

const encoder = new TextEncoder()
const body = encoder.encode("{\"tracking_number\":\"1234567890\",\"tag\":\"Delivered\"}")
const secret = "whsec-0123456789"
const receivedAt = Instant.fromMillis(Date.UTC(2024, 7, 1, 10, 0, 0))
const request = (b: Uint8Array, headers: Record<string, string>): CarrierPort.InboundRequest => ({ headers, body: b, receivedAt })

describe("WebhookSignature.sign and digest", () => {
  it("reproduces EasyPost's golden vector (secret sécret, NFKD-normalized, hex after hmac-sha256-hex=)", () => {
    expect(goldenBody.byteLength).toBe(3550)
    expect(WebhookSignature.sign(goldenBody, golden.webhooks.secret, easyPostScheme)).toBe(golden.webhooks.hmac_signature)
    expect(WebhookSignature.check(golden.webhooks.hmac_signature, goldenBody, "sécret".normalize("NFC"), easyPostScheme)).toBe("Valid")
    expect(WebhookSignature.check(golden.webhooks.hmac_signature, goldenBody, "sécret".normalize("NFKD"), easyPostScheme)).toBe("Valid")
    // Keyed with the composed bytes, the digest differs: normalization matters.
    const nfcKeyed = `hmac-sha256-hex=${createHmac("sha256", Buffer.from("sécret".normalize("NFC"), "utf8")).update(goldenBody).digest("hex")}`
    expect(nfcKeyed).not.toBe(golden.webhooks.hmac_signature)
    expect(WebhookSignature.check(nfcKeyed, goldenBody, golden.webhooks.secret, easyPostScheme)).toBe("Mismatch")
    // The stored file, with its final newline, is not what was signed.
    expect(WebhookSignature.check(golden.webhooks.hmac_signature, recorded, golden.webhooks.secret, easyPostScheme)).toBe("Mismatch")
  })

  it("is node's HMAC-SHA256 over the raw bytes; parts hash one after the other; byte secrets are used as they are", () => {
    expect(WebhookSignature.sign(body, secret, { encoding: "base64" })).toBe(createHmac("sha256", secret).update(body).digest("base64"))
    expect(WebhookSignature.sign("text body", secret, { encoding: "hex", prefix: "sha256=" })).toBe(
      `sha256=${createHmac("sha256", secret).update("text body", "utf8").digest("hex")}`
    )
    const parts = WebhookSignature.digest(["1722420000", ".", body], secret)
    expect(parts.equals(createHmac("sha256", secret).update(`1722420000.${new TextDecoder().decode(body)}`).digest())).toBe(true)
    const key = new Uint8Array([0, 255, 1, 254])
    expect(WebhookSignature.digest(body, key).equals(createHmac("sha256", key).update(body).digest())).toBe(true)
    expect(WebhookSignature.digest(body, secret)).toHaveLength(32)
  })
})

describe("WebhookSignature.check", () => {
  const hex: WebhookSignature.Scheme = { encoding: "hex", prefix: "sha256=" }
  const good = WebhookSignature.sign(body, secret, hex)

  it("names every way a header value can be wrong", () => {
    expect(WebhookSignature.check(good, body, secret, hex)).toBe("Valid")
    expect(WebhookSignature.check(` ${good}\t`, body, secret, hex)).toBe("Valid")
    expect(WebhookSignature.check(undefined, body, secret, hex)).toBe("Missing")
    expect(WebhookSignature.check("  ", body, secret, hex)).toBe("Missing")
    expect(WebhookSignature.check(`${good}${" ".repeat(5000)}x`, body, secret, hex)).toBe("TooLong")
    expect(WebhookSignature.check(good, body, secret, { ...hex, maxLength: 20 })).toBe("TooLong")
    expect(WebhookSignature.check(good.slice("sha256=".length), body, secret, hex)).toBe("NoPrefix")
    expect(WebhookSignature.check("sha256=abc123", body, secret, hex)).toBe("Malformed")
    expect(WebhookSignature.check(`sha256=${"z".repeat(64)}`, body, secret, hex)).toBe("Malformed")
    expect(WebhookSignature.check(good, body, "another-secret", hex)).toBe("Mismatch")
    const tampered = new Uint8Array(body)
    tampered[3] = tampered[3]! ^ 0x01
    expect(WebhookSignature.check(good, tampered, secret, hex)).toBe("Mismatch")
  })

  it("hex digits in either case; the prefix exactly, unless ignorePrefixCase", () => {
    const upperHex = `sha256=${good.slice(7).toUpperCase()}`
    expect(WebhookSignature.check(upperHex, body, secret, hex)).toBe("Valid")
    const upperPrefix = `SHA256=${good.slice(7)}`
    expect(WebhookSignature.check(upperPrefix, body, secret, hex)).toBe("NoPrefix")
    expect(WebhookSignature.check(upperPrefix, body, secret, { ...hex, ignorePrefixCase: true })).toBe("Valid")
  })

  it("an optional prefix may be there or not", () => {
    const scheme: WebhookSignature.Scheme = { encoding: "base64", prefix: "hmac-sha256=", prefixOptional: true, ignorePrefixCase: true }
    const digest = WebhookSignature.sign(body, secret, { encoding: "base64" })
    for (const value of [digest, `hmac-sha256=${digest}`, `HMAC-SHA256=${digest}`]) {
      expect([value, WebhookSignature.check(value, body, secret, scheme)]).toEqual([value, "Valid"])
    }
  })

  it("base64 is canonical by default; lenient also takes the URL-safe alphabet and a missing =", () => {
    const canonical = WebhookSignature.sign(body, secret, { encoding: "base64" })
    expect(canonical).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    const urlSafe = WebhookSignature.digest(body, secret).toString("base64url")
    const unpadded = canonical.slice(0, -1)
    for (const variant of [urlSafe, unpadded]) {
      expect(WebhookSignature.check(variant, body, secret, { encoding: "base64" })).toBe("Malformed")
      expect(WebhookSignature.check(variant, body, secret, { encoding: "base64", base64: "lenient" })).toBe("Valid")
    }
    // A hex digest is not a base64 one.
    expect(WebhookSignature.check(WebhookSignature.sign(body, secret, { encoding: "hex" }), body, secret, { encoding: "base64" })).toBe(
      "Malformed"
    )
  })

  it("several signatures in one header (secret rotation): one matching is enough", () => {
    const scheme: WebhookSignature.Scheme = { encoding: "hex", prefix: "v1=", several: true }
    const old = WebhookSignature.sign(body, "old-secret-0123456", scheme)
    const current = WebhookSignature.sign(body, secret, scheme)
    expect(WebhookSignature.check(`${old}, ${current}`, body, secret, scheme)).toBe("Valid")
    expect(WebhookSignature.check(`${old} ${current}`, body, secret, scheme)).toBe("Valid")
    expect(WebhookSignature.check(`t=1722420000,${current}`, body, secret, scheme)).toBe("Valid")
    expect(WebhookSignature.check(`${old}, ${current}`, body, secret, { ...scheme, several: false })).toBe("Malformed")
    expect(WebhookSignature.check("t=1,v0=abc", body, secret, scheme)).toBe("NoPrefix")
  })

  it("a signature made with the scheme verifies, for any body and secret (1,000 runs)", () => {
    const schemes: ReadonlyArray<WebhookSignature.Scheme> = [
      easyPostScheme,
      { encoding: "base64" },
      { encoding: "base64", prefix: "sha256=", several: true, base64: "lenient" },
      { encoding: "hex" }
    ]
    FastCheck.assert(
      FastCheck.property(
        FastCheck.uint8Array({ maxLength: 300 }),
        FastCheck.fullUnicodeString({ minLength: 1, maxLength: 40 }),
        FastCheck.constantFrom(...schemes),
        (bytes, key, scheme) => {
          expect(WebhookSignature.check(WebhookSignature.sign(bytes, key, scheme), bytes, key, scheme)).toBe("Valid")
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("any changed byte of the body is a Mismatch (1,000 runs)", () => {
    const signature = WebhookSignature.sign(goldenBody, golden.webhooks.secret, easyPostScheme)
    FastCheck.assert(
      FastCheck.property(FastCheck.nat({ max: goldenBody.byteLength - 1 }), FastCheck.integer({ min: 1, max: 255 }), (at, xor) => {
        const tampered = new Uint8Array(goldenBody)
        tampered[at] = tampered[at]! ^ xor
        expect(WebhookSignature.check(signature, tampered, golden.webhooks.secret, easyPostScheme)).toBe("Mismatch")
      }),
      { numRuns: 1000 }
    )
  })

  it("arbitrary header values never verify and never throw (1,000 runs)", () => {
    const schemes: ReadonlyArray<WebhookSignature.Scheme> = [easyPostScheme, { encoding: "base64", several: true, base64: "lenient" }]
    FastCheck.assert(
      FastCheck.property(
        FastCheck.oneof(FastCheck.string(), FastCheck.string().map((s) => `hmac-sha256-hex=${s}`), FastCheck.hexaString({ minLength: 64, maxLength: 64 })),
        FastCheck.constantFrom(...schemes),
        (value, scheme) => {
          expect(WebhookSignature.check(value, body, secret, scheme)).not.toBe("Valid")
        }
      ),
      { numRuns: 1000 }
    )
  })
})

describe("WebhookSignature.header and tooLarge", () => {
  it("finds a header whatever the case of its name, among own text entries only", () => {
    expect(WebhookSignature.header({ "x-signature": "a" }, "x-signature")).toBe("a")
    expect(WebhookSignature.header({ "X-Signature": "b" }, "x-signature")).toBe("b")
    expect(WebhookSignature.header({ "x-signature": "c" }, "X-Signature")).toBe("c")
    expect(WebhookSignature.header({}, "x-signature")).toBeUndefined()
    expect(WebhookSignature.header({}, "constructor")).toBeUndefined()
    expect(WebhookSignature.header({ "x-signature": 1 } as unknown as Record<string, string>, "x-signature")).toBeUndefined()
  })

  it("says how much too large a body is", () => {
    expect(WebhookSignature.tooLarge(new Uint8Array(10), 10)).toBeUndefined()
    expect(WebhookSignature.tooLarge(new Uint8Array(11), 10)).toBe("body is 11 bytes, more than the 10 allowed")
  })
})

describe("WebhookSignature.verify", () => {
  const spec: WebhookSignature.Spec = {
    module: "AcmeWebhook",
    source: "acme",
    secret: Redacted.make(secret),
    maxBodyBytes: 1024,
    headers: [
      { name: "x-acme-signature", scheme: { encoding: "hex", prefix: "sha256=" } },
      { name: "x-acme-legacy", scheme: { encoding: "base64", prefix: "v0=", prefixOptional: true } }
    ]
  }
  const signed = WebhookSignature.sign(body, secret, { encoding: "hex", prefix: "sha256=" })

  it.effect("accepts the preferred header, then the legacy one (any header-name case)", () =>
    Effect.gen(function*() {
      yield* WebhookSignature.verify(request(body, { "x-acme-signature": signed }), spec)
      yield* WebhookSignature.verify(request(body, { "X-Acme-Signature": signed }), spec)
      const legacy = WebhookSignature.sign(body, secret, { encoding: "base64" })
      yield* WebhookSignature.verify(request(body, { "x-acme-legacy": legacy }), spec)
      yield* WebhookSignature.verify(request(body, { "x-acme-legacy": `v0=${legacy}`, "x-acme-signature": " " }), spec)
    }))

  it.effect("words each failure, with its reason, status and method", () =>
    Effect.gen(function*() {
      const failed = (r: CarrierPort.InboundRequest, s: WebhookSignature.Spec = spec) => Effect.flip(WebhookSignature.verify(r, s))
      const big = yield* failed(request(new Uint8Array(2000), { "x-acme-signature": signed }))
      expect(big).toMatchObject({ reason: "Invalid", status: 413, method: "verify", module: "AcmeWebhook" })
      expect(big.description).toBe("body is 2000 bytes, more than the 1024 allowed")
      expect((yield* failed(request(body, {}))).description).toBe("missing x-acme-signature (or x-acme-legacy) header")
      // A legacy header that is only its optional prefix carries no signature.
      expect((yield* failed(request(body, { "x-acme-legacy": "v0=" }))).description).toBe(
        "missing x-acme-signature (or x-acme-legacy) header"
      )
      const single = { ...spec, headers: [spec.headers[0]] as const }
      expect((yield* failed(request(body, {}), single)).description).toBe("missing x-acme-signature header")
      const noPrefix = yield* failed(request(body, { "x-acme-signature": signed.slice(7) }))
      expect(noPrefix).toMatchObject({ reason: "Unauthorized", status: 401 })
      expect(noPrefix.description).toBe("x-acme-signature header does not start with sha256=")
      for (const value of ["sha256=abc", `sha256=${"0".repeat(64)}`, `${signed}${" ".repeat(5000)}x`]) {
        const wrong = yield* failed(request(body, { "x-acme-signature": value }))
        expect(wrong).toMatchObject({ reason: "Unauthorized", status: 401 })
        expect(wrong.description).toBe("x-acme-signature does not match the body and the webhook secret")
      }
      const legacyWrong = yield* failed(request(body, { "x-acme-legacy": "v0=AAAA" }))
      expect(legacyWrong.description).toBe("x-acme-legacy does not match the body and the webhook secret")
    }))

  it.effect("an empty webhook secret refuses every request: anyone can sign with an empty key", () =>
    Effect.gen(function*() {
      // E.g. `Config.redacted("EASYPOST_WEBHOOK_SECRET")` read from `EASYPOST_WEBHOOK_SECRET=`.
      const unset = { ...spec, secret: Redacted.make("") }
      const forged = WebhookSignature.sign(body, "", { encoding: "hex", prefix: "sha256=" })
      const error = yield* Effect.flip(WebhookSignature.verify(request(body, { "x-acme-signature": forged }), unset))
      expect(error).toMatchObject({ reason: "Unauthorized", status: 401, method: "verify", module: "AcmeWebhook" })
      expect(error.description).toBe("no webhook secret is configured: every request is refused")
      // `Redacted.make(process.env.EASYPOST_WEBHOOK_SECRET!)` with the variable unset: refused, not a defect.
      const missing = { ...spec, secret: Redacted.make(undefined as unknown as string) }
      const refused = yield* Effect.flip(WebhookSignature.verify(request(body, { "x-acme-signature": forged }), missing))
      expect(refused.description).toBe("no webhook secret is configured: every request is refused")
    }))

  it.effect("a webhook secret of only white space refuses every request, even one signed with it: it is guessable", () =>
    Effect.gen(function*() {
      // E.g. `EASYPOST_WEBHOOK_SECRET=" "`, or a secrets file holding just a newline.
      for (const blank of [" ", "   ", "\n", "\r\n", "\t", "\u00a0"]) {
        const forged = WebhookSignature.sign(body, blank, { encoding: "hex", prefix: "sha256=" })
        const error = yield* Effect.flip(
          WebhookSignature.verify(request(body, { "x-acme-signature": forged }), { ...spec, secret: Redacted.make(blank) })
        )
        expect(error).toMatchObject({ reason: "Unauthorized", status: 401, method: "verify", module: "AcmeWebhook" })
        expect(error.description).toBe("the webhook secret is only white space: every request is refused")
      }
    }))

  it.effect("a webhook secret with white space at either end refuses every request instead of silently failing each one", () =>
    Effect.gen(function*() {
      // Read from a file or an env file with its trailing newline. Neither EasyPost nor AfterShip
      // document trimming (the key is the secret's exact UTF-8 bytes), so it is not trimmed:
      // it is refused, saying why, whichever of the two keys the sender used.
      for (const padded of [`${secret}\n`, `${secret}\r\n`, ` ${secret}`, `${secret} `]) {
        for (const key of [padded, secret]) {
          const signed = WebhookSignature.sign(body, key, { encoding: "hex", prefix: "sha256=" })
          const error = yield* Effect.flip(
            WebhookSignature.verify(request(body, { "x-acme-signature": signed }), { ...spec, secret: Redacted.make(padded) })
          )
          expect(error).toMatchObject({ reason: "Unauthorized", status: 401, method: "verify" })
          expect(error.description).toBe(
            "the webhook secret starts or ends with white space (a trailing newline from a file?): every request is refused"
          )
          expect(JSON.stringify(error)).not.toContain(secret)
        }
      }
      // White space inside a secret is part of it.
      const inner = "whsec 0123 4567"
      yield* WebhookSignature.verify(
        request(body, { "x-acme-signature": WebhookSignature.sign(body, inner, { encoding: "hex", prefix: "sha256=" }) }),
        { ...spec, secret: Redacted.make(inner) }
      )
    }))

  it("secretProblem names what is wrong with a secret, never showing it", () => {
    expect(WebhookSignature.secretProblem(secret)).toBeUndefined()
    expect(WebhookSignature.secretProblem(golden.webhooks.secret)).toBeUndefined()
    expect(WebhookSignature.secretProblem("")).toBe("is empty")
    expect(WebhookSignature.secretProblem(undefined)).toBe("is not set")
    expect(WebhookSignature.secretProblem(" \n")).toBe("is only white space")
    expect(WebhookSignature.secretProblem("abc\n")).toBe("starts or ends with white space (a trailing newline from a file?)")
  })

  it.effect("errors carry evidence (size, SHA-256, header names), never the body, a header value or the secret", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(WebhookSignature.verify(request(body, { "x-acme-signature": `sha256=${"0".repeat(64)}`, "content-type": "application/json" }), spec))
      expect(error).toBeInstanceOf(PortError.CarrierError)
      expect(error.cause).toEqual({
        source: "acme",
        bodyBytes: body.byteLength,
        bodySha256: createHash("sha256").update(body).digest("hex"),
        headers: ["content-type", "x-acme-signature"]
      })
      const text = JSON.stringify(error)
      expect(text).not.toContain("1234567890")
      expect(text).not.toContain(secret)
      expect(text).not.toContain("0".repeat(64))
    }))
})

describe("WebhookSignature.verifiedFor", () => {
  it("only make builds a Verified request; a forged construction throws, naming the owner", () => {
    const acme = WebhookSignature.verifiedFor("AcmeWebhook")
    const verified = acme.make(request(body, {}))
    expect(verified.request.body).toBe(body)
    expect(verified).toBeInstanceOf(acme.Verified)
    expect(() => new acme.Verified(Symbol("forged"), request(body, {}))).toThrow("AcmeWebhook.Verified is made only by AcmeWebhook.verify")
    // Another adapter's key does not open this one.
    const other = WebhookSignature.verifiedFor("AcmeWebhook")
    expect(other.make(request(body, {}))).not.toBeInstanceOf(acme.Verified)
  })
})

describe("WebhookSignature.parseJson", () => {
  const where = { module: "AcmeWebhook", source: "acme" }

  it.effect("hands UTF-8 JSON to the decoder; a body that is not is Invalid (HTTP 400) with evidence", () =>
    Effect.gen(function*() {
      const json = yield* WebhookSignature.parseJson(request(body, {}), where, (value) => Effect.succeed(value))
      expect(json).toEqual({ tracking_number: "1234567890", tag: "Delivered" })
      for (const bad of [encoder.encode("{\"a\":"), new Uint8Array([0x7b, 0xff, 0x7d])]) {
        const error = yield* Effect.flip(WebhookSignature.parseJson(request(bad, {}), where, (value) => Effect.succeed(value)))
        expect(error).toMatchObject({ reason: "Invalid", status: 400, module: "AcmeWebhook", method: "parse" })
        expect(error.description).toMatch(/^body is not UTF-8 JSON: /)
        expect(error.cause).toMatchObject({ source: "acme", bodyBytes: bad.byteLength })
      }
    }))

  it.effect("a body that is not JSON is named without quoting it (Node's message quotes its first characters: a name, an address)", () =>
    Effect.gen(function*() {
      for (const text of ["Jane Doe, 12 Privet Drive, Little Whinging", "{\"to\": Jane Doe}", "[\"Jane Doe\",]"]) {
        const error = yield* Effect.flip(
          WebhookSignature.parseJson(request(encoder.encode(text), {}), where, (value) => Effect.succeed(value))
        )
        expect(error.description).toMatch(/^body is not UTF-8 JSON: /)
        expect(error.description).not.toMatch(/Jane|Doe|Privet/)
      }
      // What does not quote the body stays as Node words it.
      const cut = yield* Effect.flip(WebhookSignature.parseJson(request(encoder.encode("{\"a\":"), {}), where, (value) => Effect.succeed(value)))
      expect(cut.description).toBe("body is not UTF-8 JSON: Unexpected end of JSON input")
      expect(WebhookSignature.jsonProblem(new SyntaxError(`Unexpected token 'J', "Jane Doe, "... is not valid JSON`))).toBe(
        "Unexpected token (not valid JSON)"
      )
    }))

  it.effect("a decoder's failure keeps its reason and description and gets HTTP 400, method parse and evidence", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        WebhookSignature.parseJson(request(body, {}), where, () =>
          Effect.fail(new PortError.CarrierError({ reason: "Invalid", module: "AcmeTracking", method: "fromWebhook", description: "msg: is missing" })))
      )
      expect(error).toMatchObject({ reason: "Invalid", module: "AcmeWebhook", method: "parse", status: 400, description: "msg: is missing" })
      expect(error.cause).toMatchObject({ source: "acme", bodyBytes: body.byteLength, headers: [] })
    }))
})

describe("WebhookSignature.webhook", () => {
  const seen: Array<WebhookSignature.PayloadOptions> = []
  const acme = WebhookSignature.webhook({
    module: "AcmeWebhook",
    source: "acme",
    headers: [{ name: "x-acme-signature", scheme: { encoding: "hex", prefix: "sha256=" } }],
    decode: (json, options) => {
      seen.push(options)
      return typeof json === "object" && json !== null && "number" in json
        ? Effect.succeed([])
        : Effect.fail(new PortError.CarrierError({ reason: "Invalid", module: "AcmeTracking", method: "fromPayload", description: "number: is missing" }))
    }
  })
  const signed = (b: Uint8Array) => request(b, { "x-acme-signature": WebhookSignature.sign(b, secret, { encoding: "hex", prefix: "sha256=" }) })

  it.effect("verify makes a Verified request; parse hands the JSON over with the source, policy (default AssumeUtc) and arrival", () =>
    Effect.gen(function*() {
      const ok = encoder.encode("{\"number\":\"1\"}")
      const verified = yield* acme.verify(signed(ok), { secret: Redacted.make(secret) })
      expect(verified).toBeInstanceOf(acme.Verified)
      expect(() => new acme.Verified(Symbol("forged"), signed(ok))).toThrow("AcmeWebhook.Verified is made only by AcmeWebhook.verify")
      expect(yield* acme.parse(verified, {})).toEqual([])
      expect(seen.at(-1)).toEqual({ source: "acme", timePolicy: { _tag: "AssumeUtc" }, receivedAt })
      yield* acme.verifyAndParse(signed(ok), { secret: Redacted.make(secret), source: "acme-eu", timePolicy: { _tag: "RequireZone" } })
      expect(seen.at(-1)).toEqual({ source: "acme-eu", timePolicy: { _tag: "RequireZone" }, receivedAt })
    }))

  it.effect("verifyAndParse refuses before parsing; parse failures carry the module, method parse and evidence", () =>
    Effect.gen(function*() {
      const before = seen.length
      const unsigned = yield* Effect.flip(acme.verifyAndParse(request(body, {}), { secret: Redacted.make(secret) }))
      expect(unsigned).toMatchObject({ reason: "Unauthorized", module: "AcmeWebhook", method: "verify", description: "missing x-acme-signature header" })
      const big = yield* Effect.flip(acme.verifyAndParse(signed(body), { secret: Redacted.make(secret), maxBodyBytes: 10 }))
      expect(big).toMatchObject({ reason: "Invalid", status: 413, cause: { source: "acme" } })
      expect(seen.length).toBe(before)
      const bad = yield* Effect.flip(acme.verifyAndParse(signed(encoder.encode("{}")), { secret: Redacted.make(secret) }))
      expect(bad).toMatchObject({ reason: "Invalid", module: "AcmeWebhook", method: "parse", status: 400, description: "number: is missing" })
      expect(WebhookSignature.defaultMaxBodyBytes).toBe(1024 * 1024)
    }))
})

describe("WebhookSignature.webhook with decodeEach", () => {
  const scheme: WebhookSignature.Scheme = { encoding: "hex", prefix: "sha256=" }
  const seen: Array<WebhookSignature.PayloadOptions> = []
  const shapeError = (description: string) =>
    new PortError.CarrierError({ reason: "Invalid", module: "AcmeTracking", method: "fromPayload", description })
  // `{ "scans": [...] }`: a scan is readable when it has an `at`; the body's shape is the request's.
  const acme = WebhookSignature.webhook({
    module: "AcmeWebhook",
    source: "acme",
    headers: [{ name: "x-acme-signature", scheme }],
    decode: () => Effect.fail(shapeError("decode is not used by the event-by-event reading")),
    decodeEach: (json, options) => {
      seen.push(options)
      const scans = typeof json === "object" && json !== null && "scans" in json ? json.scans : undefined
      if (!Array.isArray(scans)) return Effect.fail(shapeError("scans: is missing"))
      return Effect.succeed({
        observations: [],
        unreadable: scans.flatMap((s, i) => (typeof s === "object" && s !== null && "at" in s ? [] : [`scans.${i}.at: is missing`]))
      })
    }
  })
  const signed = (b: Uint8Array) => request(b, { "x-acme-signature": WebhookSignature.sign(b, secret, scheme) })

  it.effect("verifyAndParseEach verifies as verifyAndParse does, then names the unreadable events instead of failing", () =>
    Effect.gen(function*() {
      const parsed = yield* acme.verifyAndParseEach(signed(encoder.encode("{\"scans\":[{\"at\":1},{},{\"at\":2}]}")), {
        secret: Redacted.make(secret),
        source: "acme-eu"
      })
      expect(parsed).toEqual({ observations: [], unreadable: ["scans.1.at: is missing"] })
      expect(seen.at(-1)).toEqual({ source: "acme-eu", timePolicy: { _tag: "AssumeUtc" }, receivedAt })
      const verified = yield* acme.verify(signed(encoder.encode("{\"scans\":[]}")), { secret: Redacted.make(secret) })
      expect(yield* acme.parseEach(verified, {})).toEqual({ observations: [], unreadable: [] })
    }))

  it.effect("what concerns the whole request still fails: the signature, the size, a body that is not JSON, the wrong shape", () =>
    Effect.gen(function*() {
      const before = seen.length
      const unsigned = yield* Effect.flip(acme.verifyAndParseEach(request(body, {}), { secret: Redacted.make(secret) }))
      expect(unsigned).toMatchObject({ reason: "Unauthorized", module: "AcmeWebhook", method: "verify", description: "missing x-acme-signature header" })
      const forged = yield* Effect.flip(
        acme.verifyAndParseEach(request(body, { "x-acme-signature": WebhookSignature.sign(body, "another", scheme) }), { secret: Redacted.make(secret) })
      )
      expect(forged).toMatchObject({ reason: "Unauthorized", status: 401 })
      const big = yield* Effect.flip(acme.verifyAndParseEach(signed(body), { secret: Redacted.make(secret), maxBodyBytes: 10 }))
      expect(big).toMatchObject({ reason: "Invalid", status: 413, cause: { source: "acme" } })
      expect(seen.length).toBe(before)
      const notJson = yield* Effect.flip(acme.verifyAndParseEach(signed(encoder.encode("{\"scans\":")), { secret: Redacted.make(secret) }))
      expect(notJson).toMatchObject({ reason: "Invalid", module: "AcmeWebhook", method: "parse", status: 400 })
      expect(notJson.description).toMatch(/^body is not UTF-8 JSON: /)
      const shape = yield* Effect.flip(acme.verifyAndParseEach(signed(encoder.encode("{}")), { secret: Redacted.make(secret) }))
      expect(shape).toMatchObject({ reason: "Invalid", module: "AcmeWebhook", method: "parse", status: 400, description: "scans: is missing" })
      expect(shape.cause).toMatchObject({ source: "acme", bodyBytes: 2 })
    }))

  it("a module without decodeEach has no verifyAndParseEach, so CarrierAdapter.inbound gives its port no parseEach", () => {
    const plain = WebhookSignature.webhook({ module: "PlainWebhook", source: "plain", headers: [{ name: "x-sig", scheme }], decode: () => Effect.succeed([]) })
    expect("verifyAndParseEach" in plain).toBe(false)
    expect("parseEach" in CarrierAdapter.inbound(plain, { secret: Redacted.make(secret) })).toBe(false)
    expect(typeof CarrierAdapter.inbound(acme, { secret: Redacted.make(secret) }).parseEach).toBe("function")
  })
})
