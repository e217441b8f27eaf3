// PSTN calls through the call layer (issue 11), protocol level: a ProtocolClient caller (a Kandy client's requests)
// dials a phone number; Parley sends it through a real rtpengine (Debian's rtpengine-daemon) and its SIP user
// agent to SIPp playing the carrier's far phone on 127.0.0.2:5060. Runs in e2e/run.sh's private loopback
// namespace, so the fixed SIP ports cannot collide with anything.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { addNumber, type RtpengineSupervisor } from '@parley/server'
import { startTestPlatform, waitFor, type ProtocolClient, type TestPlatform } from '@parley/test-kit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_OFFER, startRtpengine } from './rtpengine.js'

const SCENARIOS = fileURLToPath(new URL('./sipp/', import.meta.url))
const CARRIER = '127.0.0.2'
const running: ReturnType<typeof spawn>[] = []

/** SIPp as the far phone for one call (server scenario), resolved once it listens; `done` gives its verdict. */
async function farPhone(
  scenario: string,
): Promise<{ done: Promise<{ code: number | null; output: string }> }> {
  const child = spawn(
    'sipp',
    [
      '-sf',
      SCENARIOS + scenario,
      '-m',
      '1',
      '-nostdin',
      '-timeout',
      '20s',
      '-timeout_error',
      '-i',
      CARRIER,
      '-p',
      '5060',
      '-t',
      'u1',
      '-trace_msg',
      '-message_file',
      `/tmp/parley-pstn-sipp-${scenario}.log`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  running.push(child)
  let output = ''
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const done = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, output })),
  )
  await waitFor(
    () =>
      spawnSync('ss', ['-Hlnu', 'src', `${CARRIER}:5060`], { encoding: 'utf8' }).stdout.trim() || undefined,
    10_000,
    `SIPp listening on ${CARRIER}:5060`,
  )
  return { done }
}

async function passed(phone: { done: Promise<{ code: number | null; output: string }> }): Promise<void> {
  const { code, output } = await phone.done
  expect(code, `SIPp failed:\n${output}`).toBe(0)
}

let platform: TestPlatform
let rtpengine: { supervisor: RtpengineSupervisor; port: number }
let alice: ProtocolClient

beforeAll(async () => {
  if (spawnSync('sipp', ['-v']).error) throw new Error('sipp is missing: apt-get install -y sip-tester')
  rtpengine = await startRtpengine()
  platform = await startTestPlatform({
    rtpengine: { host: '127.0.0.1', port: rtpengine.port, timeoutMs: 3_000, spawn: null },
    sip: {
      trunk: { host: CARRIER, port: 5060, transport: 'udp' },
      listen: { host: '127.0.0.1', port: 5060 },
      username: undefined,
      password: undefined,
      trusted: [],
      // A trunk that never answers fails the call within this (RFC 3261 Timer B, shortened for the test).
      inviteTimeoutMs: 2_000,
    },
  })
  await addNumber(platform.server.ctx, {
    clientId: platform.clientId,
    number: '+15550199',
    user: 'alice@example.com',
  })
  alice = await platform.subscribed('alice')
})

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

afterAll(async () => {
  await platform?.close()
  await rtpengine?.supervisor.stop()
})

/** The gateway call of a caller leg (its Parley call's id), and whether rtpengine still holds it. */
async function gatewayCallOf(legId: string): Promise<string> {
  const leg = await platform.server.ctx.store.getLeg(legId)
  const call = await platform.server.ctx.store.getCall(leg!.callId)
  expect(call?.pstn?.gatewayCallId).toBeTruthy()
  return call!.pstn!.gatewayCallId
}
async function gatewayGone(id: string): Promise<void> {
  await waitFor(
    async () => ((await platform.server.ctx.mediaGateway!.query(id)) === undefined ? true : undefined),
    5_000,
    `rtpengine to delete call ${id}`,
  )
}
const callOf = async (legId: string) =>
  platform.server.ctx.store.getCall((await platform.server.ctx.store.getLeg(legId))!.callId)

