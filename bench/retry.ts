/**
 * Bounded runs for the benchmarks' baselines. A bare RTCPeerConnection pair in Chromium now and then never
 * reaches `connected` on a loaded machine (seen: ICE `disconnected`, connection `failed`); that is a browser
 * flake of the yardstick, not of Parley, so such a run is cleaned up and measured again, and the number of
 * retries is reported. Parley's own runs are never retried: a call that does not connect fails the benchmark.
 */

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Counts the retries of every `retried` call, for the results file. */
export const retries = { count: 0, reasons: [] as string[] }

/**
 * Runs `attempt` (bounded by `ms`) up to `attempts` times, calling `cleanUp` after each failure; the last
 * failure is thrown.
 */
export async function retried<T>(
  what: string,
  attempt: () => Promise<T>,
  cleanUp: () => Promise<void>,
  { ms = 10_000, attempts = 3 } = {},
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await within(attempt(), ms, what)
    } catch (err) {
      await cleanUp().catch(() => undefined)
      if (i >= attempts) throw err
      retries.count++
      retries.reasons.push((err as Error).message)
      process.stderr.write(`${what} failed (${(err as Error).message}); measured again\n`)
    }
  }
}
