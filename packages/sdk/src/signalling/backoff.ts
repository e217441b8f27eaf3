/**
 * Reconnect delays (sdk-api §1.3): the first reconnect attempt waits `reconnectDelay`; each failed
 * attempt multiplies the delay by `reconnectTimeMultiplier`, capped at `reconnectTimeLimit`.
 */
export interface BackoffSettings {
  reconnectDelay: number
  reconnectTimeMultiplier: number
  reconnectTimeLimit: number
}

/** Delay before reconnect attempt `n` (0-based). */
export function reconnectDelay(s: BackoffSettings, n: number): number {
  const raw = s.reconnectDelay * Math.pow(s.reconnectTimeMultiplier, n)
  return Math.min(raw, s.reconnectTimeLimit)
}

/** The first `count` delays. */
export function reconnectSchedule(s: BackoffSettings, count: number): number[] {
  return Array.from({ length: count }, (_, n) => reconnectDelay(s, n))
}

/** Time one connection attempt may take: max(reconnectDelay, 2000 ms), as Kandy clients do (protocol.md §2.1). */
export function openTimeout(s: BackoffSettings): number {
  return Math.max(s.reconnectDelay, 2000)
}
