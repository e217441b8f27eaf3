// The SIP trunk user agent against a real SIP peer: Debian's SIPp (package sip-tester) playing the carrier,
// on loopback inside the private network namespace of e2e/run.sh (fixed ports are safe there). Parley's UA
// listens on 127.0.0.1:5060; the carrier on 127.0.0.2 (the npm-free far end, testing.md "Phone calls").
import { spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { fileURLToPath } from 'node:url'
import {
  SipUserAgent,
  type SipInboundCall,
  type SipInboundInvite,
  type SipOutboundCall,
  type SipOutboundCallEvents,
  type SipUserAgentOptions,
} from '@parley/server'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const SCENARIOS = fileURLToPath(new URL('./sipp/', import.meta.url))
const PARLEY = { host: '127.0.0.1', port: 5060 }
const CARRIER = '127.0.0.2'
const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'

interface Sipp {
  /** Resolves with SIPp's exit code (0: every call of the scenario passed) and the tail of its output. */
  done: Promise<{ code: number | null; output: string }>
}

/** Runs one SIPp scenario for one call, bounded by SIPp's own global timeout. */
function sipp(scenario: string, args: string[]): Sipp {
  const child = spawn(
    'sipp',
    ['-sf', SCENARIOS + scenario, '-m', '1', '-nostdin', '-timeout', '20s', '-timeout_error', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const done = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, output })),
  )
  running.push(child)
  return { done }
}
const running: ReturnType<typeof spawn>[] = []

/** Waits until something listens on ip:port (SIPp binds within a few hundred ms). */
async function listening(ip: string, port: number, proto: 'udp' | 'tcp'): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const ss = spawnSync('ss', [proto === 'udp' ? '-Hlnu' : '-Hlnt', 'src', `${ip}:${port}`], {
      encoding: 'utf8',
    })
    if (ss.stdout.trim()) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${proto} ${ip}:${port} after 10 s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A carrier phone (SIPp server scenario) on 127.0.0.2:5060, ready to receive. */
async function carrierPhone(scenario: string, transport: 'udp' | 'tcp' = 'udp'): Promise<Sipp> {
  const s = sipp(scenario, ['-i', CARRIER, '-p', '5060', '-t', transport === 'tcp' ? 't1' : 'u1'])
  const exited = s.done.then(({ code, output }) => {
    throw new Error(`SIPp exited (${code}) before listening:\n${output}`)
  })
  await Promise.race([listening(CARRIER, 5060, transport), exited])
  exited.catch(() => undefined)
  return s
}

async function expectPassed(s: Sipp): Promise<void> {
  const { code, output } = await s.done
  expect(code, `SIPp failed:\n${output}`).toBe(0)
}

const agents: SipUserAgent[] = []
async function parley(options: Partial<SipUserAgentOptions> = {}): Promise<SipUserAgent> {
  const ua = new SipUserAgent({
    listen: PARLEY,
    trunk: { host: CARRIER, port: 5060, transport: 'udp' },
    ...options,
  })
  await ua.start()
  agents.push(ua)
  return ua
}

function next<K extends keyof SipOutboundCallEvents>(
  call: SipOutboundCall,
  event: K,
  ms = 15_000,
): Promise<SipOutboundCallEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms)
    call.once(event, (payload) => {
      clearTimeout(timer)
      resolve(payload)
    })
  })
}

beforeAll(() => {
  if (spawnSync('sipp', ['-v']).error)
    throw new Error('sipp is missing: apt-get install -y sip-tester (Debian package of SIPp)')
})

afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  await Promise.all(agents.splice(0).map((ua) => ua.close()))
})

