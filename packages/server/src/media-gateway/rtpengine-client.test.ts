import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { decode, encode, type BencodeValue } from './bencode.js'
import { parseRtpengineAddress, RtpengineClient } from './rtpengine-client.js'
import { MediaGatewayError } from './types.js'

/** What the fake peer sends back for one command; undefined: nothing (a lost datagram). */
type Answer = Record<string, BencodeValue> | undefined

/**
 * A scripted ng peer on a random loopback port: `reply` decides, per received command, what to send back (or
 * nothing). It records every datagram with its cookie. The real rtpengine is exercised in e2e/media-gateway.e2e.ts.
 */
async function fakeRtpengine(
  reply: (command: Record<string, BencodeValue>, seen: number) => Answer | Promise<Answer>,
) {
  const socket = createSocket('udp4')
  const received: { cookie: string; command: Record<string, BencodeValue> }[] = []
  socket.on('message', (message: Buffer, from: RemoteInfo) => {
    const space = message.indexOf(0x20)
    const cookie = message.toString('latin1', 0, space)
    const command = decode(message.subarray(space + 1)) as Record<string, BencodeValue>
    received.push({ cookie, command })
    void Promise.resolve(reply(command, received.filter((r) => r.cookie === cookie).length)).then(
      (answer) => {
        if (answer !== undefined)
          socket.send(Buffer.concat([Buffer.from(`${cookie} `), encode(answer)]), from.port, from.address)
      },
    )
  })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  sockets.push(socket)
  return { port: socket.address().port, received }
}

const sockets: Socket[] = []
const clients: RtpengineClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
  for (const s of sockets.splice(0)) s.close()
})

function client(port: number, options: { timeoutMs?: number; retransmitMs?: number } = {}): RtpengineClient {
  const c = new RtpengineClient({ host: '127.0.0.1', port, ...options })
  clients.push(c)
  return c
}

