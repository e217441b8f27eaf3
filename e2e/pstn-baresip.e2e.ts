// A browser calls a phone number (issue 11): Chromium with the SDK page dials +15550100; Parley, with
// --rtpengine-spawn and --sip-trunk pointing at Debian's baresip (the carrier's far phone, auto-answering and
// playing a sox tone), bridges WebRTC and plain RTP. In e2e/run.sh's private loopback namespace.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { addNumber } from '@parley/server'
import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { captureRtp, FAR_PHONE_IP, farPhone, requirePstnTools, rmsOf, type FarPhone } from './baresip.js'
import {
  inboundBytes,
  launchChromium,
  openPage,
  startDemoPlatform,
  waitForGrowth,
  waitForStall,
  waitForValue,
} from './harness.js'
import {
  answeredIncoming,
  audioEnergy,
  dial,
  expectInboundAudio,
  pcState,
  playRemoteAudio,
} from './pstn-page.js'
import { freshPorts } from './rtpengine.js'
import { sdkCallState, setupSdk } from './sdk-page.js'

let browser: Browser
let platform: TestPlatform
const contexts: BrowserContext[] = []
const phones: FarPhone[] = []

beforeAll(async () => {
  requirePstnTools()
  const { ngPort, minPort, maxPort } = freshPorts()
  platform = await startDemoPlatform({
    // parley serve --rtpengine udp:127.0.0.1:PORT --rtpengine-spawn --sip-trunk sip:127.0.0.2
    rtpengine: {
      host: '127.0.0.1',
      port: ngPort,
      timeoutMs: 3_000,
      spawn: { interface: '127.0.0.1', minPort, maxPort },
    },
    sip: {
      trunk: { host: FAR_PHONE_IP, port: 5060, transport: 'udp' },
      listen: { host: '127.0.0.1', port: 5060 },
      username: undefined,
      password: undefined,
      trusted: [],
      inviteTimeoutMs: 10_000,
    },
    timings: { noAnswerMs: 20_000 },
  })
  await addNumber(platform.server.ctx, {
    clientId: platform.clientId,
    number: '+15550199',
    user: 'alice@example.com',
  })
  browser = await launchChromium()
})
afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close()
  for (const p of phones.splice(0)) await p.stop()
})
afterAll(async () => {
  await browser?.close()
  await platform?.close()
})

async function userPage(user: 'alice' | 'bob', sdkGlobal: 'Parley' | 'Kandy' = 'Parley'): Promise<Page> {
  const { context, page } = await openPage(browser, `${platform.url}/quickstart`)
  contexts.push(context)
  await setupSdk(page, platform, user, {}, sdkGlobal)
  return page
}
const alicePage = (sdkGlobal: 'Parley' | 'Kandy' = 'Parley') => userPage('alice', sdkGlobal)

/** The page answers every incoming call (audio only), keeping its id and caller in `window.incoming`, `.from`. */
const autoAnswer = (page: Page) =>
  page.evaluate(`window.sdk.on('call:receive', ({ callId }) => {
    window.incoming = callId
    window.from = window.sdk.call.getById(callId).from
    void window.sdk.call.answer(callId, { audio: true, video: false })
  })`)

/** Waits until baresip has seen its call end (a BYE either way). */
const byeSeen = (phone: FarPhone) =>
  waitFor(
    () => (/session closed|terminated/i.test(phone.log()) ? true : undefined),
    10_000,
    'baresip to see the BYE',
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${phone.log().slice(-3000)}`)
  })

/** Waits until at least 50 RTP packets reach baresip's `port` (tcpdump on loopback). */
async function expectRtpAt(port: number, phone: FarPhone, what: string): Promise<void> {
  const capture = await captureRtp(port)
  try {
    await waitFor(
      () => (capture.packets().length >= 50 ? true : undefined),
      10_000,
      `${what} at baresip's port ${port}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${phone.log().slice(-2000)}`)
    })
  } finally {
    await capture.stop()
  }
}