describe('SIP trunk against SIPp', () => {
  it('outbound INVITE → 180 → 200 → ACK, then BYE from Parley', async () => {
    const phone = await carrierPhone('uas-answer.xml')
    const ua = await parley()
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    expect(await next(call, 'provisional')).toMatchObject({ status: 180 })
    expect((await next(call, 'answered')).sdp).toContain(`c=IN IP4 ${CARRIER}`)
    expect(call.dialogState()).toMatchObject({ remoteTarget: `sip:far@${CARRIER}:5060;transport=UDP` })
    await call.bye()
    await expectPassed(phone)
  })

  it('the far phone hangs up: its BYE ends the call', async () => {
    const phone = await carrierPhone('uas-hangup.xml')
    const ua = await parley()
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    await next(call, 'answered')
    expect(await next(call, 'ended')).toEqual({ by: 'remote' })
    await expectPassed(phone)
  })

  it('CANCEL while ringing: 487, ACKed', async () => {
    const phone = await carrierPhone('uas-cancel.xml')
    const ua = await parley()
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    await next(call, 'provisional')
    call.cancel()
    expect(await next(call, 'failed')).toMatchObject({ status: 487 })
    await expectPassed(phone)
  })

  it('486 Busy Here fails the call with 486', async () => {
    const phone = await carrierPhone('uas-busy.xml')
    const ua = await parley()
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    expect(await next(call, 'failed')).toMatchObject({ status: 486, reason: 'Busy Here' })
    await expectPassed(phone)
  })

  it('a 407 of a proxy and a 401 of the trunk are answered with digest credentials and the call connects', async () => {
    const phone = await carrierPhone('uas-auth.xml')
    const ua = await parley({ username: 'parley', password: 's3cret' })
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    await next(call, 'answered')
    expect(ua.counters().authChallenges).toBe(2)
    await call.bye()
    await expectPassed(phone)
  })

  it('wrong credentials: the trunk answers 403 and the call fails with it', async () => {
    const phone = await carrierPhone('uas-auth.xml')
    const ua = await parley({ username: 'parley', password: 'not-the-password' })
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    expect(await next(call, 'failed')).toMatchObject({ status: 403 })
    await expectPassed(phone)
  })

  it('inbound INVITE from the trunk → ringing → accept → BYE from the carrier', async () => {
    const ua = await parley()
    const got = new Promise<{ call: SipInboundCall; invite: SipInboundInvite }>((resolve) =>
      ua.onInvite((call, invite) => resolve({ call, invite })),
    )
    const carrier = sipp('uac-inbound.xml', [
      `${PARLEY.host}:${PARLEY.port}`,
      '-i',
      CARRIER,
      '-p',
      '5062',
      '-s',
      '+15550123',
    ])
    const { call, invite } = await got
    expect(invite).toMatchObject({ from: '+15550100', to: '+15550123', fromDisplay: 'Carrier' })
    expect(invite.source.address).toBe(CARRIER)
    const ended = new Promise((resolve) => call.once('ended', resolve))
    call.ringing()
    await call.accept(SDP)
    expect(await ended).toEqual({ by: 'remote' })
    await expectPassed(carrier)
  })

  it('an INVITE from an untrusted address gets 403 and never surfaces', async () => {
    const ua = await parley({ trusted: ['10.0.0.0/8'] })
    let surfaced = false
    ua.onInvite(() => (surfaced = true))
    const stranger = sipp('uac-untrusted.xml', [
      `${PARLEY.host}:${PARLEY.port}`,
      '-i',
      '127.0.0.3',
      '-p',
      '5062',
      '-s',
      '+15550123',
    ])
    await expectPassed(stranger)
    expect(surfaced).toBe(false)
    expect(ua.counters().untrusted).toBe(1)
  })

  it('malformed, binary and huge packets are counted and do not stop the next call', async () => {
    const ua = await parley()
    const raw = createSocket('udp4')
    await new Promise<void>((r) => raw.bind(0, CARRIER, () => r()))
    const send = (data: Buffer) =>
      new Promise<void>((r) => raw.send(data, PARLEY.port, PARLEY.host, () => r()))
    try {
      await send(Buffer.from('INVITE nonsense\r\n\r\n'))
      await send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0, 0x0d, 0x0a, 0x0d, 0x0a]))
      await send(Buffer.concat([Buffer.from('INVITE sip:x@y SIP/2.0\r\nVia: '), Buffer.alloc(60_000, 0x41)]))
    } finally {
      raw.close()
    }
    const phone = await carrierPhone('uas-busy.xml')
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    expect((await next(call, 'failed')).status).toBe(486)
    await expectPassed(phone)
    expect(ua.counters()).toMatchObject({ malformed: 2, binary: 1 })
  })

  it('a trunk that does not answer fails the call with 408 within the configured Timer B', async () => {
    const ua = await parley({ timers: { inviteTimeoutMs: 2_000 } })
    const started = Date.now()
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    const failed = await next(call, 'failed', 5_000)
    expect(failed.status).toBe(408)
    expect(failed.reason).toMatch(/no answer from the SIP trunk/)
    expect(Date.now() - started).toBeLessThan(3_500)
  })

  it('over TCP: INVITE → 180 → 200 → ACK → BYE', async () => {
    const phone = await carrierPhone('uas-answer.xml', 'tcp')
    const ua = await parley({ trunk: { host: CARRIER, port: 5060, transport: 'tcp' } })
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: SDP })
    await next(call, 'answered')
    expect(call.dialogState()!.transport).toBe('tcp')
    await call.bye()
    await expectPassed(phone)
  })
})
