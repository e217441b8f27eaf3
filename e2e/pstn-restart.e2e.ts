// A PSTN call survives a restart of its node (issue 11): `parley serve` with --rtpengine pointing at a running
// rtpengine and --sip-trunk at baresip (the far phone) is killed (SIGKILL) mid-call and started again on the
// same SQLite file and SIP port. The restarted node restores the call's SIP dialog from the store: baresip's BYE
// ends the page's call, and the page's end sends baresip a BYE in the original dialog. In e2e/run.sh's namespace.
import { RtpengineClient, type RtpengineSupervisor } from '@parley/server'
import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FAR_PHONE_IP, farPhone, requirePstnTools, type FarPhone } from './baresip.js'
import { launchChromium, openPage } from './harness.js'
import { answeredIncoming, dial, expectInboundAudio } from './pstn-page.js'
import { startRtpengine } from './rtpengine.js'
import { autoAnswerAndRecord, sdkCallState, sdkReconnected, setupSdk } from './sdk-page.js'
import { freePort, serveDb, startServe, type ServeProcess } from './serve-process.js'

const store = serveDb('parley-pstn-restart-e2e-')
let browser: Browser
let rtpengine: { supervisor: RtpengineSupervisor; port: number }
let gateway: RtpengineClient
let target: TestPlatform
let port: number
let metricsPort: number
let server: ServeProcess | undefined
const contexts: BrowserContext[] = []
const phones: FarPhone[] = []

beforeAll(async () => {
  requirePstnTools()
  rtpengine = await startRtpengine()
  gateway = new RtpengineClient({ host: '127.0.0.1', port: rtpengine.port })
  const { clientId } = JSON.parse(await store.cli(['account', 'create', '--name', 'PSTN restart'])) as {
    clientId: string
  }
  const passwords = { alice: 'alice-pstn-restart-pw', bob: 'bob-pstn-restart-pw' }
  for (const [name, password, number] of [
    ['alice', passwords.alice, '+15550199'],
    ['bob', passwords.bob, '+15550123'],
  ] as const) {
    const login = `${name}@example.com`
    await store.cli(['user', 'create', '--client-id', clientId, '--username', login, '--password', password])
    await store.cli(['number', 'add', '--client-id', clientId, '--number', number, '--user', login])
  }
  target = { clientId, passwords } as unknown as TestPlatform
  port = await freePort()
  metricsPort = await freePort()
  browser = await launchChromium()
})
afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close()
  for (const p of phones.splice(0)) await p.stop()
  server?.child.kill('SIGKILL')
  server = undefined
})
afterAll(async () => {
  await browser?.close()
  await gateway?.close()
  await rtpengine?.supervisor.stop()
  store.remove()
})

/** `parley serve` toward the running rtpengine and baresip's trunk, on the same port, file and SIP address. */
const serve = () =>
  startServe(port, store.db, [
    ...['--rtpengine', `udp:127.0.0.1:${rtpengine.port}`],
    ...['--sip-trunk', `sip:${FAR_PHONE_IP}:5060;transport=udp`, '--sip-listen', '127.0.0.1:5060'],
    ...['--metrics-port', String(metricsPort)],
  ])

