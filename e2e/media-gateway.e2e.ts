import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  GatewayCall,
  makeConfig,
  MediaGatewayError,
  RtpengineClient,
  RtpengineSupervisor,
  startServer,
  sweepGatewayCalls,
  type ServerHandle,
} from '@parley/server'
import { waitFor } from '@parley/test-kit'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { audioLine, CHROMIUM_OFFER, freshPorts, startRtpengine, trunkSdp } from './rtpengine.js'

// The media gateway client against Debian's real rtpengine (issue 11), in the loopback namespace of e2e/run.sh.

describe('rtpengine ng client against a real rtpengine', () => {
  let supervisor: RtpengineSupervisor
  let rtp: RtpengineClient
  beforeAll(async () => {
    const started = await startRtpengine()
    supervisor = started.supervisor
    rtp = new RtpengineClient({ host: '127.0.0.1', port: started.port })
  })
  afterAll(async () => {
    await rtp.close()
    await supervisor.stop()
  })

  it('ping() answers pong', async () => {
    await expect(rtp.ping()).resolves.toBeUndefined()
  })

  it('outbound: a Chromium WebRTC offer becomes plain RTP/AVP for the trunk, and the trunk answer WebRTC again', async () => {
    const call = new GatewayCall(rtp, `out-${Date.now()}`, 'browser-tag', 'trunk-tag')
    const toTrunk = await call.offerToTrunk(CHROMIUM_OFFER)
    expect(audioLine(toTrunk)).toMatchObject({ proto: 'RTP/AVP', payloads: ['0', '8', '126'] })
    expect(toTrunk).toMatch(/^a=rtpmap:126 telephone-event\/8000$/m)
    for (const webrtcOnly of [
      'a=candidate',
      'a=ice-ufrag',
      'a=fingerprint',
      'a=setup',
      'a=rtcp-mux',
      'opus',
      'G722',
    ])
      expect(toTrunk, webrtcOnly).not.toContain(webrtcOnly)
    // RTCP on the next port toward the trunk (rtcp-mux demuxed).
    expect(toTrunk).toContain(`a=rtcp:${audioLine(toTrunk).port + 1}`)

    const toBrowser = await call.answerFromTrunk(trunkSdp(40_000, 126))
    expect(audioLine(toBrowser).proto).toBe('UDP/TLS/RTP/SAVPF')
    expect(audioLine(toBrowser).payloads).toContain('0')
    expect(toBrowser).toMatch(/^a=fingerprint:sha-256 [0-9A-F:]+$/m)
    expect(toBrowser).toMatch(/^a=setup:active$/m)
    expect(toBrowser).toMatch(/^a=ice-ufrag:\S+$/m)
    expect(toBrowser).toMatch(/^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host$/m)
    expect(toBrowser).toMatch(/^a=rtcp-mux$/m)
    expect(toBrowser).toMatch(/^a=mid:0$/m)
    expect(toBrowser).not.toContain('a=crypto')

    expect(await rtp.list()).toContain(call.callId)
    expect(await rtp.query(call.callId)).toMatchObject({ result: 'ok' })
    expect(await call.end()).toBe(true)
    expect(await rtp.delete(call.callId)).toBe(false)
    expect(await rtp.query(call.callId)).toBeUndefined()
    expect(await rtp.list()).not.toContain(call.callId)
  })

  it('inbound: a carrier offer becomes a WebRTC offer with a=mid, and the browser answer plain RTP', async () => {
    const call = new GatewayCall(rtp, `in-${Date.now()}`, 'browser-tag', 'trunk-tag')
    const toBrowser = await call.offerToBrowser(trunkSdp(40_010))
    expect(audioLine(toBrowser)).toMatchObject({ proto: 'UDP/TLS/RTP/SAVPF', payloads: ['0', '8', '101'] })
    expect(toBrowser).toMatch(/^a=mid:\S+$/m)
    expect(toBrowser).toMatch(/^a=setup:actpass$/m)
    expect(toBrowser).toMatch(/^a=rtcp-mux$/m)
    expect(toBrowser).toMatch(/^a=ice-pwd:\S+$/m)
    const mid = /^a=mid:(\S+)$/m.exec(toBrowser)![1]!
    // Chromium's answer to such an offer (the shape it gives, captured here).
    const browserAnswer = [
      'v=0',
      'o=- 3557980246754950714 2 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'm=audio 51308 UDP/TLS/RTP/SAVPF 0 8 101',
      'c=IN IP4 127.0.0.1',
      'a=rtcp:9 IN IP4 0.0.0.0',
      'a=candidate:3502776688 1 udp 2122260223 127.0.0.1 51308 typ host generation 0 network-id 1 network-cost 50',
      'a=ice-ufrag:/7A4',
      'a=ice-pwd:SYVKiy6Q5mOAZcf8Ckm+psKG',
      'a=fingerprint:sha-256 20:BC:5C:A4:9F:65:9B:5E:BA:CE:D0:D6:E9:4E:54:62:A2:16:CF:3C:92:9B:AB:B3:9E:0F:13:9E:EE:AC:0A:C1',
      'a=setup:active',
      `a=mid:${mid}`,
      'a=sendrecv',
      'a=rtcp-mux',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=ssrc:2578221783 cname:+xksBcGKhpw3HdDK',
      '',
    ].join('\r\n')
    const toTrunk = await call.answerFromBrowser(browserAnswer)
    expect(audioLine(toTrunk)).toMatchObject({ proto: 'RTP/AVP', payloads: ['0', '8', '101'] })
    for (const webrtcOnly of ['a=candidate', 'a=ice-', 'a=fingerprint', 'a=setup', 'a=rtcp-mux'])
      expect(toTrunk, webrtcOnly).not.toContain(webrtcOnly)
    expect(await call.end()).toBe(true)
  })

  it('Opus reaches the browser only when the trunk offers it, and the trunk only when asked for', async () => {
    const opusOffer = trunkSdp(40_030)
      .replace('RTP/AVP 0 8 101', 'RTP/AVP 96 0 8 101')
      .replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000')
    const inbound = new GatewayCall(rtp, `opus-in-${Date.now()}`, 'b', 't')
    expect(audioLine(await inbound.offerToBrowser(opusOffer)).payloads).toStrictEqual(['96', '0', '8', '101'])
    const plain = new GatewayCall(rtp, `g711-in-${Date.now()}`, 'b', 't')
    expect(audioLine(await plain.offerToBrowser(trunkSdp(40_040))).payloads).toStrictEqual(['0', '8', '101'])
    const outbound = new GatewayCall(rtp, `opus-out-${Date.now()}`, 'b', 't', { opus: true })
    expect(audioLine(await outbound.offerToTrunk(CHROMIUM_OFFER)).payloads).toStrictEqual([
      '111',
      '0',
      '8',
      '110',
      '126',
    ])
    for (const call of [inbound, plain, outbound]) expect(await call.end()).toBe(true)
  })

  it('a refused command names rtpengine and its reason', async () => {
    await expect(rtp.answer('no-such-call', 'a', 'b', trunkSdp(40_020))).rejects.toThrow(
      /^rtpengine at udp:127\.0\.0\.1:\d+ refused answer: /,
    )
  })

  it('the start-up sweep deletes the calls no live Parley call owns and keeps the others', async () => {
    const live = new GatewayCall(rtp, `live-${Date.now()}`, 'b', 't')
    const orphan = new GatewayCall(rtp, `orphan-${Date.now()}`, 'b', 't')
    await live.offerToTrunk(CHROMIUM_OFFER)
    await orphan.offerToTrunk(CHROMIUM_OFFER)
    const result = await sweepGatewayCalls(rtp, (callId) => callId === live.callId)
    expect(result.deleted).toContain(orphan.callId)
    expect(result.kept).toContain(live.callId)
    const left = await rtp.list()
    expect(left).toContain(live.callId)
    expect(left).not.toContain(orphan.callId)
    await live.end()
  })
})