describe('a browser calls a phone number through rtpengine and the SIP trunk (baresip answers)', () => {
  it('both hear each other; the page hangs up → baresip gets the BYE; its recording of the page is not silent', async () => {
    const phone = await farPhone('+15550100')
    phones.push(phone)
    const page = await alicePage()
    const callId = await dial(page, phone)
    // The phone's tone through rtpengine: the page's inbound audio energy grows.
    await expectInboundAudio(page, phone)
    // Let baresip record a few seconds of the page's fake microphone (its beeps).
    await new Promise((r) => setTimeout(r, 2_000))
    await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await byeSeen(phone)
    // baresip closes its recording when its call ends: the page's fake microphone (beeps) is in it.
    const recording = phone.recording()
    expect(recording, `baresip's recording of the call\n${phone.log().slice(-2000)}`).toBeDefined()
    expect(rmsOf(recording!)).toBeGreaterThan(0.02)
    expect(await sdkCallState(page, callId)).toBe('Ended')
    const record = (await platform.server.ctx.store.listCallRecords(1))[0]
    expect(record).toMatchObject({
      callee: '+15550100',
      pstn: { number: '+15550100', localNumber: '+15550199', sipStatus: 200 },
    })
  })

  it("a page with the Kandy-compatible global (Kandy.create, as the founding quickstart) dials the number: Connected, the phone's tone, end", async () => {
    const phone = await farPhone('+15550100')
    phones.push(phone)
    const page = await alicePage('Kandy')
    // The client really is Kandy.create's (the bundle defines window.Kandy besides window.Parley).
    expect(await page.evaluate('typeof window.Kandy.create')).toBe('function')
    const callId = await dial(page, phone)
    await expectInboundAudio(page, phone)
    await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await byeSeen(phone)
    expect(await sdkCallState(page, callId)).toBe('Ended')
  })

  it('baresip hangs up → the page is Ended', async () => {
    // `-t 8`: baresip quits 8 s after start, ending its call with a BYE.
    const phone = await farPhone('+15550100', ['-t', '8'])
    phones.push(phone)
    const page = await alicePage()
    const callId = await dial(page, phone)
    await waitFor(
      async () => ((await sdkCallState(page, callId)) === 'Ended' ? true : undefined),
      15_000,
      `the page's call Ended after baresip's BYE\n${phone.log().slice(-3000)}`,
    )
  })
})

/** The page's outbound audio bytes (what it sends toward rtpengine and the phone). */
const outboundAudioBytes = (page: Page) =>
  page.evaluate(async () => {
    const pcs = (window as unknown as { __parleyTest: { pcs: RTCPeerConnection[] } }).__parleyTest.pcs
    let n = 0
    for (const pc of pcs.filter((p) => p.signalingState !== 'closed'))
      (await pc.getStats()).forEach((s: Record<string, unknown>) => {
        if (s.type === 'outbound-rtp' && s.kind === 'audio') n += Number(s.bytesSent ?? 0)
      })
    return n
  })
const callFlags = (page: Page, callId: string) =>
  page.evaluate(
    `(() => { const c = window.sdk.call.getById(${JSON.stringify(callId)}); return c && { state: c.state, localHold: c.localHold, remoteHold: c.remoteHold } })()`,
  ) as Promise<{ state: string; localHold: boolean; remoteHold: boolean } | undefined>
const inboundAudioBytes = (page: Page) => inboundBytes(page, 'audio')