async function metric(series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** `name`'s page on the node, with an SDK that reconnects fast, answering incoming calls (auto-answer). */
async function userPage(name: string): Promise<Page> {
  const { context, page } = await openPage(browser, `http://127.0.0.1:${port}/quickstart`)
  contexts.push(context)
  await setupSdk(page, target, name, { connectivity: { reconnectDelay: 300, reconnectLimit: 0 } })
  await autoAnswerAndRecord(page)
  return page
}

/** baresip as the far phone with its SIP trace on (`-s`) and ctrl_tcp for hangup/dial. */
async function phone(): Promise<FarPhone> {
  const p = await farPhone('+15550100', ['-s'], { control: true })
  phones.push(p)
  return p
}

/**
 * With the page's call to or from baresip connected and its tone heard: the node is killed and started again,
 * the page's SDK reconnects, the restored dialog is counted, and the tone still plays.
 */
async function restartMidCall(page: Page, phone: FarPhone, callId: string): Promise<void> {
  await expectInboundAudio(page, phone)
  expect(await gateway.list()).toHaveLength(1)
  server!.child.kill('SIGKILL')
  const killedAt = Date.now()
  await new Promise((resolve) => server!.child.once('exit', resolve))
  server = await serve()
  await sdkReconnected(page, killedAt)
  expect(await sdkCallState(page, callId)).toBe('Connected')
  expect(await metric('parley_sip_dialogs'), server.log()).toBe(1)
  expect(await metric('parley_media_gateway_up')).toBe(1)
  expect(await metric('parley_media_gateway_calls')).toBe(1)
  // Media never went through the node: rtpengine keeps bridging while it restarts.
  await expectInboundAudio(page, phone, 'in the page after the restart')
  expect(await gateway.list()).toHaveLength(1)
}

/** Alice's page calls +15550100 (baresip answers), then the node restarts. */
async function callThenRestart(): Promise<{ page: Page; phone: FarPhone; callId: string }> {
  server = await serve()
  const far = await phone()
  const page = await userPage('alice')
  const callId = await dial(page, far)
  await restartMidCall(page, far, callId)
  return { page, phone: far, callId }
}

/** The SIP messages of baresip's trace (`-s`) whose first line matches `start`, as text. */
function traced(phone: FarPhone, start: RegExp): string[] {
  return phone
    .log()
    .split(/\r?\n\r?\n/)
    .map((block) => block.slice(block.search(/^(?:[A-Z]+ sip:|SIP\/2\.0 )/m)))
    .filter((message) => start.test(message))
}

/** A header of a traced message; throws when it has none (so that two missing headers never compare equal). */
function header(message: string, name: string): string {
  const value = new RegExp(`^${name}:\\s*(.+?)\\s*$`, 'im').exec(message)?.[1]
  if (value === undefined) throw new Error(`no ${name} header in:\n${message}`)
  return value
}

const isAnswerTo = (method: string) => (m: string) => header(m, 'CSeq').endsWith(` ${method}`)

/**
 * baresip's trace holds one BYE, in the INVITE's dialog: the same Call-ID, Parley's tag and baresip's, a CSeq
 * above Parley's last request (its INVITE, outbound; none yet, inbound), and baresip answered it 200 (a BYE
 * outside its dialog would get 481).
 */
function expectByeInDialog(phone: FarPhone, direction: 'outbound' | 'inbound'): void {
  const log = phone.log().slice(-4000)
  const [invite] = traced(phone, /^INVITE sip:/)
  const answer = traced(phone, /^SIP\/2\.0 200 /).find(isAnswerTo('INVITE'))
  const byes = traced(phone, /^BYE sip:/)
  expect(invite && answer, log).toBeTruthy()
  expect(byes, log).toHaveLength(1)
  const bye = byes[0]!
  expect(header(bye, 'Call-ID')).toBe(header(invite!, 'Call-ID'))
  const cseq = (m: string) => Number(header(m, 'CSeq').split(' ')[0])
  if (direction === 'outbound') {
    // Parley sent the INVITE: its From is ours, the 200's To carries baresip's tag.
    expect(header(bye, 'From')).toBe(header(invite!, 'From'))
    expect(header(bye, 'To')).toBe(header(answer!, 'To'))
    expect(cseq(bye)).toBeGreaterThan(cseq(invite!))
  } else {
    // baresip sent the INVITE: the BYE's From is the 200's To (Parley's tag), its To the INVITE's From.
    expect(header(bye, 'From')).toBe(header(answer!, 'To'))
    expect(header(bye, 'To')).toBe(header(invite!, 'From'))
    expect(cseq(bye)).toBeGreaterThanOrEqual(1)
  }
  const byeAnswers = traced(phone, /^SIP\/2\.0 /).filter(isAnswerTo('BYE'))
  expect(
    byeAnswers.map((m) => m.split(/\r?\n/)[0]),
    log,
  ).toStrictEqual(['SIP/2.0 200 OK'])
}

describe('a PSTN call across a restart of its node (the dialog is restored from the store)', () => {
  it("baresip's BYE after the restart: 200 OK, the page's call Ended, the rtpengine call deleted", async () => {
    const { page, phone, callId } = await callThenRestart()
    await phone.command('hangup')
    await waitFor(
      async () => ((await sdkCallState(page, callId)) === 'Ended' ? true : undefined),
      15_000,
      `the page's call Ended by baresip's BYE after the restart\n${server!.log()}\n--- baresip:\n${phone.log().slice(-3000)}`,
    )
    const ok = traced(phone, /^SIP\/2\.0 200 /).filter(isAnswerTo('BYE'))
    expect(ok, phone.log().slice(-3000)).toHaveLength(1)
    await waitFor(async () => (await gateway.list()).length === 0, 10_000, 'the rtpengine call deleted')
    expect(await metric('parley_sip_dialogs')).toBe(0)
    expect(await metric('parley_media_gateway_calls')).toBe(0)
    // The restarted node's SIP traffic: the BYE in and its 200 out.
    expect(await metric('parley_sip_messages_total{direction="in",method="BYE"}')).toBe(1)
    expect(await metric('parley_sip_messages_total{direction="out",method="response"}')).toBe(1)
    expect(await metric('parley_pstn_calls_total{direction="outbound",outcome="answered"}')).toBe(1)
  })

  it("the page ends the call after the restart: baresip gets a BYE in the call's dialog, the rtpengine call is deleted", async () => {
    const { page, phone, callId } = await callThenRestart()
    await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await waitFor(
      () => (/session closed|terminated/i.test(phone.log()) ? true : undefined),
      10_000,
      `baresip to see the BYE\n${server!.log()}\n--- baresip:\n${phone.log().slice(-3000)}`,
    )
    expect(await sdkCallState(page, callId)).toBe('Ended')
    expectByeInDialog(phone, 'outbound')
    await waitFor(async () => (await gateway.list()).length === 0, 10_000, 'the rtpengine call deleted')
    expect(await metric('parley_pstn_calls_total{direction="outbound",outcome="answered"}')).toBe(1)
  })

  it("a phone's call to bob, answered, then the restart: bob ends it, baresip gets a BYE in its dialog", async () => {
    server = await serve()
    const far = await phone()
    const page = await userPage('bob')
    await far.command('dial', 'sip:+15550123@127.0.0.1:5060')
    const callId = await answeredIncoming(page, far)
    await restartMidCall(page, far, callId)
    await page.evaluate(`window.sdk.call.end(${JSON.stringify(callId)})`)
    await waitFor(
      () => (/session closed|terminated/i.test(far.log()) ? true : undefined),
      10_000,
      `baresip to see the BYE\n${server!.log()}\n--- baresip:\n${far.log().slice(-3000)}`,
    )
    expectByeInDialog(far, 'inbound')
    await waitFor(async () => (await gateway.list()).length === 0, 10_000, 'the rtpengine call deleted')
    expect(await metric('parley_pstn_calls_total{direction="inbound",outcome="answered"}')).toBe(1)
  })
})
