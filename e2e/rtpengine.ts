import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { RtpengineSupervisor } from '@parley/server'
import pino from 'pino'

/**
 * Helpers of the media gateway tests: a real rtpengine (Debian's rtpengine-daemon) started by Parley's own
 * supervisor on ports of its own, and a plain-RTP "trunk" endpoint that sends a PCMU tone and measures what
 * it receives. These run in e2e/run.sh's private loopback namespace, so fixed port ranges cannot collide.
 */

let nextBase = 20_000 + Math.floor(Math.random() * 200) * 10
/** Distinct ng and media ports for each rtpengine a test starts. */
export function freshPorts(): { ngPort: number; minPort: number; maxPort: number } {
  nextBase += 10
  const media = 30_000 + (nextBase % 2_000) * 10
  return { ngPort: nextBase, minPort: media, maxPort: media + 99 }
}

/** Starts an rtpengine through RtpengineSupervisor on 127.0.0.1. */
export async function startRtpengine(): Promise<{ supervisor: RtpengineSupervisor; port: number }> {
  const { ngPort, minPort, maxPort } = freshPorts()
  const supervisor = new RtpengineSupervisor(
    { host: '127.0.0.1', port: ngPort, interface: '127.0.0.1', minPort, maxPort },
    pino({ level: 'silent' }),
  )
  await supervisor.start()
  return { supervisor, port: ngPort }
}

/** An offer as Chromium 156 makes it for one microphone track (captured here; candidates on loopback). */
export const CHROMIUM_OFFER = [
  'v=0',
  'o=- 5692141330605632734 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS c990861b-14dc-4b69-aa75-5c6a2062680b',
  'm=audio 51479 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 127.0.0.1',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:304707075 1 udp 2122260223 127.0.0.1 51479 typ host generation 0 network-id 1 network-cost 50',
  'a=candidate:3968049815 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0 network-id 1 network-cost 50',
  'a=ice-ufrag:0w5c',
  'a=ice-pwd:n8nVWiu6Km8WOmaB6PmSTx8w',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 42:51:AA:4E:43:44:00:03:2F:DD:C1:CE:37:0B:E7:39:0B:C6:9A:9C:6C:09:48:EF:65:3A:12:B4:17:F8:C9:D4',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendrecv',
  'a=msid:c990861b-14dc-4b69-aa75-5c6a2062680b 4d8a4630-2b28-4a23-b89b-1233dde4f874',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=fmtp:63 111/111',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:3145138430 cname:bMtJNG9nCWn/sACo',
  '',
].join('\r\n')

/** A carrier's plain RTP SDP (offer or answer) for an endpoint at 127.0.0.1:`port`. */
export function trunkSdp(port: number, telephoneEventPt = 101): string {
  return [
    'v=0',
    'o=carrier 4711 1 IN IP4 127.0.0.1',
    's=call',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 ${telephoneEventPt}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    `a=rtpmap:${telephoneEventPt} telephone-event/8000`,
    `a=fmtp:${telephoneEventPt} 0-15`,
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n')
}

/** The first m=audio port and its transport of an SDP. */
export function audioLine(sdp: string): { port: number; proto: string; payloads: string[] } {
  const m = /^m=audio (\d+) (\S+) ([\d ]+)$/m.exec(sdp)
  if (!m) throw new Error(`no m=audio line in:\n${sdp}`)
  return { port: Number(m[1]), proto: m[2]!, payloads: m[3]!.trim().split(' ') }
}

/** G.711 μ-law of one 16-bit sample (ITU-T G.711). */
function toMulaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0
  let magnitude = Math.min(Math.abs(sample), 32635) + 0x84
  let exponent = 7
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; exponent--, mask >>= 1);
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f
  magnitude = ~(sign | (exponent << 4) | mantissa)
  return magnitude & 0xff
}

function fromMulaw(byte: number): number {
  const u = ~byte & 0xff
  const magnitude = (((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)
  return u & 0x80 ? 0x84 - magnitude : magnitude - 0x84
}

/**
 * A plain-RTP endpoint, the carrier's side: sends a 1 kHz PCMU tone (RFC 3551 payload type 0, 20 ms packets)
 * to `target` once set, and counts the PCMU packets it receives and how many carry audible sound.
 */
export class RtpEndpoint {
  readonly socket: Socket = createSocket('udp4')
  received = 0
  loud = 0
  #timer: NodeJS.Timeout | undefined

  static async open(): Promise<RtpEndpoint> {
    const endpoint = new RtpEndpoint()
    endpoint.socket.on('message', (m: Buffer) => {
      if (m.length <= 12 || (m[1]! & 0x7f) !== 0) return
      endpoint.received++
      let energy = 0
      for (let i = 12; i < m.length; i++) energy += fromMulaw(m[i]!) ** 2
      if (Math.sqrt(energy / (m.length - 12)) > 500) endpoint.loud++
    })
    endpoint.socket.bind(0, '127.0.0.1')
    await once(endpoint.socket, 'listening')
    return endpoint
  }

  get port(): number {
    return this.socket.address().port
  }

  /** Starts sending the tone to 127.0.0.1:`port`. */
  sendTo(port: number): void {
    let seq = 0
    let timestamp = 0
    this.#timer = setInterval(() => {
      const packet = Buffer.alloc(12 + 160)
      packet[0] = 0x80
      packet.writeUInt16BE(seq++ & 0xffff, 2)
      packet.writeUInt32BE(timestamp, 4)
      packet.writeUInt32BE(0x5eed, 8)
      for (let i = 0; i < 160; i++)
        packet[12 + i] = toMulaw(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * (timestamp + i)) / 8000)))
      timestamp += 160
      this.socket.send(packet, port, '127.0.0.1')
    }, 20)
  }

  close(): void {
    clearInterval(this.#timer)
    this.socket.close()
  }
}
