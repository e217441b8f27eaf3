import { parse } from 'sdp-transform'
import { describe, expect, it } from 'vitest'
import type { IceCollectionInfo } from '../core/types.js'
import { candidatesBySection, defaultIceCheck, legacyIceCheck } from './ice-check.js'

const sdp = (sections: Array<{ mid: string; cands: string[] }>, bundle = true) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    ...(bundle ? [`a=group:BUNDLE ${sections.map((s) => s.mid).join(' ')}`] : []),
    ...sections.flatMap((s) => [
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'c=IN IP4 0.0.0.0',
      `a=mid:${s.mid}`,
      'a=rtpmap:111 opus/48000/2',
      ...s.cands.map((t, i) => `a=candidate:${i} 1 udp 1 10.0.0.${i} 500${i} typ ${t}`),
    ]),
    '',
  ].join('\r\n')

const info = (over: Partial<IceCollectionInfo>): IceCollectionInfo => ({
  callId: 'c',
  callOperation: 'MAKE',
  reason: 'NewCandidate',
  iceCandidates: [],
  iceCollectionDuration: 0,
  iceGatheringState: 'gathering',
  rtcPeerConnectionConfig: { iceServers: [] },
  rtcLocalSessionDescription: '',
  ...over,
})
const timeouts = { iceCollectionIdealTimeout: 1000, iceCollectionMaxTimeout: 3000 }
const turn = {
  iceServers: [{ urls: ['turn:t:3478?transport=udp', 'turn:t:3478?transport=tcp'] }, { urls: 'stun:t' }],
}

describe('candidate counting', () => {
  it('counts only sections that need their own transport (first of a BUNDLE group)', () => {
    expect(
      candidatesBySection(
        sdp([
          { mid: '0', cands: ['host', 'relay'] },
          { mid: '1', cands: [] },
        ]),
      ),
    ).toEqual([{ host: 1, srflx: 0, relay: 1, total: 2 }])
    expect(
      candidatesBySection(
        sdp(
          [
            { mid: '0', cands: ['host'] },
            { mid: '1', cands: [] },
          ],
          false,
        ),
      ),
    ).toHaveLength(2)
  })
})

/** The counting done with a full SDP parse (what the line scan replaced), as the reference. */
function parsedCounts(text: string) {
  const parsed = parse(text)
  const bundled = new Set<string>()
  const taggers = new Set<string>()
  for (const g of parsed.groups ?? []) {
    if (g.type !== 'BUNDLE') continue
    const mids = String(g.mids).split(' ').filter(Boolean)
    mids.forEach((m) => bundled.add(m))
    if (mids[0]) taggers.add(mids[0])
  }
  return parsed.media.flatMap((m) => {
    const mid = m.mid === undefined ? undefined : String(m.mid)
    if (m.port === 0 && !(mid && taggers.has(mid))) return []
    if (mid && bundled.has(mid) && !taggers.has(mid)) return []
    const counts = { host: 0, srflx: 0, relay: 0, total: 0 }
    for (const c of m.candidates ?? []) {
      counts.total++
      if (c.type === 'host') counts.host++
      else if (c.type === 'srflx' || c.type === 'prflx') counts.srflx++
      else if (c.type === 'relay') counts.relay++
    }
    return [counts]
  })
}

describe('candidate counting: the line scan agrees with a full parse', () => {
  const cases: Record<string, string> = {
    bundled: sdp([
      { mid: '0', cands: ['host', 'srflx', 'relay', 'prflx'] },
      { mid: '1', cands: ['host'] },
    ]),
    unbundled: sdp(
      [
        { mid: '0', cands: ['host', 'relay'] },
        { mid: '1', cands: ['srflx'] },
      ],
      false,
    ),
    'rejected section, LF line ends': sdp([
      { mid: '0', cands: ['host'] },
      { mid: '1', cands: [] },
    ])
      .replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0')
      .replace(/m=audio 9(?![\s\S]*m=audio)/, 'm=audio 0')
      .replace(/\r\n/g, '\n'),
    'no candidates yet': sdp([{ mid: 'audio', cands: [] }]),
    'malformed candidate line': sdp([{ mid: '0', cands: ['host'] }]).replace(
      'a=mid:0',
      'a=mid:0\r\na=candidate:garbage',
    ),
  }
  for (const [name, text] of Object.entries(cases))
    it(name, () => expect(candidatesBySection(text)).toEqual(parsedCounts(text)))
})

