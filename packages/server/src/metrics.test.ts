import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startTestPlatform, waitFor, type TestPlatform } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { parseServeConfig } from './config.js'
import { decode, encode, type BencodeValue } from './media-gateway/bencode.js'

/** The value of one sample line (`name{labels} value`) of a Prometheus exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  }
  return undefined
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain')
  return res.text()
}

describe('Prometheus metrics', () => {
  let platform: TestPlatform | undefined
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    await platform?.close()
    platform = undefined
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it('--metrics-port / PARLEY_METRICS_PORT and --metrics-host are parsed; off by default', () => {
    expect(parseServeConfig([], {}).metricsPort).toBeNull()
    expect(parseServeConfig(['--metrics-port', '9464'], {}).metricsPort).toBe(9464)
    const fromEnv = parseServeConfig([], { PARLEY_METRICS_PORT: '9100', PARLEY_METRICS_HOST: '0.0.0.0' })
    expect(fromEnv).toMatchObject({ metricsPort: 9100, metricsHost: '0.0.0.0' })
    expect(() => parseServeConfig(['--metrics-port', 'x'], {})).toThrow(/--metrics-port/)
    expect(() => parseServeConfig(['--metrics-host', '0.0.0.0'], {})).toThrow(/--metrics-port/)
  })

  it('a call flow is counted: started, answered, setup time, ended by reason, websockets, notifications, HTTP', async () => {
    platform = await startTestPlatform({ metricsPort: 0 })
    const metricsUrl = platform.server.metricsUrl!
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    // Never on the public API port.
    expect((await fetch(`${platform.url}/metrics`)).status).toBe(404)

    const alice = await platform.subscribed('alice')
    const bob = await platform.subscribed('bob')
    let text = await scrape(metricsUrl)
    expect(sample(text, 'parley_channel_websockets')).toBe(2)
    expect(sample(text, 'parley_calls_started_total')).toBe(0)

    const { legId } = await alice.call('bob@example.com')
    const invitation = await bob.invitation()
    expect((await bob.answer(invitation.legId)).status).toBe(204)
    text = await scrape(metricsUrl)
    expect(sample(text, 'parley_calls_started_total')).toBe(1)
    expect(sample(text, 'parley_calls_answered_total')).toBe(1)
    expect(sample(text, 'parley_calls_active')).toBe(1)
    expect(sample(text, 'parley_call_setup_seconds_count')).toBe(1)

    expect((await alice.end(legId)).status).toBe(204)
    await bob.event('SessionEnded', invitation.legId)
    text = await scrape(metricsUrl)
    expect(sample(text, 'parley_calls_ended_total{outcome="answered",reason="ended by caller"}')).toBe(1)
    expect(sample(text, 'parley_calls_active')).toBe(0)
    expect(sample(text, 'parley_notifications_queued_total')).toBeGreaterThanOrEqual(3)
    expect(sample(text, 'parley_notifications_delivered_total')).toBeGreaterThanOrEqual(3)
    expect(
      sample(text, 'parley_http_requests_total{method="POST",route="/cpaas/auth/v1/token",status="200"}'),
    ).toBe(2)
    const deleteSeries =
      'parley_http_requests_total{method="DELETE",route="/cpaas/webrtcsignaling/v1/:username/sessions/:legId",status="204"}'
    expect(sample(text, deleteSeries)).toBe(1)
    expect(text).not.toContain('alice')
    expect(text).toMatch(/^parley_store_operation_seconds_count\{operation="commit"\} [1-9]/m)
    // The SQLite store counts the transactions (groups of writes) it committed.
    expect(sample(text, 'parley_store_commits_total')).toBeGreaterThanOrEqual(1)
    expect(text).toMatch(/^process_cpu_seconds_total /m)

    bob.kill()
    await waitFor(
      async () => sample(await scrape(metricsUrl), 'parley_channel_websockets') === 1,
      5_000,
      'the websocket gauge to follow the disconnect',
    )
  })

  it('rate-limit refusals are counted by route', async () => {
    platform = await startTestPlatform({
      metricsPort: 0,
      rateLimits: {
        tokenPerAddress: 1,
        tokenPerLogin: 100,
        sessionsPerUser: 100,
        concurrentCallsPerUser: 10,
      },
    })
    const alice = platform.client('alice')
    await alice.login()
    await expect(alice.login()).rejects.toThrow()
    const text = await scrape(platform.server.metricsUrl!)
    expect(sample(text, 'parley_rate_limited_total{route="/cpaas/auth/v1/token"}')).toBe(1)
  })

  it("the SIP user agent's counters: messages, refusals by reason, dialogs", async () => {
    platform = await startTestPlatform({
      metricsPort: 0,
      sip: {
        // A trunk nobody sends from: the test's datagrams from 127.0.0.1 are untrusted.
        trunk: { host: '127.0.0.9', port: 5060, transport: 'udp' },
        listen: { host: '127.0.0.1', port: 0 },
        username: undefined,
        password: undefined,
        trusted: [],
        inviteTimeoutMs: 10_000,
      },
    })
    const sipPort = platform.server.ctx.sipTrunk!.address.port
    const socket = createSocket('udp4')
    cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())))
    const answers: string[] = []
    socket.on('message', (m) => answers.push(m.toString()))
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
    const { port } = socket.address()
    const invite = [
      'INVITE sip:+15550100@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-metrics-1`,
      'From: <sip:+15550111@127.0.0.1>;tag=m1',
      'To: <sip:+15550100@127.0.0.1>',
      'Call-ID: metrics-untrusted@127.0.0.1',
      'CSeq: 1 INVITE',
      'Max-Forwards: 70',
      `Contact: <sip:+15550111@127.0.0.1:${port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n')
    socket.send(invite, sipPort, '127.0.0.1')
    socket.send('this is not SIP\r\n\r\n', sipPort, '127.0.0.1')
    await waitFor(
      () => answers.some((a) => a.startsWith('SIP/2.0 403')),
      5_000,
      'the 403 to the untrusted INVITE',
    )
    const text = await waitFor(
      async () => {
        const t = await scrape(platform!.server.metricsUrl!)
        return sample(t, 'parley_sip_rejected_total{reason="malformed"}') === 1 ? t : undefined
      },
      5_000,
      'the malformed datagram counted',
    )
    expect(sample(text, 'parley_sip_rejected_total{reason="untrusted"}')).toBe(1)
    expect(sample(text, 'parley_sip_rejected_total{reason="rate_limited"}')).toBe(0)
    expect(sample(text, 'parley_sip_messages_total{direction="in",method="INVITE"}')).toBe(1)
    expect(sample(text, 'parley_sip_messages_total{direction="in",method="invalid"}')).toBe(1)
    expect(sample(text, 'parley_sip_messages_total{direction="out",method="response"}')).toBe(1)
    expect(sample(text, 'parley_sip_invites_total{direction="in"}')).toBe(0)
    expect(sample(text, 'parley_sip_dialogs')).toBe(0)
    expect(sample(text, 'parley_sip_timeouts_total')).toBe(0)
  })

  it("the media gateway at scrape time: up with rtpengine's call count, down once it stops answering", async () => {
    // A stand-in for rtpengine's ng port: answers ping and list (two calls).
    const ng = createSocket('udp4')
    ng.on('message', (m, from) => {
      const space = m.indexOf(32)
      const command = String((decode(m.subarray(space + 1)) as Record<string, BencodeValue>).command)
      const answer: BencodeValue =
        command === 'list' ? { result: 'ok', calls: ['call-a', 'call-b'] } : { result: 'pong' }
      ng.send(Buffer.concat([m.subarray(0, space + 1), encode(answer)]), from.port, from.address)
    })
    await new Promise<void>((resolve) => ng.bind(0, '127.0.0.1', () => resolve()))
    let ngOpen = true
    cleanups.push(() => (ngOpen ? new Promise<void>((resolve) => ng.close(() => resolve())) : undefined))
    platform = await startTestPlatform({
      metricsPort: 0,
      rtpengine: { host: '127.0.0.1', port: ng.address().port, timeoutMs: 500, spawn: null },
    })
    let text = await scrape(platform.server.metricsUrl!)
    expect(sample(text, 'parley_media_gateway_up')).toBe(1)
    expect(sample(text, 'parley_media_gateway_calls')).toBe(2)
    await new Promise<void>((resolve) => ng.close(() => resolve()))
    ngOpen = false
    text = await scrape(platform.server.metricsUrl!)
    expect(sample(text, 'parley_media_gateway_up')).toBe(0)
    expect(sample(text, 'parley_media_gateway_calls')).toBe(0)
  })

  it('with --workers 2 the primary serves the sum over its workers on the metrics port', async () => {
    const bin = fileURLToPath(new URL('../bin/parley.js', import.meta.url))
    const dir = mkdtempSync(join(tmpdir(), 'parley-metrics-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const db = `sqlite:${join(dir, 'p.db')}`
    const child = spawn(
      process.execPath,
      [
        bin,
        'serve',
        '--workers',
        '2',
        '--db',
        db,
        '--port',
        '0',
        '--metrics-port',
        '0',
        '--log-level',
        'info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stdout.on('data', (d) => (output += String(d)))
    child.stderr.on('data', (d) => (output += String(d)))
    const exited = new Promise((resolve) => child.once('exit', resolve))
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 12_000))])
      }
    })
    const metricsUrl = await waitFor(
      () => /"metrics":"(http:\/\/[^"]+)"/.exec(output)?.[1],
      30_000,
      'the metrics URL in the output of parley serve --workers 2',
    )
    const url = /Parley is running at (\S+)/.exec(output)![1]!
    // Health requests spread over both workers (new connection each); the primary's sum counts them all.
    const n = 6
    for (let i = 0; i < n; i++)
      expect((await fetch(`${url}/healthz`, { headers: { Connection: 'close' } })).status).toBe(200)
    const text = await scrape(metricsUrl)
    expect(sample(text, 'parley_http_requests_total{method="GET",route="/healthz",status="200"}')).toBe(n)
    // Two processes' CPU, summed: one series, not one per worker.
    expect(text.match(/^process_cpu_user_seconds_total /gm)).toHaveLength(1)
    expect((await fetch(`${url}/metrics`)).status).toBe(404)
  })
})