describe('mid-call on a phone call: hold both ways, DTMF (issue 11)', () => {
  it('the page holds: a re-INVITE reaches baresip, media stops both ways; unhold resumes both ways', async () => {
    const phone = await farPhone('+15550100')
    phones.push(phone)
    const page = await alicePage()
    const callId = await dial(page, phone)
    await expectInboundAudio(page, phone)
    await page.evaluate(`window.sdk.call.hold(${JSON.stringify(callId)})`)
    await waitForValue(
      () => callFlags(page, callId),
      (c) => c?.state === 'On Hold' && c.localHold,
      `the page's call On Hold\n--- baresip:\n${phone.log().slice(-2000)}`,
    )
    // Nothing from the phone reaches the page, and the page sends nothing.
    await waitForStall(() => inboundAudioBytes(page), 'inbound audio from the phone while held')
    await waitForStall(() => outboundAudioBytes(page), "the page's outbound audio while held")
    await page.evaluate(`window.sdk.call.unhold(${JSON.stringify(callId)})`)
    await waitForValue(
      () => callFlags(page, callId),
      (c) => c?.state === 'Connected' && !c.localHold,
      `the page's call Connected again\n--- baresip:\n${phone.log().slice(-2000)}`,
    )
    await waitForGrowth(() => inboundAudioBytes(page), 'inbound audio from the phone after unhold')
    await waitForGrowth(() => outboundAudioBytes(page), "the page's outbound audio after unhold")
    await expectInboundAudio(page, phone, 'after unhold')
    await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await byeSeen(phone)
  })

  it("baresip holds: its re-INVITE reaches the page as a re-offer (remote hold), the phone's audio stops; resume brings it back", async () => {
    const phone = await farPhone('+15550100', [], { control: true })
    phones.push(phone)
    const page = await alicePage()
    const callId = await dial(page, phone)
    await expectInboundAudio(page, phone)
    await phone.command('hold')
    await waitForValue(
      () => callFlags(page, callId),
      (c) => c?.remoteHold === true,
      `the page to see the phone's hold\n--- baresip:\n${phone.log().slice(-2000)}`,
    )
    await waitForStall(() => inboundAudioBytes(page), 'inbound audio from the phone while it holds')
    await phone.command('resume')
    await waitForValue(
      () => callFlags(page, callId),
      (c) => c?.state === 'Connected' && c.remoteHold === false,
      `the page to see the phone's resume\n--- baresip:\n${phone.log().slice(-2000)}`,
    )
    await expectInboundAudio(page, phone, 'after the phone resumed')
  })

  it('restartMedia: the ICE restart offer carries its new candidate, the phone gets one re-INVITE, the tone goes on', async () => {
    const phone = await farPhone('+15550100', ['-s'])
    phones.push(phone)
    const page = await alicePage()
    const callId = await dial(page, phone)
    await expectInboundAudio(page, phone)
    const invites = () => phone.log().match(/^INVITE sip:/gm)?.length ?? 0
    expect(invites()).toBe(1)
    const ufrag = async () =>
      /a=ice-ufrag:(\S+)/.exec(((await pcState(page)) as { local?: string }).local ?? '')?.[1]
    const before = await ufrag()
    await page.evaluate(`window.sdk.call.restartMedia(${JSON.stringify(callId)})`)
    await waitForValue(
      ufrag,
      (u) => u !== undefined && u !== before,
      'a new local ICE ufrag (the restart applied)',
    )
    // rtpengine gives the trunk leg a new port on any re-offer, so the phone must be told (a re-INVITE,
    // sendrecv: without candidates in the restart offer it was a 0.0.0.0 hold and the tone stopped).
    await waitFor(
      () => (invites() === 2 ? true : undefined),
      10_000,
      `baresip's re-INVITE\n${phone.log().slice(-2000)}`,
    )
    expect(phone.log().slice(phone.log().lastIndexOf('INVITE sip:'))).toMatch(/a=sendrecv/)
    await waitForValue(
      () => callFlags(page, callId),
      (c) => c?.state === 'Connected' && !c.localHold && !c.remoteHold,
      'the call Connected after the restart',
    )
    await expectInboundAudio(page, phone, 'after the ICE restart')
  })

  it('DTMF 123# from the page reaches baresip as RFC 4733 telephone-events', async () => {
    // -s: baresip prints its SIP, so its answer's media port is known. baresip 1.0 does not log the
    // telephone-events it receives, so they are captured where they arrive: at that port (tcpdump).
    const phone = await farPhone('+15550100', ['-s'])
    phones.push(phone)
    const page = await alicePage()
    const callId = await dial(page, phone)
    const remote = ((await pcState(page)) as { remote?: string } | undefined)?.remote ?? ''
    expect(remote, 'the answer the page got offers telephone-event').toMatch(
      /a=rtpmap:\d+ telephone-event\/8000/,
    )
    const answer = phone.log().slice(phone.log().indexOf('SIP/2.0 200'))
    const port = Number(/m=audio (\d+) RTP\/AVP/.exec(answer)?.[1])
    const pt = Number(/a=rtpmap:(\d+) telephone-event\/8000/.exec(answer)?.[1])
    expect(
      port && pt,
      `baresip's 200 OK with an audio port and telephone-event\n${answer.slice(0, 2000)}`,
    ).toBeTruthy()
    const capture = await captureRtp(port)
    await page.evaluate(`window.sdk.call.sendDTMF(${JSON.stringify(callId)}, '123#')`)
    // RFC 4733 §2.3: event codes 0–9 are the digits, 11 is '#'; each event is sent in several packets.
    const digits = () =>
      capture
        .packets()
        .filter((p) => p.payloadType === pt)
        .map((p) => '0123456789*#'[p.payload[0]!] ?? '?')
        .filter((d, i, all) => d !== all[i - 1])
        .join('')
    try {
      await waitFor(
        () => (digits() === '123#' ? true : undefined),
        15_000,
        `telephone-events 1 2 3 # at baresip's port ${port} (got "${digits()}")`,
      )
    } finally {
      await capture.stop()
    }
  })
})