describe('PSTN calls: a caller dials a number, SIPp is the far phone', () => {
  it("180 → Ringing; 200 → acceptance with rtpengine's WebRTC answer; the caller hangs up → BYE; gateway call deleted", async () => {
    const phone = await farPhone('uas-answer.xml')
    const from = alice.received.length
    const { reply, legId } = await alice.call('sip:+15550100@example.com', CHROMIUM_OFFER)
    expect(reply.status).toBe(201)
    await alice.next((r) => r.body.eventType === 'Ringing' && r.legId === legId, 'Ringing', 5_000, from)
    const acceptance = await alice.next(
      (r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === legId,
      'the acceptance',
      5_000,
      from,
    )
    const sdp = (acceptance.body.answer as { sdp: string }).sdp
    expect(sdp).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF/m)
    expect(sdp).toMatch(/^a=fingerprint:sha-256 /m)
    expect(sdp).toMatch(/^a=setup:active$/m)
    expect(sdp).toMatch(/^a=candidate:/m)
    const gw = await gatewayCallOf(legId)
    expect(await platform.server.ctx.mediaGateway!.query(gw)).toMatchObject({ result: 'ok' })
    const connected = await callOf(legId)
    expect(connected).toMatchObject({
      state: 'connected',
      calleeUsername: '+15550100',
      pstn: { direction: 'outbound', number: '+15550100', localNumber: '+15550199', sipStatus: 200 },
    })
    expect(connected?.pstn?.dialog).toMatchObject({
      direction: 'outbound',
      remoteUri: expect.stringContaining('+15550100'),
    })
    expect((await alice.status(legId, 'Connected')).status).toBe(200)
    expect((await alice.end(legId)).status).toBe(204)
    await passed(phone) // SIPp got the BYE and answered it
    await gatewayGone(gw)
    const records = await platform.server.ctx.store.listCallRecords(1)
    expect(records[0]).toMatchObject({
      callee: '+15550100',
      endReason: 'ended by caller',
      pstn: { number: '+15550100', localNumber: '+15550199', sipStatus: 200 },
    })
  })

  it('the far phone hangs up (BYE) → the caller gets SessionEnded', async () => {
    const phone = await farPhone('uas-hangup.xml')
    const from = alice.received.length
    const { legId } = await alice.call('tel:+15550100', CHROMIUM_OFFER)
    await alice.next(
      (r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === legId,
      'acceptance',
      5_000,
      from,
    )
    const ended = await alice.next(
      (r) => r.body.eventType === 'SessionEnded' && r.legId === legId,
      'SessionEnded',
      5_000,
      from,
    )
    expect(ended.body).toMatchObject({ statusCode: 200, reasonText: 'Ended by remote party' })
    await passed(phone)
    await gatewayGone(await gatewayCallOf(legId))
    expect(await callOf(legId)).toMatchObject({ state: 'ended', endReason: 'ended by callee' })
  })

  it('486 Busy Here → SessionEnded carrying 486 and the reason phrase', async () => {
    const phone = await farPhone('uas-busy.xml')
    const from = alice.received.length
    const { legId } = await alice.call('sip:+15550100@example.com', CHROMIUM_OFFER)
    const ended = await alice.next(
      (r) => r.body.eventType === 'SessionEnded' && r.legId === legId,
      'SessionEnded',
      5_000,
      from,
    )
    expect(ended.body).toMatchObject({ statusCode: 486, reasonText: 'Busy Here' })
    await passed(phone)
    await gatewayGone(await gatewayCallOf(legId))
    expect(await callOf(legId)).toMatchObject({
      state: 'ended',
      endReason: 'SIP 486 Busy Here',
      pstn: { sipStatus: 486 },
    })
  })

  it('the caller hangs up while it rings → CANCEL (SIPp answers 200 and 487), the gateway call is deleted', async () => {
    const phone = await farPhone('uas-cancel.xml')
    const from = alice.received.length
    const { legId } = await alice.call('sip:+15550100@example.com', CHROMIUM_OFFER)
    await alice.next((r) => r.body.eventType === 'Ringing' && r.legId === legId, 'Ringing', 5_000, from)
    expect((await alice.end(legId)).status).toBe(204)
    await passed(phone)
    await gatewayGone(await gatewayCallOf(legId))
    await waitFor(
      async () => ((await callOf(legId))?.pstn?.sipStatus === 487 ? true : undefined),
      5_000,
      'the 487 on the call record',
    )
    expect(await callOf(legId)).toMatchObject({ state: 'ended', endReason: 'cancelled by caller' })
  })

  it('a trunk that never answers fails the call with 408 within the INVITE timeout', async () => {
    const from = alice.received.length
    const started = Date.now()
    const { legId } = await alice.call('sip:+15550100@example.com', CHROMIUM_OFFER)
    const ended = await alice.next(
      (r) => r.body.eventType === 'SessionEnded' && r.legId === legId,
      'SessionEnded',
      6_000,
      from,
    )
    expect(ended.body).toMatchObject({ statusCode: 408 })
    expect(Date.now() - started).toBeLessThan(5_000)
    await gatewayGone(await gatewayCallOf(legId))
  })

  it('a user without a number gets 403 SVC0403, and no INVITE leaves', async () => {
    const bob = await platform.subscribed('bob')
    const invitesBefore = platform.server.sip!.counters().invitesOut
    const { reply } = await bob.call('sip:+15550100@example.com', CHROMIUM_OFFER)
    expect(reply.status).toBe(403)
    expect(reply.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0403' } } })
    expect(platform.server.sip!.counters().invitesOut).toBe(invitesBefore)
  })
})