describe('timeouts', () => {
  it('a port nobody answers fails within the bounded time, naming the address', async () => {
    const { ngPort } = freshPorts()
    const rtp = new RtpengineClient({ host: '127.0.0.1', port: ngPort, timeoutMs: 800 })
    const started = Date.now()
    const error = await rtp.offer('c', 't', CHROMIUM_OFFER).then(
      () => expect.fail('expected a timeout'),
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(MediaGatewayError)
    expect((error as Error).message).toBe(`rtpengine at udp:127.0.0.1:${ngPort} did not answer within 800 ms`)
    expect(Date.now() - started).toBeLessThan(2_000)
    await rtp.close()
  })
})

describe('RtpengineSupervisor (--rtpengine-spawn)', () => {
  let server: ServerHandle | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('starts rtpengine, restarts it when it dies, and stops it on close', async () => {
    const { supervisor, port } = await startRtpengine()
    const rtp = new RtpengineClient({ host: '127.0.0.1', port, timeoutMs: 1000 })
    try {
      const first = supervisor.pid
      expect(first).toBeGreaterThan(0)
      await rtp.ping()
      process.kill(first!, 'SIGKILL')
      await waitFor(
        async () =>
          supervisor.pid !== undefined &&
          supervisor.pid !== first &&
          (await rtp.ping().then(
            () => true,
            () => false,
          )),
        15_000,
        'the supervisor to restart rtpengine and the new one to answer',
      )
      const second = supervisor.pid!
      await supervisor.stop()
      expect(supervisor.pid).toBeUndefined()
      expect(() => process.kill(second, 0)).toThrow()
      await expect(rtp.ping()).rejects.toThrow(/did not answer within 1000 ms/)
    } finally {
      await rtp.close()
      await supervisor.stop()
    }
  })

  it('parley serve with --rtpengine-spawn: the gateway is in /readyz, and close() stops rtpengine', async () => {
    const { ngPort, minPort, maxPort } = freshPorts()
    server = await startServer(
      makeConfig({
        port: 0,
        db: 'sqlite::memory:',
        logLevel: 'silent',
        rtpengine: {
          host: '127.0.0.1',
          port: ngPort,
          timeoutMs: 1000,
          spawn: { interface: '127.0.0.1', minPort, maxPort },
        },
      }),
    )
    const pid = server.media?.supervisor?.pid
    expect(pid).toBeGreaterThan(0)
    const ready = await fetch(`${server.url}/readyz`)
    expect(await ready.json()).toMatchObject({ status: 'ok', checks: { rtpengine: 'ok' } })
    await server.close()
    server = undefined
    expect(() => process.kill(pid!, 0)).toThrow()
  })

  it('without rtpengine installed, start-up fails with one line naming the Debian package', async () => {
    const supervisor = new RtpengineSupervisor(
      {
        host: '127.0.0.1',
        port: freshPorts().ngPort,
        interface: '127.0.0.1',
        minPort: 30000,
        maxPort: 30010,
        binary: 'rtpengine-not-installed',
      },
      pino({ level: 'silent' }),
    )
    await expect(supervisor.start()).rejects.toThrow(
      `--rtpengine-spawn needs Debian's rtpengine-daemon package: "rtpengine-not-installed" was not found (apt-get install rtpengine-daemon)`,
    )
    // The same through the command, with a PATH that has no rtpengine.
    const bin = fileURLToPath(new URL('../packages/server/bin/parley.js', import.meta.url))
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [bin, 'serve', '--db', 'sqlite::memory:', '--port', '0', '--rtpengine-spawn'],
        {
          env: { ...process.env, PATH: '/nonexistent', PARLEY_LOG_LEVEL: 'silent' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      )
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('exit', (code) => resolve({ code, stderr }))
    })
    expect(run.code).toBe(1)
    expect(run.stderr.split('\n')[0]).toBe(
      `parley: --rtpengine-spawn needs Debian's rtpengine-daemon package: "rtpengine" was not found (apt-get install rtpengine-daemon)`,
    )
    expect(run.stderr).not.toMatch(/^\s+at /m)
  })
})