describe('a phone calls a number of the account (baresip dials bob)', () => {
  it("bob's page rings with the calling number, answers, both hear each other, bob hangs up → baresip gets the BYE", async () => {
    await addNumber(platform.server.ctx, {
      clientId: platform.clientId,
      number: '+15550123',
      user: 'bob@example.com',
    })
    const page = await userPage('bob')
    await autoAnswer(page)
    const phone = await farPhone('+15550100', ['-e', '/dial sip:+15550123@127.0.0.1:5060'])
    phones.push(phone)
    const callId = await answeredIncoming(page, phone)
    expect(await page.evaluate('window.from')).toContain('+15550100')
    await expectInboundAudio(page, phone, "in bob's page")
    await new Promise((r) => setTimeout(r, 2_000))
    await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await byeSeen(phone)
    const recording = phone.recording()
    expect(recording, `baresip's recording of the call\n${phone.log().slice(-2000)}`).toBeDefined()
    expect(rmsOf(recording!)).toBeGreaterThan(0.02)
    expect((await platform.server.ctx.store.listCallRecords(1))[0]).toMatchObject({
      caller: '+15550100',
      callee: 'bob',
      pstn: { direction: 'inbound', number: '+15550100', localNumber: '+15550123', sipStatus: 200 },
    })
  })
})

describe('forward to a phone number', () => {
  it("bob forwards alice's ringing call to +15550100: baresip answers, alice is Connected and hears its tone", async () => {
    await addNumber(platform.server.ctx, {
      clientId: platform.clientId,
      number: '+15550124',
      user: 'bob@example.com',
    })
    const phone = await farPhone('+15550100')
    phones.push(phone)
    const bob = await userPage('bob')
    await bob.evaluate(
      `window.sdk.on('call:receive', ({ callId }) => window.sdk.call.forward(callId, '+15550100'))`,
    )
    const alice = await alicePage()
    const callId = (await alice.evaluate(
      `window.sdk.call.make('bob@example.com', { audio: true, video: false })`,
    )) as string
    await waitFor(
      async () => ((await sdkCallState(alice, callId)) === 'Connected' ? true : undefined),
      20_000,
      `alice's forwarded call Connected\n--- baresip:\n${phone.log().slice(-3000)}`,
    )
    // From bob's caller ID: his first number (+15550123 when the inbound test ran before, else +15550124).
    await waitFor(
      () => (/Call established: sip:\+1555012[34]@/.test(phone.log()) ? true : undefined),
      10_000,
      `baresip's call from bob's number\n${phone.log().slice(-3000)}`,
    )
    await playRemoteAudio(alice)
    await expectInboundAudio(alice, phone, "in alice's page after the forward")
    await alice.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await byeSeen(phone)
  })
})