describe('RtpengineClient (ng protocol over UDP)', () => {
  it('sends `<cookie> <bencoded dict>` with the command and its options, and reads the answer', async () => {
    const peer = await fakeRtpengine((c): Answer =>
      c.command === 'ping' ? { result: 'pong' } : { result: 'ok', sdp: `answered ${String(c.sdp)}` },
    )
    const rtp = client(peer.port)
    await rtp.ping()
    const sdp = await rtp.offer('call-1', 'tag-a', 'v=0\r\n', { ICE: 'remove', 'rtcp-mux': ['demux'] })
    expect(sdp).toBe('answered v=0\r\n')
    expect(peer.received[1]!.command).toStrictEqual({
      command: 'offer',
      'call-id': 'call-1',
      'from-tag': 'tag-a',
      sdp: 'v=0\r\n',
      ICE: 'remove',
      'rtcp-mux': ['demux'],
    })
    expect(peer.received[0]!.cookie).not.toBe(peer.received[1]!.cookie)
  })

  it('retransmits a lost command with the same cookie until an answer comes', async () => {
    // The first two copies are "lost": only the third is answered.
    const peer = await fakeRtpengine((_c, seen) => (seen >= 3 ? { result: 'pong' } : undefined))
    const started = Date.now()
    await client(peer.port, { retransmitMs: 50, timeoutMs: 2000 }).ping()
    expect(peer.received).toHaveLength(3)
    expect(new Set(peer.received.map((r) => r.cookie)).size).toBe(1)
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('matches concurrent answers to their commands by cookie, whatever their order', async () => {
    const peer = await fakeRtpengine(async (c) => {
      // Later calls are answered first.
      await new Promise((r) => setTimeout(r, 200 - Number(String(c['call-id']).slice(1)) * 40))
      return { result: 'ok', sdp: `sdp of ${String(c['call-id'])}` }
    })
    const rtp = client(peer.port)
    const answers = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((id) => rtp.offer(id, 't', 'v=0')))
    expect(answers).toStrictEqual(['sdp of c1', 'sdp of c2', 'sdp of c3', 'sdp of c4'])
  })

  it('fails within the bounded time with "rtpengine at udp:HOST:PORT did not answer within N ms"', async () => {
    const peer = await fakeRtpengine(() => undefined)
    const started = Date.now()
    const error = await client(peer.port, { timeoutMs: 600, retransmitMs: 100 })
      .ping()
      .then(
        () => expect.fail('expected a timeout'),
        (e: unknown) => e,
      )
    expect(error).toBeInstanceOf(MediaGatewayError)
    expect((error as MediaGatewayError).kind).toBe('timeout')
    expect((error as Error).message).toBe(
      `rtpengine at udp:127.0.0.1:${peer.port} did not answer within 600 ms`,
    )
    expect(Date.now() - started).toBeGreaterThanOrEqual(590)
    expect(Date.now() - started).toBeLessThan(1500)
    // Sent at 0, 100, 200, 400 ms: bounded retransmission.
    expect(peer.received.length).toBe(4)
  })

  it("reports `result: error` with rtpengine's reason, and unknown calls as false/undefined", async () => {
    const peer = await fakeRtpengine((c): Answer => {
      if (c.command === 'offer') return { result: 'error', 'error-reason': 'Incomplete SDP specification' }
      if (c.command === 'query') return { result: 'error', 'error-reason': 'Unknown call-id' }
      if (c.command === 'delete') return { result: 'ok', warning: "Call-ID not found or tags didn't match" }
      return { result: 'ok', calls: ['a', 'b'] }
    })
    const rtp = client(peer.port)
    await expect(rtp.offer('c', 't', 'garbage')).rejects.toThrow(
      `rtpengine at udp:127.0.0.1:${peer.port} refused offer: Incomplete SDP specification`,
    )
    expect(await rtp.query('nope')).toBeUndefined()
    expect(await rtp.delete('nope')).toBe(false)
    expect(await rtp.list()).toStrictEqual(['a', 'b'])
  })

  it('an unreadable answer fails that command only; stray datagrams are ignored', async () => {
    const socket = createSocket('udp4')
    sockets.push(socket)
    socket.on('message', (message: Buffer, from: RemoteInfo) => {
      const cookie = message.toString('latin1', 0, message.indexOf(0x20))
      socket.send(Buffer.from('nobody-waits d6:result2:oke'), from.port, from.address)
      socket.send(Buffer.from(`${cookie} d6:result`), from.port, from.address)
    })
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    await expect(client(socket.address().port).ping()).rejects.toThrow(
      /sent an unreadable answer \(malformed bencode/,
    )
  })

  it('close() rejects pending commands and later ones', async () => {
    const peer = await fakeRtpengine(() => undefined)
    const rtp = client(peer.port)
    const pending = rtp.ping()
    await rtp.close()
    await expect(pending).rejects.toThrow(/is closed/)
    await expect(rtp.ping()).rejects.toThrow(/is closed/)
  })
})

describe('parseRtpengineAddress', () => {
  it('reads udp:HOST:PORT and udp:[IPv6]:PORT; refuses anything else naming the form', () => {
    expect(parseRtpengineAddress('udp:127.0.0.1:2223')).toStrictEqual({ host: '127.0.0.1', port: 2223 })
    expect(parseRtpengineAddress('udp:[::1]:22222')).toStrictEqual({ host: '::1', port: 22222 })
    expect(parseRtpengineAddress('udp:rtpengine.internal:2223')).toStrictEqual({
      host: 'rtpengine.internal',
      port: 2223,
    })
    for (const bad of [
      '127.0.0.1:2223',
      'tcp:127.0.0.1:2223',
      'udp:127.0.0.1',
      'udp:127.0.0.1:0',
      'udp:h:70000',
      'udp:a b:1',
    ]) {
      expect(() => parseRtpengineAddress(bad), bad).toThrow('--rtpengine must be udp:HOST:PORT')
    }
  })
})
