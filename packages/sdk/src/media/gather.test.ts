import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { IceCheckReason } from '../core/types.js'
import { gatherWithCheck, type GatherSource } from './gather.js'

function source() {
  let state = 'gathering'
  let sdp = 'v=0\r\n'
  let closed = false
  const triggers = new Set<(r: IceCheckReason) => void>()
  const src: GatherSource = {
    iceGatheringState: () => state,
    localSdp: () => sdp,
    config: () => ({ iceServers: [] }),
    candidates: () => [],
    onTrigger: (cb) => {
      triggers.add(cb)
      return () => triggers.delete(cb)
    },
    closed: () => closed,
  }
  const fire = (r: IceCheckReason) => [...triggers].forEach((cb) => cb(r))
  return {
    src,
    triggers,
    addCandidate: () => {
      sdp += 'a=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n'
      fire('NewCandidate')
    },
    complete: () => {
      state = 'complete'
      fire('IceGatheringStateChanged')
    },
    close: () => {
      closed = true
      fire('IceGatheringStateChanged')
    },
  }
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('gatherWithCheck (sdk-api §5.1.8)', () => {
  it('runs the check at start, on candidates and state changes, and after requested waits', async () => {
    const s = source()
    const reasons: string[] = []
    const done = gatherWithCheck(s.src, {
      hardTimeout: 10000,
      check: (info) => {
        reasons.push(info.reason)
        return info.iceGatheringState === 'complete' ? { type: 'StartCall' } : { type: 'Wait', wait: 500 }
      },
    })
    s.addCandidate()
    await vi.advanceTimersByTimeAsync(500)
    s.complete()
    await expect(done).resolves.toContain('a=candidate:')
    expect(reasons).toEqual(['Scheduled', 'NewCandidate', 'Scheduled', 'IceGatheringStateChanged'])
    expect(s.triggers.size).toBe(0)
  })

  it('an Error result or an invalid result fails; a throwing check fails', async () => {
    const fail = (check: () => never | { type: string }) =>
      gatherWithCheck(source().src, { hardTimeout: 1000, check: check as never })
    await expect(fail(() => ({ type: 'Error', error: 'nope' }))).rejects.toThrow('nope')
    await expect(fail(() => ({ type: 'Bogus' }))).rejects.toThrow('invalid result')
    await expect(
      fail(() => {
        throw new Error('x')
      }),
    ).rejects.toThrow('threw')
  })

  it('stops when the peer connection closes', async () => {
    const s = source()
    const done = gatherWithCheck(s.src, { hardTimeout: 10000, check: () => ({ type: 'Wait' }) })
    s.close()
    await expect(done).rejects.toThrow('closed')
  })

  it('the hard timeout continues with candidates and fails without', async () => {
    const a = source()
    const withCand = gatherWithCheck(a.src, { hardTimeout: 100, check: () => ({ type: 'Wait' }) })
    a.addCandidate()
    const b = source()
    const without = gatherWithCheck(b.src, { hardTimeout: 100, check: () => ({ type: 'Wait' }) })
    const settled = without.catch((e: Error) => e.message)
    await vi.advanceTimersByTimeAsync(100)
    await expect(withCand).resolves.toContain('candidate')
    expect(await settled).toContain('no candidates')
  })

  it('re-offers may go without candidates once gathering is complete', async () => {
    const s = source()
    s.complete()
    const done = gatherWithCheck(s.src, {
      hardTimeout: 1000,
      allowNoCandidates: true,
      check: () => ({ type: 'Error', error: 'no candidates' }),
    })
    await expect(done).resolves.toBe('v=0\r\n')
  })
})