describe('transfer to a phone number', () => {
  it('alice holds bob and transfers him to +15550100: baresip answers a call from her number, bob hears its tone, alice Ended', async () => {
    const phone = await farPhone('+15550100')
    phones.push(phone)
    const bob = await userPage('bob')
    await bob.evaluate(`window.sdk.on('call:receive', ({ callId }) => {
      window.bobCallId = callId
      void window.sdk.call.answer(callId, { audio: true, video: false })
    })`)
    const alice = await alicePage()
    const callId = (await alice.evaluate(
      `window.sdk.call.make('bob@example.com', { audio: true, video: false })`,
    )) as string
    const connected = (page: Page, id: () => Promise<string>, what: string) =>
      waitFor(
        async () => ((await sdkCallState(page, await id())) === 'Connected' ? true : undefined),
        20_000,
        what,
      )
    const bobCallId = async () => String(await bob.evaluate('window.bobCallId'))
    await connected(alice, async () => callId, 'alice Connected to bob')
    await connected(bob, bobCallId, 'bob Connected to alice')
    await alice.evaluate(`window.sdk.call.hold(${JSON.stringify(callId)})`)
    await waitFor(
      async () =>
        (await alice.evaluate(`window.sdk.call.getById(${JSON.stringify(callId)})?.localHold`)) === true
          ? true
          : undefined,
      10_000,
      'alice holds bob',
    )
    await alice.evaluate(`window.sdk.call.directTransfer(${JSON.stringify(callId)}, '+15550100')`)
    // The phone rings with the transferor's caller ID and answers; bob's call goes on, now with the phone.
    await waitFor(
      () => (/Call established: sip:\+15550199@/.test(phone.log()) ? true : undefined),
      20_000,
      `baresip's call from alice's number\n${phone.log().slice(-3000)}`,
    )
    await waitFor(
      async () => ((await sdkCallState(alice, callId)) === 'Ended' ? true : undefined),
      10_000,
      "alice's call Ended by the transfer",
    )
    expect(await sdkCallState(bob, await bobCallId())).toBe('Connected')
    await playRemoteAudio(bob)
    await expectInboundAudio(bob, phone, "in bob's page after the transfer")
    const records = await platform.server.ctx.store.listCallRecords(2)
    expect(records.map((r) => r.callee)).toContain('+15550100')
    await bob.evaluate(`window.sdk.call.end(${JSON.stringify(await bobCallId())})`)
    await byeSeen(phone)
  })
})

describe("transfer of a phone call's phone side", () => {
  it("baresip calls alice; alice holds and transfers the phone to bob: bob rings with the calling number, answers, hears the tone, baresip gets bob's audio", async () => {
    const bob = await userPage('bob')
    await autoAnswer(bob)
    const alice = await alicePage()
    await autoAnswer(alice)
    // -s: baresip prints its SIP, so its media port (in its INVITE) is known for the capture below.
    const phone = await farPhone('+15550100', ['-s'], { control: true })
    phones.push(phone)
    await phone.command('dial', 'sip:+15550199@127.0.0.1:5060')
    const aliceCallId = await answeredIncoming(alice, phone)
    await expectInboundAudio(alice, phone, "in alice's page")
    const invite = phone.log().slice(phone.log().indexOf('INVITE sip:+15550199'))
    const port = Number(/m=audio (\d+) RTP\/AVP/.exec(invite)?.[1])
    expect(port, `baresip's INVITE with its audio port\n${invite.slice(0, 2000)}`).toBeGreaterThan(0)
    await alice.evaluate(`window.sdk.call.hold(${JSON.stringify(aliceCallId)})`)
    await waitForValue(
      () => callFlags(alice, aliceCallId),
      (c) => c?.state === 'On Hold' && c.localHold,
      "alice's call On Hold",
    )
    await alice.evaluate(`window.sdk.call.directTransfer(${JSON.stringify(aliceCallId)}, 'bob@example.com')`)
    const bobCallId = await answeredIncoming(bob, phone)
    expect(await bob.evaluate('window.from')).toContain('+15550100')
    await waitFor(
      async () => ((await sdkCallState(alice, aliceCallId)) === 'Ended' ? true : undefined),
      10_000,
      "alice's call Ended by the transfer",
    )
    await expectInboundAudio(bob, phone, "in bob's page after the transfer")
    // Alice's gateway call is gone once the transfer completed: what reaches baresip's port now is bob's audio,
    // through the new gateway call that the re-INVITE told baresip about.
    await expectRtpAt(port, phone, "RTP from bob's side")
    // The last re-INVITE (the transfer's, after alice's hold) resumes the media.
    expect(phone.log().slice(phone.log().lastIndexOf('INVITE sip:'))).toMatch(/a=sendrecv/)
    await bob.evaluate(`window.sdk.call.end(${JSON.stringify(bobCallId)})`)
    await byeSeen(phone)
    const record = (await platform.server.ctx.store.listCallRecords(1))[0]
    expect(record).toMatchObject({ callee: 'bob', pstn: { number: '+15550100', sipStatus: 200 } })
  })
})