describe('default ICE collection check (sdk-api §5.1.9, protocol.md §14.1)', () => {
  it('gathering complete: start with candidates, error without', () => {
    const done = (cands: string[]) =>
      defaultIceCheck(
        info({ iceGatheringState: 'complete', rtcLocalSessionDescription: sdp([{ mid: '0', cands }]) }),
        timeouts,
      )
    expect(done(['host']).type).toBe('StartCall')
    expect(done([]).type).toBe('Error')
  })

  it('with TURN, before the ideal timeout: waits until every section has one relay per TURN URL', () => {
    const one = info({
      rtcPeerConnectionConfig: turn,
      rtcLocalSessionDescription: sdp([{ mid: '0', cands: ['host', 'relay'] }]),
      iceCollectionDuration: 200,
    })
    expect(defaultIceCheck(one, timeouts)).toEqual({ type: 'Wait', wait: 800 })
    const two = { ...one, rtcLocalSessionDescription: sdp([{ mid: '0', cands: ['host', 'relay', 'relay'] }]) }
    expect(defaultIceCheck(two, timeouts).type).toBe('StartCall')
  })

  it('with TURN, between ideal and max: one relay per section is enough', () => {
    const i = info({
      rtcPeerConnectionConfig: turn,
      rtcLocalSessionDescription: sdp([{ mid: '0', cands: ['relay'] }]),
      iceCollectionDuration: 1500,
    })
    expect(defaultIceCheck(i, timeouts).type).toBe('StartCall')
    const none = { ...i, rtcLocalSessionDescription: sdp([{ mid: '0', cands: ['host'] }]) }
    expect(defaultIceCheck(none, timeouts)).toEqual({ type: 'Wait', wait: 1500 })
  })

  it('without TURN it does not wait for relay candidates', () => {
    const hostOnly = info({
      rtcLocalSessionDescription: sdp([{ mid: '0', cands: ['host'] }]),
      iceCollectionDuration: 5,
    })
    expect(defaultIceCheck(hostOnly, timeouts).type).toBe('StartCall')
    const stun = { ...hostOnly, rtcPeerConnectionConfig: { iceServers: [{ urls: 'stun:s' }] } }
    expect(defaultIceCheck(stun, timeouts).type).toBe('Wait')
    expect(defaultIceCheck({ ...stun, iceCollectionDuration: 1200 }, timeouts).type).toBe('StartCall')
  })

  it('at the max timeout: starts with anything, errors with nothing', () => {
    const late = info({
      rtcPeerConnectionConfig: turn,
      iceCollectionDuration: 3000,
      rtcLocalSessionDescription: sdp([{ mid: '0', cands: ['host'] }]),
    })
    expect(defaultIceCheck(late, timeouts).type).toBe('StartCall')
    expect(
      defaultIceCheck({ ...late, rtcLocalSessionDescription: sdp([{ mid: '0', cands: [] }]) }, timeouts).type,
    ).toBe('Error')
  })
})

describe('legacy iceCollectionCheck (sdk-api §5.1.10)', () => {
  it('is called every iceCollectionDelay on scheduled runs, continues on true or at maxIceTimeout', () => {
    const calls: number[] = []
    let answer = false
    const check = legacyIceCheck(
      (_c, d) => {
        calls.push(d.elapsedTime)
        return answer
      },
      { iceCollectionDelay: 1000, maxIceTimeout: 3000 },
    )
    expect(check(info({ reason: 'Scheduled', iceCollectionDuration: 0 }))).toEqual({
      type: 'Wait',
      wait: 1000,
    })
    expect(check(info({ reason: 'NewCandidate', iceCollectionDuration: 400 }))).toEqual({
      type: 'Wait',
      wait: 600,
    })
    expect(check(info({ reason: 'Scheduled', iceCollectionDuration: 1000 }))).toEqual({
      type: 'Wait',
      wait: 1000,
    })
    answer = true
    expect(check(info({ reason: 'Scheduled', iceCollectionDuration: 2000 })).type).toBe('StartCall')
    expect(calls).toEqual([1000, 2000])
    expect(check(info({ iceGatheringState: 'complete' })).type).toBe('StartCall')
    expect(check(info({ iceCollectionDuration: 3000 })).type).toBe('StartCall')
  })
})
