import type { Notification } from '@parley/protocol'
import type { NewOutboxFrame } from '../store/types.js'
import type { ServiceContext } from './context.js'

/** Bus topic that wakes the node holding a channel's socket. */
export const channelTopic = (channelId: string) => `channel:${channelId}`
/** Bus message: new frames are queued. */
export const WAKE = 'wake'
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

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
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
    await this.#ctx.store.appendFrames(frames)
    const channels = new Set(frames.map((f) => f.channelId))
    await Promise.all([...channels].map((id) => this.#ctx.bus.publish(channelTopic(id), WAKE)))
  }

  /** Tells every node to close the sockets of a removed channel. */
  async closeChannel(channelId: string): Promise<void> {
    await this.#ctx.bus.publish(channelTopic(channelId), CLOSE)
  }
}