describe('hold on a call from a phone', () => {
  it('baresip calls alice; alice holds: the phone gets a re-INVITE, RTP stops both ways (at baresip too); unhold resumes both ways', async () => {
    const alice = await alicePage()
    await autoAnswer(alice)
    const phone = await farPhone('+15550100', ['-s'], { control: true })
    phones.push(phone)
    await phone.command('dial', 'sip:+15550199@127.0.0.1:5060')
    const callId = await answeredIncoming(alice, phone)
    await expectInboundAudio(alice, phone, "in alice's page")
    const invite = phone.log().slice(phone.log().indexOf('INVITE sip:+15550199'))
    const port = Number(/m=audio (\d+) RTP\/AVP/.exec(invite)?.[1])
    expect(port, `baresip's INVITE with its audio port\n${invite.slice(0, 2000)}`).toBeGreaterThan(0)
    const capture = await captureRtp(port)
    const atPhone = () => Promise.resolve(capture.packets().length)
    try {
      await waitForGrowth(atPhone, "RTP from alice's side at baresip's port")
      await alice.evaluate(`window.sdk.call.hold(${JSON.stringify(callId)})`)
      await waitForValue(
        () => callFlags(alice, callId),
        (c) => c?.state === 'On Hold' && c.localHold,
        `alice's call On Hold\n--- baresip:\n${phone.log().slice(-2000)}`,
      )
      expect(phone.log().slice(phone.log().lastIndexOf('INVITE sip:'))).toMatch(/a=sendonly|a=inactive/)
      await waitForStall(() => inboundAudioBytes(alice), 'inbound audio from the phone while held')
      await waitForStall(atPhone, "RTP at baresip's port while held")
      await alice.evaluate(`window.sdk.call.unhold(${JSON.stringify(callId)})`)
      await waitForValue(
        () => callFlags(alice, callId),
        (c) => c?.state === 'Connected' && !c.localHold,
        `alice's call Connected again\n--- baresip:\n${phone.log().slice(-2000)}`,
      )
      await waitForGrowth(atPhone, "RTP at baresip's port after unhold", 20)
      await expectInboundAudio(alice, phone, 'after unhold')
    } finally {
      await capture.stop()
    }
    await alice.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await byeSeen(phone)
  })
})

describe('consultative transfer with a phone call', () => {
  for (const moving of ['bob', 'phone'] as const) {
    it(`alice holds bob and the phone and joins them (${moving === 'bob' ? "bob's fresh offer re-INVITEs the phone" : "the phone's side re-offers bob"}): bob hears the tone, baresip gets bob's audio, both of alice's calls end`, async () => {
      const phone = await farPhone('+15550100', ['-s'])
      phones.push(phone)
      const bob = await userPage('bob')
      await autoAnswer(bob)
      const alice = await alicePage()
      const bobCall = (await alice.evaluate(
        `window.sdk.call.make('bob@example.com', { audio: true, video: false })`,
      )) as string
      await waitForValue(
        () => callFlags(alice, bobCall),
        (c) => c?.state === 'Connected',
        'alice Connected to bob',
      )
      const bobCallId = await answeredIncoming(bob, phone)
      const held = async (id: string) => {
        await alice.evaluate(`window.sdk.call.hold(${JSON.stringify(id)})`)
        await waitForValue(
          () => callFlags(alice, id),
          (c) => c?.state === 'On Hold' && c.localHold,
          `alice's call ${id} On Hold`,
        )
      }
      await held(bobCall)
      const phoneCall = await dial(alice, phone)
      const answer = phone.log().slice(phone.log().indexOf('SIP/2.0 200'))
      const port = Number(/m=audio (\d+) RTP\/AVP/.exec(answer)?.[1])
      expect(port, `baresip's 200 OK with its audio port\n${answer.slice(0, 2000)}`).toBeGreaterThan(0)
      await held(phoneCall)
      const [first, second] = moving === 'bob' ? [bobCall, phoneCall] : [phoneCall, bobCall]
      await alice.evaluate(
        `window.sdk.call.consultativeTransfer(${JSON.stringify(first)}, ${JSON.stringify(second)})`,
      )
      for (const id of [bobCall, phoneCall])
        await waitFor(
          async () => ((await sdkCallState(alice, id)) === 'Ended' ? true : undefined),
          15_000,
          `alice's call ${id} Ended by the transfer\n--- baresip:\n${phone.log().slice(-3000)}`,
        )
      await waitForValue(
        () => callFlags(bob, bobCallId),
        (c) => c?.state === 'Connected' && !c.remoteHold && !c.localHold,
        "bob's call Connected (unheld) with the phone",
      )
      await playRemoteAudio(bob)
      await expectInboundAudio(bob, phone, "in bob's page after the transfer")
      // Alice's gateway calls are gone: what reaches baresip's port now is bob's audio.
      await expectRtpAt(port, phone, "RTP from bob's side")
      expect(phone.log().slice(phone.log().lastIndexOf('INVITE sip:'))).toMatch(/a=sendrecv/)
      await bob.evaluate(`window.sdk.call.end(${JSON.stringify(bobCallId)})`)
      await byeSeen(phone)
    })
  }
})

