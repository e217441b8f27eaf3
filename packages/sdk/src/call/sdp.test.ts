import { describe, expect, it } from 'vitest'
import { parse } from 'sdp-transform'
import { Logger } from '../core/logger.js'
import type { SdpHandlerInfo } from '../core/types.js'
import { createCodecRemover, isHoldSdp, mediaOfferedFrom, runSdpPipeline, stripTrickle } from './sdp.js'

const offer = (audioDir = 'sendrecv', videoDir = 'sendrecv') =>
  [
    'v=0',
    'o=- 123 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 126',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    `a=${audioDir}`,
    'a=ice-options:trickle',
    'a=rtpmap:111 opus/48000/2',
    'a=rtpmap:126 telephone-event/8000',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103',
    'c=IN IP4 0.0.0.0',
    'a=mid:1',
    `a=${videoDir}`,
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 nack',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=rtpmap:102 H264/90000',
    'a=rtcp-fb:102 nack',
    'a=fmtp:102 packetization-mode=1;profile-level-id=42001f',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
    '',
  ].join('\r\n')

const log = new Logger(() => ({ level: 'silent', handler: () => undefined }), { type: 't', name: 't' })
const info: SdpHandlerInfo = { callId: 'c', type: 'offer', step: 'set', endpoint: 'local' }
const settings = { removeH264Codecs: true, removeBundling: false, handlers: [], log }

describe('SDP pipeline (sdk-api §5.1.11, §1.2 removeH264Codecs)', () => {
  it('removes H264 with its RTX payload, feedback and fmtp lines', () => {
    const out = runSdpPipeline(offer(), info, settings)
    const video = parse(out).media[1]!
    expect(String(video.payloads)).toBe('96 97')
    expect(out).not.toMatch(/H264|apt=102|:102 |:103 /)
    expect(out).toContain('a=rtpmap:96 VP8/90000')
  })

  it('leaves SDP untouched, byte for byte, when there is nothing to do', () => {
    const noH264 = offer()
      .replace(/ 102 103/, '')
      .replace(/a=(rtpmap|rtcp-fb|fmtp):10[23][^\r]*\r\n/g, '')
    expect(runSdpPipeline(noH264, info, settings)).toBe(noH264)
  })

  it('runs user handlers in order with (newSdp, info, originalSdp); a throwing handler is skipped', () => {
    const seen: string[] = []
    const out = runSdpPipeline(offer(), info, {
      ...settings,
      handlers: [
        (sdp, i, original) => {
          seen.push(`${i.step}:${original.media[1]!.rtp.length}:${sdp.media[1]!.rtp.length}`)
          return sdp
        },
        () => {
          throw new Error('bad handler')
        },
        (sdp) => {
          sdp.origin.username = 'handled'
          return sdp
        },
      ],
    })
    expect(seen).toEqual(['set:4:2'])
    expect(out).toContain('o=handled')
  })

  it('removeBundling drops the BUNDLE group', () => {
    expect(runSdpPipeline(offer(), info, { ...settings, removeBundling: true })).not.toContain(
      'a=group:BUNDLE',
    )
  })

  it('createCodecRemover matches names and fmtp parameters', () => {
    const remover = createCodecRemover([
      { name: 'h264', fmtpParams: ['packetization-mode=1'] },
      'telephone-event',
    ])
    const sdp = remover(parse(offer()), info, parse(offer()))
    expect(sdp.media[0]!.rtp.map((r) => r.codec)).toEqual(['opus'])
    expect(sdp.media[1]!.rtp.map((r) => r.codec)).toEqual(['VP8', 'rtx'])
  })

  it('stripTrickle removes a=ice-options:trickle', () => {
    expect(stripTrickle(offer())).not.toContain('trickle')
  })
})

describe('media analysis (protocol.md §10.3)', () => {
  it('mediaOffered', () => {
    expect(mediaOfferedFrom(offer())).toEqual({ audio: true, video: true })
    const audioOnly = offer().split('m=video')[0]!
    expect(mediaOfferedFrom(audioOnly)).toEqual({ audio: true, video: false })
    // A rejected section (port 0) offers nothing.
    expect(mediaOfferedFrom(offer().replace('m=video 9', 'm=video 0'))).toEqual({ audio: true, video: false })
    expect(mediaOfferedFrom(offer().replace(/\r\n/g, '\n'))).toEqual({ audio: true, video: true })
  })

  it('hold: audio inactive/sendonly and video inactive', () => {
    expect(isHoldSdp(offer('inactive', 'inactive'))).toBe(true)
    expect(isHoldSdp(offer('sendonly', 'inactive'))).toBe(true)
    expect(isHoldSdp(offer('sendrecv', 'inactive'))).toBe(false)
    expect(isHoldSdp(offer('inactive', 'recvonly'))).toBe(false)
    expect(isHoldSdp(offer())).toBe(false)
  })
})
