/** Polls `condition` until it returns a truthy value or `timeoutMs` passes; then fails with `message`. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  timeoutMs: number,
  message: string,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let delay = 5
  for (;;) {
    const value = await condition()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${message}`)
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, 50)
  }
}
