import { randomUUID } from 'node:crypto'
import { waitFor } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { runBusContract } from './bus.contract.js'
import { ClusterBus, type BusTransport } from './cluster-bus.js'
import { ClusterBusRelay } from './cluster-relay.js'

/**
 * One end of an in-memory stand-in for the cluster IPC channel: messages are copied through JSON (as Node's
 * IPC serialises them) and delivered in order on a later turn of the event loop. A channel can be held (its
 * messages queue up until released) and closed (a worker that died).
 */
class MemoryEnd implements BusTransport {
  peer!: MemoryEnd
  readonly listeners = new Set<(message: unknown) => void>()
  /** Messages this end sent. */
  readonly sent: unknown[] = []
  closed = false
  held: (() => void)[] | undefined

  send(message: unknown): void {
    if (this.closed) throw new Error('channel closed')
    this.sent.push(message)
    const copy: unknown = JSON.parse(JSON.stringify(message))
    const deliver = () => {
      if (this.peer.closed) return
      for (const listener of [...this.peer.listeners]) listener(copy)
    }
    setImmediate(() => (this.held ? this.held.push(deliver) : deliver()))
  }

  onMessage(listener: (message: unknown) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Holds this end's outgoing messages until `release()`. */
  hold(): void {
    this.held = []
  }

  release(): void {
    const held = this.held ?? []
    this.held = undefined
    for (const deliver of held) deliver()
  }
}

/** A worker's and the primary's ends of one channel. */
function channel(): { worker: MemoryEnd; primary: MemoryEnd; close(): void } {
  const worker = new MemoryEnd()
  const primary = new MemoryEnd()
  worker.peer = primary
  primary.peer = worker
  return {
    worker,
    primary,
    close() {
      worker.closed = true
      primary.closed = true
    },
  }
}

// One relay for the whole file, as the primary has one for all its workers: the contract's "second bus"
// is then another worker of the same node.
const sharedRelay = new ClusterBusRelay()
let nextWorkerId = 1

runBusContract('ClusterBus over an in-process relay', async () => {
  const { worker, primary } = channel()
  sharedRelay.attach(nextWorkerId++, primary)
  return new ClusterBus(worker)
})

describe('ClusterBus and ClusterBusRelay', () => {
  interface TestWorker {
    id: number
    bus: ClusterBus
    channel: ReturnType<typeof channel>
  }
  const buses: ClusterBus[] = []

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close()
  })

  function workerOf(relay: ClusterBusRelay, options: { onError?: (error: Error) => void } = {}): TestWorker {
    const id = nextWorkerId++
    const link = channel()
    relay.attach(id, link.primary)
    const bus = new ClusterBus(link.worker, options)
    buses.push(bus)
    return { id, bus, channel: link }
  }

  const topic = () => `channel:${randomUUID()}`

  it('a publish on one worker reaches the subscribed workers, and only those', async () => {
    const relay = new ClusterBusRelay()
    const [a, b, c] = [workerOf(relay), workerOf(relay), workerOf(relay)]
    const wanted = topic()
    const other = topic()
    const onB: string[] = []
    const onC: string[] = []
    await b.bus.subscribe(wanted, (message) => onB.push(message))
    await c.bus.subscribe(other, (message) => onC.push(message))

    await a.bus.publish(wanted, 'wake:1')
    await a.bus.publish(other, 'marker')

    await waitFor(() => onC.includes('marker'), 2_000, 'the marker on worker C')
    await waitFor(() => onB.length > 0, 2_000, 'the message on worker B')
    expect(onB).toStrictEqual(['wake:1'])
    expect(onC).toStrictEqual(['marker'])
    expect(relay.subscribers(wanted)).toStrictEqual([b.id])
  })

  it('subscribe() resolves only once the relay registered the subscription', async () => {
    const relay = new ClusterBusRelay()
    const b = workerOf(relay)
    b.channel.worker.hold()
    const wanted = topic()
    let resolved = false
    const subscribing = b.bus.subscribe(wanted, () => undefined).then(() => (resolved = true))
    // Several turns of the event loop: the relay has not seen the request, so nothing may resolve.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve))
    expect(resolved).toBe(false)
    expect(relay.subscribers(wanted)).toStrictEqual([])

    b.channel.worker.release()
    await subscribing
    expect(relay.subscribers(wanted)).toStrictEqual([b.id])
  })

  it('a publish from another worker right after subscribe() resolved is received', async () => {
    const relay = new ClusterBusRelay()
    const [a, b] = [workerOf(relay), workerOf(relay)]
    for (let round = 0; round < 20; round++) {
      const wanted = topic()
      const received: string[] = []
      await b.bus.subscribe(wanted, (message) => received.push(message))
      await a.bus.publish(wanted, `round ${round}`)
      await waitFor(() => received.length === 1, 2_000, `the message of round ${round}`)
    }
  })

  it('a publisher subscribed to its own topic receives its message once, without a relay round trip', async () => {
    const relay = new ClusterBusRelay()
    const [a, b] = [workerOf(relay), workerOf(relay)]
    const wanted = topic()
    const onA: string[] = []
    const onB: string[] = []
    await a.bus.subscribe(wanted, (message) => onA.push(message))
    await b.bus.subscribe(wanted, (message) => onB.push(message))
    const repliesToA = a.channel.primary.sent.length

    await a.bus.publish(wanted, 'wake:7')

    await waitFor(() => onA.length > 0 && onB.length > 0, 2_000, 'the message on both workers')
    // A's next batch is applied after its publish: the relay's answer to it would follow anything for A.
    await a.bus.subscribe(topic(), () => undefined)
    expect(onA).toStrictEqual(['wake:7'])
    expect(onB).toStrictEqual(['wake:7'])
    expect(a.channel.primary.sent.slice(repliesToA)).toMatchObject([{ parleyBus: { deliver: [] } }])
  })

