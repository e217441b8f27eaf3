import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Bus } from './types.js'

/** Upper bound for one delivery; generous because a network bus (Redis) may sit on a busy CI machine. */
const DELIVERY_TIMEOUT_MS = 2_000

/** Resolves once `condition()` holds, polling briefly; rejects with `message` after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A handler that records what it receives. */
function recorder(): { messages: string[]; handler: (message: string) => void } {
  const messages: string[] = []
  return { messages, handler: (message) => messages.push(message) }
}

/** A topic no other test (or run, on a shared server) uses. */
function uniqueTopic(): string {
  return `test:${randomUUID()}`
}

/**
 * The behaviour every Bus adapter must have (architecture §2). `makeBus` returns a fresh bus, ready to
 * use; each test closes it. Messages that must *not* arrive are checked against a later marker message
 * that must arrive, so no test sleeps for a fixed time.
 */
export function runBusContract(name: string, makeBus: () => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus

    beforeEach(async () => {
      bus = await makeBus()
    })

    afterEach(async () => {
      await bus.close()
    })

    it('publish() reaches every subscriber of the topic and no subscriber of another topic', async () => {
      const topic = uniqueTopic()
      const otherTopic = uniqueTopic()
      const first = recorder()
      const second = recorder()
      const other = recorder()
      await bus.subscribe(topic, first.handler)
      await bus.subscribe(topic, second.handler)
      await bus.subscribe(otherTopic, other.handler)

      await bus.publish(topic, 'channel ch-1 has frames')
      await waitFor(
        () => first.messages.length > 0 && second.messages.length > 0,
        DELIVERY_TIMEOUT_MS,
        'both subscribers of the topic',
      )
      // Published after the first message: once it is in, a misrouted first message would be too.
      await bus.publish(otherTopic, 'marker')
      await waitFor(
        () => other.messages.includes('marker'),
        DELIVERY_TIMEOUT_MS,
        'the marker on the other topic',
      )

      expect(first.messages).toStrictEqual(['channel ch-1 has frames'])
      expect(second.messages).toStrictEqual(['channel ch-1 has frames'])
      expect(other.messages).toStrictEqual(['marker'])
    })

    it('publish() delivers the message text unchanged', async () => {
      const topic = uniqueTopic()
      const received = recorder()
      await bus.subscribe(topic, received.handler)
      const messages = ['', '{"channelId":"ch-1","close":1001}', 'ünïcödé ✓ 📞', 'line\nbreak']
      for (const message of messages) await bus.publish(topic, message)
      await waitFor(() => received.messages.length === messages.length, DELIVERY_TIMEOUT_MS, 'every message')
      expect(received.messages).toStrictEqual(messages)
    })

    it('publish() keeps the order of messages on one topic', async () => {
      const topic = uniqueTopic()
      const received = recorder()
      await bus.subscribe(topic, received.handler)
      const messages = Array.from({ length: 50 }, (_, index) => `message ${index}`)

      for (const message of messages) await bus.publish(topic, message)

      await waitFor(
        () => received.messages.length === messages.length,
        DELIVERY_TIMEOUT_MS,
        'all 50 messages',
      )
      expect(received.messages).toStrictEqual(messages)
    })

    it('the function subscribe() returns stops delivery to that handler only', async () => {
      const topic = uniqueTopic()
      const leaving = recorder()
      const staying = recorder()
      const unsubscribe = await bus.subscribe(topic, leaving.handler)
      await bus.subscribe(topic, staying.handler)
      await bus.publish(topic, 'before')
      await waitFor(() => leaving.messages.length === 1, DELIVERY_TIMEOUT_MS, 'the first message')

      await unsubscribe()
      await bus.publish(topic, 'after')
      await waitFor(() => staying.messages.includes('after'), DELIVERY_TIMEOUT_MS, 'the second message')

      expect(leaving.messages).toStrictEqual(['before'])
      expect(staying.messages).toStrictEqual(['before', 'after'])
    })

    it('unsubscribing twice is harmless', async () => {
      const unsubscribe = await bus.subscribe(uniqueTopic(), () => undefined)
      await unsubscribe()
      await expect(unsubscribe()).resolves.toBeUndefined()
    })

    it('publish() to a topic nobody subscribed to resolves', async () => {
      await expect(bus.publish(uniqueTopic(), 'nobody listens')).resolves.toBeUndefined()
    })

    it('close() stops delivery to every subscriber of the bus', async () => {
      const topic = uniqueTopic()
      const closed = recorder()
      await bus.subscribe(topic, closed.handler)

      await bus.close()
      // A closed bus may resolve or refuse a publish; it must not deliver it.
      await bus.publish(topic, 'after close').catch(() => undefined)

      // A second bus is the marker: on a shared bus (Redis) it sees the topic like the closed one would,
      // so once its message is in, anything for the closed bus would have arrived too.
      const witness = await makeBus()
      try {
        const seen = recorder()
        await witness.subscribe(topic, seen.handler)
        await witness.publish(topic, 'marker')
        await waitFor(
          () => seen.messages.includes('marker'),
          DELIVERY_TIMEOUT_MS,
          'the marker on a second bus',
        )
      } finally {
        await witness.close()
      }
      expect(closed.messages).toStrictEqual([])
    })

    it('ping() resolves on an open bus and rejects once it is closed', async () => {
      await expect(bus.ping()).resolves.toBeUndefined()
      await bus.close()
      await expect(bus.ping()).rejects.toThrow()
    })

    it('close() twice resolves both times', async () => {
      await bus.close()
      await expect(bus.close()).resolves.toBeUndefined()
    })
  })
}
