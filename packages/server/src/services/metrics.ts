/**
 * What services and the HTTP/realtime layers count (README "Health, readiness and metrics"). An interface so
 * that services never import the metrics library; `metrics.ts` at the package root implements it with
 * prom-client. Every label is from a small, fixed set: never ids, users or URLs.
 */
export interface Metrics {
  callStarted(): void
  /** A call was answered `setupMs` after it was created. */
  callAnswered(setupMs: number): void
  /** A call ended; `outcome` is `answered` or `unanswered`, `reason` the call record's end reason. */
  callEnded(outcome: 'answered' | 'unanswered', reason: string): void
  channelSocketOpened(): void
  channelSocketClosed(): void
  notificationsQueued(count: number): void
  notificationsDelivered(count: number): void
  notificationsReplayed(count: number): void
  /** A request was refused with 429; `limit` names the budget (token, login, calls). */
  rateLimited(limit: string): void
  /** A response was sent; `route` is the route pattern (or `unmatched`). */
  httpRequest(method: string, route: string, status: number, seconds: number): void
  /** One Store method call took `seconds`. */
  storeOperation(operation: string, seconds: number): void
  /** A call quality sample was reported (issue 12); each value only when the sample has it. */
  qualitySample(sample: {
    mos?: number
    rttSeconds?: number
    packetLoss?: number
    jitterSeconds?: number
  }): void
  /** A client raised a quality warning (`high-rtt`, `low-mos`… the fixed set of the protocol). */
  qualityWarning(warning: string): void
  /** A call to or from a phone number ended (issue 11); counted besides `callEnded`. */
  pstnCallEnded(direction: 'outbound' | 'inbound', outcome: 'answered' | 'unanswered'): void
}
