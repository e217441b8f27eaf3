import type { Notification } from '@parley/protocol'
import type { NewOutboxFrame, OutboxFrame } from '../store/types.js'
import type { ServiceContext } from './context.js'

/** Bus topic that wakes the node holding a channel's socket. */
export const channelTopic = (channelId: string) => `channel:${channelId}`
/**
 * Bus message: new frames are queued. The notifier sends `wake:<seq>`, naming the channel's last new seq, so a
 * node that has already sent that far can skip the queue read; any other wake means "look now".
 */
export const WAKE = 'wake'

/** The bus message for "frames up to `seq` are queued". */
export const wakeMessage = (seq: number) => `${WAKE}:${seq}`

/** The seq a wake message names, or undefined for a plain wake (and anything else). */
export function wakeSeq(message: string): number | undefined {
  if (!message.startsWith(`${WAKE}:`)) return undefined
  const seq = Number(message.slice(WAKE.length + 1))
  return Number.isSafeInteger(seq) ? seq : undefined
}

/**
 * Receives a channel's frames just queued by this node, in queue order, so that this node's holder of the
 * channel's socket can send them without reading them back. It must not throw; the bus wake follows anyway.
 */
export type LocalDelivery = (channelId: string, frames: OutboxFrame[]) => void
/** Bus message: the channel is gone; close its sockets (1001). */
export const CLOSE = 'close'

/** A notification for a set of channels, about one leg (or none). */
export interface Outgoing {
  channelIds: string[]
  legId: string | null
  frame: Notification
}

/** The notification's top-level key and `id` (protocol §9.0: exactly one key, an object with an id). */
export function describeFrame(frame: Notification): { kind: string; id: string } {
  const [kind, body] = Object.entries(frame)[0] as [string, { id: string }]
  return { kind, id: body.id }
}

/**
 * Puts notifications into their channels' durable queues, in order, and wakes whichever node holds each
 * channel's socket (protocol §5.7, §11.2). Delivery itself is the realtime layer's job.
 */
export class Notifier {
  readonly #ctx: ServiceContext
  #local: LocalDelivery | undefined

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
  }

  /** Hands frames queued on this node to `sink` as well (the node's channel hub), before the bus wake. */
  setLocalDelivery(sink: LocalDelivery | undefined): void {
    this.#local = sink
  }

  /** Queues every notification (FIFO per channel, in the given order) and wakes the channels. */
  async send(items: Outgoing[]): Promise<void> {
    const frames: NewOutboxFrame[] = []
    for (const item of items) {
      const { kind, id } = describeFrame(item.frame)
      const text = JSON.stringify(item.frame)
      for (const channelId of item.channelIds)
        frames.push({ channelId, id, kind, legId: item.legId, frame: text })
    }
    if (frames.length === 0) return
    const appended = await this.#ctx.store.appendFrames(frames)
    this.#ctx.metrics?.notificationsQueued(appended.length)
    const byChannel = new Map<string, OutboxFrame[]>(frames.map((f) => [f.channelId, []]))
    for (const frame of appended) byChannel.get(frame.channelId)?.push(frame)
    const wakes: Promise<void>[] = []
    for (const [channelId, queued] of byChannel) {
      const last = queued.at(-1)
      if (last) this.#local?.(channelId, queued)
      wakes.push(this.#ctx.bus.publish(channelTopic(channelId), last ? wakeMessage(last.seq) : WAKE))
    }
    await Promise.all(wakes)
  }

  /** Tells every node to close the sockets of a removed channel. */
  async closeChannel(channelId: string): Promise<void> {
    await this.#ctx.bus.publish(channelTopic(channelId), CLOSE)
  }
}