  it('the relay drops the topics of a worker that died and sends it nothing more', async () => {
    const errors: Error[] = []
    const relay = new ClusterBusRelay({ onError: (error) => errors.push(error) })
    const [a, b] = [workerOf(relay), workerOf(relay)]
    const topics = [topic(), topic()]
    for (const t of topics) await b.bus.subscribe(t, () => undefined)
    const before = relay.topicCount
    expect(topics.map((t) => relay.subscribers(t))).toStrictEqual([[b.id], [b.id]])

    // The worker process is gone: its channel closes and the primary's 'exit' handler detaches it.
    b.channel.close()
    relay.detach(b.id)

    expect(topics.map((t) => relay.subscribers(t))).toStrictEqual([[], []])
    expect(relay.topicCount).toBe(before - 2)
    const sentToB = b.channel.primary.sent.length
    const marker = topic()
    const seen: string[] = []
    const c = workerOf(relay)
    await c.bus.subscribe(marker, (message) => seen.push(message))
    await a.bus.publish(topics[0]!, 'wake:1')
    await a.bus.publish(marker, 'marker')
    await waitFor(() => seen.includes('marker'), 2_000, 'the marker on a live worker')
    expect(b.channel.primary.sent.length).toBe(sentToB)
    expect(errors).toStrictEqual([])
  })

  it('close() makes the relay forget the worker’s subscriptions', async () => {
    const relay = new ClusterBusRelay()
    const a = workerOf(relay)
    const wanted = topic()
    await a.bus.subscribe(wanted, () => undefined)
    await a.bus.close()
    await waitFor(() => relay.subscribers(wanted).length === 0, 2_000, 'the relay to drop the topic')
  })

  it('subscriptions made in one tick travel as one message and are confirmed together', async () => {
    const relay = new ClusterBusRelay()
    const [a, b] = [workerOf(relay), workerOf(relay)]
    const topics = Array.from({ length: 2_000 }, topic)
    const received = new Set<string>()
    const sentBefore = b.channel.worker.sent.length
    await Promise.all(topics.map((t) => b.bus.subscribe(t, (message) => received.add(message))))
    expect(b.channel.worker.sent.length - sentBefore).toBe(1)
    expect(b.channel.primary.sent).toHaveLength(1)

    await Promise.all(topics.map((t) => a.bus.publish(t, t)))
    await waitFor(() => received.size === topics.length, 5_000, 'a message on every topic')
    expect(a.channel.worker.sent).toHaveLength(1)
  })

  it('unsubscribe then subscribe of one topic in the same tick leaves the worker subscribed', async () => {
    const relay = new ClusterBusRelay()
    const [a, b] = [workerOf(relay), workerOf(relay)]
    const wanted = topic()
    const received: string[] = []
    const leave = await b.bus.subscribe(wanted, () => received.push('old'))
    await Promise.all([leave(), b.bus.subscribe(wanted, (message) => received.push(message))])
    expect(relay.subscribers(wanted)).toStrictEqual([b.id])
    await a.bus.publish(wanted, 'new')
    await waitFor(() => received.length > 0, 2_000, 'the message')
    expect(received).toStrictEqual(['new'])
  })

  it('a handler that throws does not stop delivery to the other handlers and is reported', async () => {
    const errors: Error[] = []
    const relay = new ClusterBusRelay()
    const a = workerOf(relay)
    const b = workerOf(relay, { onError: (error) => errors.push(error) })
    const wanted = topic()
    const received: string[] = []
    await b.bus.subscribe(wanted, () => {
      throw new Error('handler bug')
    })
    await b.bus.subscribe(wanted, (message) => received.push(message))
    await a.bus.publish(wanted, 'wake')
    await waitFor(() => received.length === 1, 2_000, 'the message on the second handler')
    expect(errors.map((error) => error.message)).toStrictEqual(['handler bug'])
  })

  it('messages that are not the bus’s are ignored on both ends', async () => {
    const relay = new ClusterBusRelay()
    const [a, b] = [workerOf(relay), workerOf(relay)]
    const wanted = topic()
    const received: string[] = []
    await b.bus.subscribe(wanted, (message) => received.push(message))
    for (const stray of [
      'hello',
      null,
      { parleyWorker: { type: 'ready' } },
      { parleyBus: { operations: 'all of them' } },
      { parleyBus: { operations: [{ publish: wanted }] } },
      { parleyBus: { operations: [{ subscribe: 42 }] } },
    ]) {
      a.channel.worker.send(stray)
      b.channel.primary.send(stray)
    }
    await a.bus.publish(wanted, 'after the strays')
    await waitFor(() => received.length > 0, 2_000, 'the message after the strays')
    expect(received).toStrictEqual(['after the strays'])
    expect(relay.subscribers(wanted)).toStrictEqual([b.id])
  })

  it('subscribe() rejects when the channel to the primary is closed', async () => {
    const relay = new ClusterBusRelay()
    const errors: Error[] = []
    const a = workerOf(relay, { onError: (error) => errors.push(error) })
    a.channel.close()
    await expect(a.bus.subscribe(topic(), () => undefined)).rejects.toThrow(/cannot reach the primary/)
    await expect(a.bus.publish(topic(), 'lost')).resolves.toBeUndefined()
    await waitFor(() => errors.length >= 2, 2_000, 'the failures reported')
    for (const error of errors) expect(error.message).toMatch(/cannot reach the primary/)
  })
})
