/**
 * The shared rate limit: the memory driver against the conformance suite.
 */
import * as Effect from "effect/Effect"
import { RateLimit } from "../src/index.js"
import { RateLimitSuite } from "../src/testing/index.js"

RateLimitSuite.run("RateLimit memory driver", Effect.map(RateLimit.makeMemory, (m) => [m, m] as const))
