/**
 * Decoding canonical events, drafts and observations fast, with exactly Schema's results.
 *
 * `Schema.decodeUnknownEither(ShipmentEvent.ShipmentEvent)` costs 10-15 µs per event, most of it
 * in the generic parser and the class constructors: on an ingest path that is the largest single
 * cost per event. These decoders check the same rules by hand and build the same values (same
 * classes, keys in the same order, equal by `Equal.equals`); on any input they do not accept they
 * return the Schema decoder's result, so errors are Schema's own. About 3× faster on valid input.
 *
 * Use them where canonical JSON arrives in volume: a transport consumer, a source that posts
 * drafts, an event log being read back. The runtime does (`Worker`, `ShipmentRecord.fromJson`).
 *
 * @example
 * ```ts
 * import { EventCodec } from "@waybill/core"
 * import * as Either from "effect/Either"
 *
 * const decoded = EventCodec.decodeObservation(JSON.parse(body))
 * if (Either.isLeft(decoded)) console.error(decoded.left.message) // Schema's message
 * ```
 *
 * @since 0.2.0
 */
import type * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import type * as CarrierPort from "./CarrierPort.js"
import * as FastDecode from "./internal/fastDecode.js"
import type * as ShipmentEvent from "./ShipmentEvent.js"

/**
 * `Schema.decodeUnknownEither(ShipmentEvent.ShipmentEvent)`, fast on valid input.
 *
 * @since 0.2.0
 */
export const decodeEvent: (u: unknown) => Either.Either<ShipmentEvent.ShipmentEvent, ParseResult.ParseError> =
  FastDecode.decodeEvent

/**
 * `Schema.decodeUnknownEither(ShipmentEvent.Draft)`, fast on valid input.
 *
 * @since 0.2.0
 */
export const decodeDraft: (u: unknown) => Either.Either<ShipmentEvent.Draft, ParseResult.ParseError> =
  FastDecode.decodeDraft

/**
 * `Schema.decodeUnknownEither(CarrierPort.Observation)`, fast on valid input.
 *
 * @since 0.2.0
 */
export const decodeObservation: (u: unknown) => Either.Either<CarrierPort.Observation, ParseResult.ParseError> =
  FastDecode.decodeObservation
