import { describe, expect, it } from 'vitest'
import { Batcher, type Outcome } from './batches.js'

/** A batcher whose runs wait until released, recording the batches it was given. */
function gated() {
  const batches: number[][] = []
  const releases: (() => void)[] = []
  const batcher = new Batcher<number, number>(async (inputs) => {
    batches.push(inputs)
    await new Promise<void>((resolve) => releases.push(resolve))
    return inputs.map((n): Outcome<number> =>
      n < 0 ? { ok: false, error: new Error(`bad ${n}`) } : { ok: true, value: n * 10 },
    )
  })
  return { batcher, batches, releases }
}

describe('Batcher', () => {
  it('sends the first item at once and the items that arrive meanwhile together, in arrival order', async () => {
    const { batcher, batches, releases } = gated()
    const first = batcher.submit(1)
    const later = [2, 3, 4].map((n) => batcher.submit(n))
    expect(batches).toStrictEqual([[1]])
    releases.shift()!()
    expect(await first).toBe(10)
    await expect.poll(() => batches.length).toBe(2)
    expect(batches[1]).toStrictEqual([2, 3, 4])
    releases.shift()!()
    expect(await Promise.all(later)).toStrictEqual([20, 30, 40])
  })

  it('fails only the items whose outcome is an error', async () => {
    const { batcher, releases } = gated()
    const first = batcher.submit(1)
    const good = batcher.submit(2)
    const bad = batcher.submit(-1)
    releases.shift()!()
    await first
    await expect.poll(() => releases.length).toBe(1)
    releases.shift()!()
    expect(await good).toBe(20)
    await expect(bad).rejects.toThrow('bad -1')
  })

  it('fails every item of a batch whose run rejects, and keeps serving later items', async () => {
    let fail = true
    const batcher = new Batcher<number, number>(async (inputs) => {
      if (fail) throw new Error('connection lost')
      return inputs.map((n) => ({ ok: true, value: n }))
    })
    const results = await Promise.allSettled([batcher.submit(1), batcher.submit(2)])
    expect(results.map((r) => r.status)).toStrictEqual(['rejected', 'rejected'])
    fail = false
    expect(await batcher.submit(3)).toBe(3)
  })
})
