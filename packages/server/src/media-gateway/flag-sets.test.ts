import { describe, expect, it } from 'vitest'
import { resumedSdp } from './flag-sets.js'

const held = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.2',
  's=-',
  'c=IN IP4 127.0.0.2',
  't=0 0',
  'a=recvonly',
  'm=audio 10000 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendonly',
  'm=audio 10002 RTP/AVP 8',
  'a=inactive',
  '',
].join('\r\n')

describe('resumedSdp', () => {
  it('makes every stream sendrecv and keeps the rest of the description', () => {
    const sdp = resumedSdp(held)
    expect(sdp.match(/a=(sendrecv|sendonly|recvonly|inactive)/g)).toEqual(['a=sendrecv', 'a=sendrecv'])
    expect(sdp).toContain('m=audio 10000 RTP/AVP 0 101')
    expect(sdp).toContain('a=rtpmap:101 telephone-event/8000')
    expect(sdp).toContain('c=IN IP4 127.0.0.2')
  })
})
