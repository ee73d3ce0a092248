/**
 * An in-memory `Transport`: topics with consumer groups, at-least-once delivery, redelivery
 * after the visibility timeout and dead letters after too many deliveries. For tests, demos
 * and single-process hosts; it keeps every promise of the port (checked by `TransportSuite`).
 * Like the Redis transport it lets go of the messages every group of a topic has read (in
 * steps of at least `TRIM` messages), so a group created later starts at the oldest message kept.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Transport from "./Transport.js"

interface Message {
  readonly id: string
  readonly key: string
  readonly body: string
}

interface Pending {
  readonly message: Message
  deliveries: number
  visibleAt: number
  /** The consumer it was last handed to (only it may extend the lease). */
  consumer: string
}

interface Group {
  offset: number
  readonly pending: Map<string, Pending>
  dead: Array<Transport.Delivery>
}

interface Topic {
  /** The messages from offset `base` on; the ones before it every group has read. */
  readonly messages: Array<Message>
  base: number
  readonly groups: Map<string, Group>
}

/** The fewest messages let go of at once (and at least half of those kept): amortized O(1). */
const TRIM = 1024

/**
 * Creates an empty in-memory transport.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<Transport.TransportShape> = Effect.sync(() => {
  const topics = new Map<string, Topic>()
  let sequence = 0
  // Completed (and replaced) by every publish: a waiting receive wakes on it instead of polling.
  let published = Deferred.unsafeMake<void>(FiberId.none)
  const wakeReceivers = () => {
    const waiting = published
    published = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(waiting, Exit.void)
  }
  /** When the group's next message under lease becomes visible again (`Infinity`: none). */
  const nextVisible = (topicName: string, groupName: string, now: number) => {
    let next = Infinity
    for (const p of groupOf(topicOf(topicName), groupName).pending.values()) {
      if (p.visibleAt > now && p.visibleAt < next) next = p.visibleAt
    }
    return next
  }

  const topicOf = (name: string): Topic => {
    let topic = topics.get(name)
    if (topic === undefined) topics.set(name, (topic = { messages: [], base: 0, groups: new Map() }))
    return topic
  }
  const groupOf = (topic: Topic, name: string): Group => {
    let group = topic.groups.get(name)
    // A new group starts at the oldest message kept: nothing no group has read is lost to it.
    if (group === undefined) topic.groups.set(name, (group = { offset: topic.base, pending: new Map(), dead: [] }))
    return group
  }

  const take = (topicName: string, groupName: string, consumer: string, options: Transport.ReceiveOptions, now: number) => {
    const topic = topicOf(topicName)
    const group = groupOf(topic, groupName)
    const out: Array<Transport.Delivery> = []
    for (const [id, p] of group.pending) {
      if (out.length >= options.max) break
      if (p.visibleAt > now) continue
      if (p.deliveries >= options.maxDeliveries) {
        group.pending.delete(id)
        group.dead.push({ id, key: p.message.key, body: p.message.body, deliveries: p.deliveries })
        continue
      }
      p.deliveries++
      p.visibleAt = now + options.visibilityMillis
      p.consumer = consumer
      out.push({ id, key: p.message.key, body: p.message.body, deliveries: p.deliveries })
    }
    while (out.length < options.max && group.offset < topic.base + topic.messages.length) {
      const message = topic.messages[group.offset++ - topic.base]!
      group.pending.set(message.id, { message, deliveries: 1, visibleAt: now + options.visibilityMillis, consumer })
      out.push({ id: message.id, key: message.key, body: message.body, deliveries: 1 })
    }
    if (out.length > 0) release(topic)
    return out
  }

  /** Lets go of the messages every group has read (a pending one stays with its group). */
  const release = (topic: Topic) => {
    let low = Infinity
    for (const group of topic.groups.values()) low = Math.min(low, group.offset)
    const read = low - topic.base
    if (read >= TRIM && read * 2 >= topic.messages.length) {
      topic.messages.splice(0, read)
      topic.base = low
    }
  }

  const transport: Transport.TransportShape = {
    publish: (topicName, messages) =>
      Effect.sync(() => {
        const topic = topicOf(topicName)
        const ids = messages.map((m) => {
          const id = `${++sequence}`
          topic.messages.push({ id, key: m.key, body: m.body })
          return id
        })
        if (ids.length > 0) wakeReceivers()
        return ids
      }),

    receive: (topicName, groupName, consumer, options) =>
      Effect.gen(function* () {
        const deadline = (yield* Clock.currentTimeMillis) + options.waitMillis
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const out = take(topicName, groupName, consumer, options, now)
          if (out.length > 0 || now >= deadline) return out
          // Until a publish, a lease running out, or the deadline, whichever comes first.
          const wake = published
          const until = Math.min(deadline, nextVisible(topicName, groupName, now))
          yield* Effect.raceFirst(Deferred.await(wake), Effect.sleep(until - now))
        }
      }),

    ack: (topicName, groupName, ids) =>
      Effect.sync(() => {
        const group = groupOf(topicOf(topicName), groupName)
        for (const id of ids) group.pending.delete(id)
      }),

    extend: (topicName, groupName, consumer, ids, visibilityMillis) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const group = groupOf(topicOf(topicName), groupName)
        for (const id of ids) {
          const p = group.pending.get(id)
          if (p !== undefined && p.consumer === consumer) p.visibleAt = Math.max(p.visibleAt, now + visibilityMillis)
        }
      }),

    pending: (topicName, groupName) =>
      Effect.sync(() => {
        const topic = topicOf(topicName)
        const group = groupOf(topic, groupName)
        return group.pending.size + (topic.base + topic.messages.length - group.offset)
      }),

    deadLetters: (topicName, groupName, limit) =>
      Effect.sync(() => groupOf(topicOf(topicName), groupName).dead.slice(0, limit)),

    dropDeadLetters: (topicName, groupName, ids) =>
      Effect.sync(() => {
        const group = groupOf(topicOf(topicName), groupName)
        const drop = new Set(ids)
        const before = group.dead.length
        group.dead = group.dead.filter((d) => !drop.has(d.id))
        return before - group.dead.length
      })
  }
  return transport
})

/**
 * A layer providing an empty in-memory `Transport`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Transport.Transport> = Layer.effect(Transport.Transport, make)
