import { describe, expect, it } from 'vitest'
import { AsyncQueue } from './async-queue.js'

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('AsyncQueue (negotiation queue, architecture §4)', () => {
  it('runs tasks one at a time in submission order, even when later ones are faster', async () => {
    const q = new AsyncQueue()
    const log: string[] = []
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`)
      await delay(ms)
      log.push(`end ${name}`)
      return name
    }
    const results = await Promise.all([
      q.run(task('offer', 10)),
      q.run(task('answer', 1)),
      q.run(task('restart', 0)),
    ])
    expect(results).toEqual(['offer', 'answer', 'restart'])
    expect(log).toEqual([
      'start offer',
      'end offer',
      'start answer',
      'end answer',
      'start restart',
      'end restart',
    ])
  })

  it('a failing task does not block the next one', async () => {
    const q = new AsyncQueue()
    const failed = q.run(async () => {
      throw new Error('glare')
    })
    const next = q.run(async () => 'ok')
    await expect(failed).rejects.toThrow('glare')
    await expect(next).resolves.toBe('ok')
    expect(q.size).toBe(0)
  })

  it('close rejects tasks that have not started; the running one finishes', async () => {
    const q = new AsyncQueue()
    let finished = false
    const running = q.run(async () => {
      await delay(5)
      finished = true
    })
    const waiting = q.run(async () => 'never')
    await delay(1)
    q.close()
    await running
    expect(finished).toBe(true)
    await expect(waiting).rejects.toThrow('Queue closed')
    await expect(q.run(async () => 1)).rejects.toThrow('Queue closed')
  })
})
