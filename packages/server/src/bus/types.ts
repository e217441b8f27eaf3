/**
 * The Bus interface (architecture §2): fan-out of small messages between the nodes of a deployment.
 * Parley uses it to wake the node that holds a channel's websocket ("channel X has new frames") and to
 * close sockets of removed channels. Delivery is at-most-once and best-effort: the durable truth is in
 * the Store, the bus only says "look now".
 */
export interface Bus {
  /** Sends `message` to every current subscriber of `topic`, on every node. */
  publish(topic: string, message: string): Promise<void>
  /** Starts receiving `topic`; resolves once subscribed. The returned function unsubscribes. */
  subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>>
  close(): Promise<void>
  /** Resolves when the bus can carry messages now (readiness, `GET /readyz`); rejects naming why not. */
  ping(): Promise<void>
}

/**
 * The message an adapter delivers to every handler when it may have missed messages, e.g. after a network
 * bus reconnected and re-subscribed. Subscribers treat it like any "look now": they re-check the Store
 * (the channel hub drains the channel's queue, as on a wake-up), so a wake-up lost in an outage delays
 * nothing past the reconnect. Never published by applications.
 */
export const BUS_RESYNC = '\u0000resync'
