// PSTN calls through the call layer (issue 11), protocol level: a ProtocolClient caller (a Kandy client's requests)
// dials a phone number; Parley sends it through a real rtpengine (Debian's rtpengine-daemon) and its SIP user
// agent to SIPp playing the carrier's far phone on 127.0.0.2:5060. Runs in e2e/run.sh's private loopback
// namespace, so the fixed SIP ports cannot collide with anything.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addNumber, type RtpengineSupervisor } from '@parley/server'
import { startTestPlatform, waitFor, type ProtocolClient, type TestPlatform } from '@parley/test-kit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_OFFER, startRtpengine } from './rtpengine.js'

const SCENARIOS = fileURLToPath(new URL('./sipp/', import.meta.url))
const CARRIER = '127.0.0.2'
const running: ReturnType<typeof spawn>[] = []
/** SIPp's message traces (-trace_msg) of each scenario, for a failing test's ladder. */
const TRACES = mkdtempSync(join(tmpdir(), 'parley-pstn-sipp-'))

/** SIPp as the far phone for `calls` calls (server scenario), resolved once it listens; `done` gives its verdict. */
async function farPhone(
  scenario: string,
  calls = 1,
): Promise<{ done: Promise<{ code: number | null; output: string }> }> {
  const child = spawn(
    'sipp',
    [
      '-sf',
      SCENARIOS + scenario,
      '-m',
      String(calls),
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
      join(TRACES, `${scenario}.log`),
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
  rmSync(TRACES, { recursive: true, force: true })
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

  it('transfers: to a number without a caller ID, of a phone side to a number, joining two PSTN calls: 403; the calls go on', async () => {
    const bob = await platform.subscribed('bob')
    const carol = await platform.subscribed('carol')
    const invitesBefore = platform.server.sip!.counters().invitesOut
    // bob (no number) in a call with carol transfers her to a number: 403, no INVITE, the call goes on.
    const { legId: lb } = await bob.call('sip:carol@example.com')
    const { legId: lc } = await carol.invitation()
    expect((await carol.answer(lc)).status).toBe(204)
    await bob.next((r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === lb, 'acceptance')
    const refused = await bob.transfer(lb, 'sip:+15550100@example.com')
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0403' } } })
    expect(platform.server.sip!.counters().invitesOut).toBe(invitesBefore)
    expect((await bob.status(lb, 'Connected')).body).toMatchObject({
      wrtcsSessionStatus: { status: 'Connected' },
    })
    // alice, in two PSTN calls, joins them (trunk to trunk) or sends one to another number: 403, both go on.
    const phone = await farPhone('uas-answer.xml', 2)
    const from = alice.received.length
    const pstnLegs: string[] = []
    for (const n of ['+15550100', '+15550101']) {
      const { legId } = await alice.call(`sip:${n}@example.com`, CHROMIUM_OFFER)
      await alice.next(
        (r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === legId,
        `the acceptance of ${n}`,
        5_000,
        from,
      )
      pstnLegs.push(legId)
    }
    const [p1, p2] = pstnLegs as [string, string]
    const invitesBefore2 = platform.server.sip!.counters().invitesOut
    const joined = await alice.transfer(p1, 'sip:+15550101@example.com', p2)
    expect(joined.status).toBe(403)
    expect(joined.body).toMatchObject({ requestError: { serviceException: { messageId: 'SVC0403' } } })
    expect((await alice.transfer(p1, 'sip:+15550111@example.com')).status).toBe(403)
    expect(platform.server.sip!.counters().invitesOut).toBe(invitesBefore2)
    for (const leg of pstnLegs) expect((await callOf(leg))?.state).toBe('connected')
    for (const [client, leg] of [
      [alice, p1],
      [alice, p2],
      [bob, lb],
    ] as const)
      expect((await client.end(leg)).status).toBe(204)
    await passed(phone)
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

/** SIPp as the carrier calling `number` at Parley (client scenario, from 127.0.0.2:5062). */
function carrierCalls(scenarioFile: string, number: string) {
  const child = spawn(
    'sipp',
    [
      ...['127.0.0.1:5060', '-sf', scenarioFile, '-m', '1', '-nostdin', '-timeout', '20s', '-timeout_error'],
      ...['-i', CARRIER, '-p', '5062', '-t', 'u1', '-s', number],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  running.push(child)
  let output = ''
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  return {
    done: new Promise<{ code: number | null; output: string }>((r) =>
      child.on('close', (code) => r({ code, output })),
    ),
  }
}

/** A carrier INVITE that expects the final answer `status` (after an optional 100/180), then ACKs it. */
function refusedScenario(status: number): string {
  const file = join(TRACES, `uac-refused-${status}.xml`)
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="uac-refused-${status}">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Carrier" <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:carrier@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="${status}" />
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: "Carrier" <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
`,
  )
  return file
}

/** A WebRTC answer as Chromium makes it to rtpengine's offer (the offer's DTLS role flipped to active). */
const BROWSER_ANSWER = CHROMIUM_OFFER.replace('a=setup:actpass', 'a=setup:active')

describe('PSTN calls: the carrier (SIPp) calls a number of the account', () => {
  let bob: ProtocolClient
  beforeAll(async () => {
    await addNumber(platform.server.ctx, {
      clientId: platform.clientId,
      number: '+15550123',
      user: 'bob@example.com',
    })
    await addNumber(platform.server.ctx, { clientId: platform.clientId, number: '+15550124' })
    bob = await platform.subscribed('bob')
  })

  it("rings bob with rtpengine's WebRTC offer and the calling number; answer → 200 OK; the carrier's BYE ends bob's call", async () => {
    const from = bob.received.length
    const carrier = carrierCalls(SCENARIOS + 'uac-inbound.xml', '+15550123')
    const invitation = await bob.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'invitation',
      5_000,
      from,
    )
    expect(invitation.body).toMatchObject({
      originatorAddress: 'sip:+15550100@example.com',
      originatorName: 'Carrier',
      tParticipantAddress: 'sip:bob@example.com',
    })
    const offer = (invitation.body.offer as { sdp: string }).sdp
    expect(offer).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF/m)
    expect(offer).toMatch(/^a=fingerprint:sha-256 /m)
    expect(offer).toMatch(/^a=mid:/m)
    const legId = invitation.legId!
    expect((await bob.status(legId, 'Ringing')).status).toBe(200) // → 180 Ringing to the carrier
    expect((await bob.answer(legId, BROWSER_ANSWER)).status).toBe(204) // → 200 OK
    const ended = await bob.next(
      (r) => r.body.eventType === 'SessionEnded' && r.legId === legId,
      'SessionEnded',
      5_000,
      from,
    )
    expect(ended.body).toMatchObject({ statusCode: 200 })
    await passed(carrier)
    const call = await callOf(legId)
    expect(call).toMatchObject({
      state: 'ended',
      endReason: 'ended by caller',
      callerUsername: '+15550100',
      pstn: { direction: 'inbound', number: '+15550100', localNumber: '+15550123', sipStatus: 200 },
    })
    await gatewayGone(call!.pstn!.gatewayCallId)
  })

  it('bob rejects → 603 Decline to the carrier', async () => {
    const from = bob.received.length
    const carrier = carrierCalls(refusedScenario(603), '+15550123')
    const invitation = await bob.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'invitation',
      5_000,
      from,
    )
    expect((await bob.end(invitation.legId!)).status).toBe(204)
    await passed(carrier)
    await gatewayGone((await callOf(invitation.legId!))!.pstn!.gatewayCallId)
  })

  it("nobody answers → 480 at the no-answer timer, and bob's ringing leg is Cancelled", async () => {
    const from = bob.received.length
    const carrier = carrierCalls(refusedScenario(480), '+15550123')
    const invitation = await bob.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification',
      'invitation',
      5_000,
      from,
    )
    await bob.status(invitation.legId!, 'Ringing')
    await bob.next(
      (r) => r.body.eventType === 'Cancelled' && r.legId === invitation.legId,
      'Cancelled',
      6_000,
      from,
    )
    await passed(carrier)
    expect(await callOf(invitation.legId!)).toMatchObject({ endReason: 'no answer' })
  })

  it('a number nobody has → 404; an assigned number whose user has no subscribed device → 480', async () => {
    await passed(carrierCalls(refusedScenario(404), '+15550124'))
    await passed(carrierCalls(refusedScenario(404), '+15559999'))
    await addNumber(platform.server.ctx, {
      clientId: platform.clientId,
      number: '+15550125',
      user: 'carol@example.com',
    })
    await passed(carrierCalls(refusedScenario(480), '+15550125'))
  })
})

describe('PSTN calls without a media gateway', () => {
  it('rtpengine down → the caller gets SessionEnded 503 within the ng timeout, and no INVITE leaves', async () => {
    await rtpengine.supervisor.stop()
    const invitesBefore = platform.server.sip!.counters().invitesOut
    const from = alice.received.length
    const started = Date.now()
    const { reply, legId } = await alice.call('sip:+15550100@example.com', CHROMIUM_OFFER)
    expect(reply.status).toBe(201)
    const ended = await alice.next(
      (r) => r.body.eventType === 'SessionEnded' && r.legId === legId,
      'SessionEnded',
      8_000,
      from,
    )
    expect(ended.body).toMatchObject({ statusCode: 503, reasonText: 'Media Gateway Unavailable' })
    expect(Date.now() - started).toBeLessThan(6_000)
    expect(platform.server.sip!.counters().invitesOut).toBe(invitesBefore)
  })
})