describe('early media from the phone (SIP 183 with SDP)', () => {
  it('SIPp answers 183 with SDP and plays audio: the page is Early Media and hears it before the 200; then Connected, audio goes on', async () => {
    // SIPp (not baresip: its early mode sends no media) as the far phone, playing its g711a.pcap (PCMA).
    const sipp = spawn(
      'sipp',
      [
        ...['-sf', fileURLToPath(new URL('./sipp/uas-early-media.xml', import.meta.url))],
        ...['-m', '1', '-nostdin', '-timeout', '40s', '-timeout_error'],
        ...['-i', FAR_PHONE_IP, '-p', '5060', '-mi', FAR_PHONE_IP, '-t', 'u1'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    const keep = (b: Buffer) => (output = (output + String(b)).slice(-4000))
    sipp.stdout.on('data', keep)
    sipp.stderr.on('data', keep)
    const done = new Promise<number | null>((resolve) => sipp.on('close', resolve))
    try {
      await waitFor(
        () =>
          spawnSync('ss', ['-Hlnu', 'src', `${FAR_PHONE_IP}:5060`], { encoding: 'utf8' }).stdout.trim() ||
          undefined,
        10_000,
        `SIPp listening on ${FAR_PHONE_IP}:5060`,
      )
      const page = await alicePage()
      const callId = (await page.evaluate(
        `window.sdk.call.make('+15550100', { audio: true, video: false })`,
      )) as string
      await waitForValue(
        () => callFlags(page, callId),
        (c) => c?.state === 'Early Media',
        "the page's call in Early Media (SIPp's 183 with SDP)",
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- SIPp:\n${output}`)
      })
      await playRemoteAudio(page)
      // Heard before the answer: a sample with the call still in Early Media and the energy grown (SIPp sends
      // its 200 OK 4.5 s after the 183).
      const start = await audioEnergy(page)
      const sample = async () => ({
        state: (await callFlags(page, callId))?.state,
        energy: await audioEnergy(page),
      })
      await waitForValue(
        sample,
        (s) => s.state !== 'Early Media' || s.energy > start + 0.01,
        "inbound audio energy in Early Media (SIPp's audio before its 200)",
      ).then((s) =>
        expect(s.state, `energy ${s.energy} (from ${start}) while Early Media`).toBe('Early Media'),
      )
      await waitForValue(
        () => callFlags(page, callId),
        (c) => c?.state === 'Connected',
        "the page's call Connected on SIPp's 200",
        15_000,
      )
      // The same stream runs on into the answered call.
      const connected = await audioEnergy(page)
      await waitFor(
        async () => ((await audioEnergy(page)) > connected + 0.01 ? true : undefined),
        5_000,
        "inbound audio energy after the answer (the rest of SIPp's audio)",
      )
      await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
      expect(await done, `SIPp's verdict (it got the BYE)\n${output}`).toBe(0)
    } finally {
      if (sipp.exitCode === null) sipp.kill('SIGKILL')
    }
  })
})
