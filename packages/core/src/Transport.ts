/**
 * The transport port: durable topics with consumer groups and at-least-once delivery.
 *
 * Promises a driver keeps (checked by `TransportSuite` from `@waybill/core/testing`):
 * - a published message is delivered to every group of its topic until acknowledged;
 * - within a group a message is handed to one consumer at a time; if it is not acknowledged
 *   within `visibilityMillis` it is delivered again (to any consumer), with `deliveries`
 *   counting each hand-out;
 * - a message handed out `maxDeliveries` times without an ack moves to the topic's dead letters
 *   instead of being delivered again;
 * - `ack` of an unknown or already acknowledged id is a no-op;
 * - `extend` (optional) renews the lease of messages a consumer still holds: they are not
 *   delivered again for another visibility timeout, and no delivery is counted.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as PortError from "./PortError.js"

/**
 * A message handed to a consumer.
 *
 * @since 0.1.0
 */
export interface Delivery {
  readonly id: string
  /**
   * Partition key: the shipment id of an event, the tracking number of an observation, or
   * `<source>:<hash of the body>` of a raw carrier request (`Worker.publish`).
   */
  readonly key: string
  /** JSON. */
  readonly body: string
  /** 1 on first delivery. */
  readonly deliveries: number
}

/**
 * Options of one receive call.
 *
 * @since 0.1.0
 */
export interface ReceiveOptions {
  readonly max: number
  readonly visibilityMillis: number
  /** How long to wait for messages when none are ready (0: return at once). */
  readonly waitMillis: number
  readonly maxDeliveries: number
}

/**
 * The transport operations.
 *
 * @since 0.1.0
 */
export interface TransportShape {
  readonly publish: (
    topic: string,
    messages: ReadonlyArray<{ readonly key: string; readonly body: string }>
  ) => Effect.Effect<ReadonlyArray<string>, PortError.StorageError>
  readonly receive: (
    topic: string,
    group: string,
    consumer: string,
    options: ReceiveOptions
  ) => Effect.Effect<ReadonlyArray<Delivery>, PortError.StorageError>
  readonly ack: (topic: string, group: string, ids: ReadonlyArray<string>) => Effect.Effect<void, PortError.StorageError>
  /**
   * Renews the lease of messages handed to `consumer`: none is delivered again before another
   * visibility timeout (`visibilityMillis` from now; a server that measures idle time resets it),
   * and no delivery is counted. A message acknowledged, dead-lettered or handed to another
   * consumer meanwhile is left as it is. The worker calls it while a batch takes longer than the
   * visibility timeout, so the batch is not handed to another worker while it is still being
   * handled (ingest is deduplicated, so that is safe, but done twice, and every hand-out counts
   * towards the dead letters). Optional: a driver without it keeps leases of one timeout only.
   *
   * @since 0.2.0
   */
  readonly extend?: (
    topic: string,
    group: string,
    consumer: string,
    ids: ReadonlyArray<string>,
    visibilityMillis: number
  ) => Effect.Effect<void, PortError.StorageError>
  /** Messages of the group delivered or waiting but not acknowledged. */
  readonly pending: (topic: string, group: string) => Effect.Effect<number, PortError.StorageError>
  /** Messages moved to the dead letters after too many deliveries, oldest first. */
  readonly deadLetters: (
    topic: string,
    group: string,
    limit: number
  ) => Effect.Effect<ReadonlyArray<Delivery>, PortError.StorageError>
  /**
   * Removes dead letters by message id, once they are kept elsewhere (the Worker moves them to
   * the store's dead letters, where they can be replayed); returns how many were removed. Ids no
   * longer there are ignored, so a repeated call is harmless.
   */
  readonly dropDeadLetters: (
    topic: string,
    group: string,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<number, PortError.StorageError>
}

/**
 * The transport port.
 *
 * @since 0.1.0
 */
export class Transport extends Context.Tag("@waybill/core/Transport")<Transport, TransportShape>() {}
