// The SIP trunk user agent against Debian's baresip as the carrier's far phone (auto-answer, playing a PCMU
// tone made with sox), in the loopback namespace of e2e/run.sh. Media is checked at the RTP level: the phone's
// packets reach the port of Parley's SDP. (Browser audio through rtpengine is the call layer's test.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SipUserAgent, type SipInboundCall, type SipInboundInvite } from '@parley/server'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const PHONE = '127.0.0.2'
const cleanups: (() => Promise<void> | void)[] = []

beforeAll(() => {
  for (const [bin, pkg] of [
    ['baresip', 'baresip'],
    ['sox', 'sox'],
  ] as const)
    if (spawnSync(bin, ['-h']).error) throw new Error(`${bin} is missing: apt-get install -y ${pkg}`)
})

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

interface Phone {
  child: ChildProcess
  log(): string
  exited: Promise<number | null>
}

/** baresip on 127.0.0.2:5060 with the account of `number`, auto-answering; `extra` goes to its command line. */
async function phone(number: string, extra: string[] = []): Promise<Phone> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-baresip-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const tone = join(dir, 'tone.wav')
  // aufile reads 16-bit PCM WAV; 8 kHz mono is what PCMU carries (testing.md "Phone calls").
  const sox = spawnSync('sox', [
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-b',
    '16',
    '-e',
    'signed-integer',
    tone,
    'synth',
    '5',
    'sine',
    '1000',
  ])
  expect(sox.status, sox.stderr?.toString()).toBe(0)
  // baresip does not bind `lo` by name: net_interface takes the address (testing.md).
  writeFileSync(
    join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen ${PHONE}:5060`,
      `net_interface ${PHONE}`,
      `audio_player aufile,${join(dir, 'rec.wav')}`,
      `audio_source aufile,${tone}`,
      `audio_alert aufile,${tone}`,
      'ausrc_srate 8000',
      'auplay_srate 8000',
      'ausrc_channels 1',
      'auplay_channels 1',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module_app account.so',
      'module_app menu.so',
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'accounts'), `<sip:${number}@${PHONE}>;regint=0;answermode=auto\n`)
  const child = spawn('baresip', ['-f', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-20_000))
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  const p: Phone = { child, log: () => output, exited }
  await until(
    () => output.includes('baresip is ready'),
    'baresip ready',
    () => output,
  )
  return p
}

async function until(
  check: () => boolean,
  what: string,
  detail: () => string = () => '',
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${detail()}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A UDP socket on 127.0.0.1 counting the RTP packets (version 2, PCMU payload type 0) that reach it. */
async function rtpSink(): Promise<{ socket: Socket; port: number; packets: () => number }> {
  const socket = createSocket('udp4')
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()))
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())))
  let packets = 0
  socket.on('message', (m) => {
    if (m.length > 12 && m[0]! >> 6 === 2 && (m[1]! & 0x7f) === 0) packets++
  })
  return { socket, port: socket.address().port, packets: () => packets }
}

const sdp = (port: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`

async function parley(): Promise<SipUserAgent> {
  const ua = new SipUserAgent({
    listen: { host: '127.0.0.1', port: 5060 },
    trunk: { host: PHONE, port: 5060, transport: 'udp' },
  })
  await ua.start()
  cleanups.push(() => ua.close())
  return ua
}

describe('SIP trunk against baresip', () => {
  it('Parley calls the phone: it rings, auto-answers, its RTP reaches our SDP, and our BYE ends its call', async () => {
    const far = await phone('+15550100')
    const ua = await parley()
    const rtp = await rtpSink()
    const call = ua.invite({ from: '+15550199', to: '+15550100', sdp: sdp(rtp.port) })
    const events: string[] = []
    call.on('provisional', (p) => events.push(String(p.status)))
    const answered = new Promise<string>((resolve, reject) => {
      call.once('answered', ({ sdp }) => resolve(sdp))
      call.once('failed', (f) => reject(new Error(`call failed: ${f.status} ${f.reason}\n${far.log()}`)))
    })
    const answer = await answered
    expect(events).toContain('180')
    expect(answer).toMatch(/m=audio \d+ RTP\/AVP 0/)
    expect(answer).toContain(`c=IN IP4 ${PHONE}`)
    await until(() => rtp.packets() >= 20, '20 RTP packets from baresip', far.log)
    await call.bye()
    // The phone ended its call: its RTP stops (its log is block-buffered on a pipe, so not asserted on).
    let last = rtp.packets()
    let quietSince = Date.now()
    await until(
      () => {
        if (rtp.packets() !== last) {
          last = rtp.packets()
          quietSince = Date.now()
        }
        return Date.now() - quietSince > 500
      },
      'the RTP of the phone to stop after our BYE (its tone lasts 5 s)',
      far.log,
      3_000,
    )
  })

  it('the phone calls a Parley number: the INVITE carries both numbers, accept → RTP flows → the phone hangs up', async () => {
    const ua = await parley()
    const rtp = await rtpSink()
    const got = new Promise<{ call: SipInboundCall; invite: SipInboundInvite }>((resolve) =>
      ua.onInvite((call, invite) => resolve({ call, invite })),
    )
    // `-t 4`: baresip quits after 4 s, hanging up its call with a BYE.
    const far = await phone('+15550100', ['-e', `/dial sip:+15550123@127.0.0.1:5060`, '-t', '4'])
    const { call, invite } = await got
    expect(invite).toMatchObject({
      from: '+15550100',
      to: '+15550123',
      source: { address: PHONE, transport: 'udp' },
    })
    const ended = new Promise((resolve) => call.once('ended', resolve))
    call.ringing()
    await call.accept(sdp(rtp.port))
    await until(() => rtp.packets() >= 20, '20 RTP packets from baresip', far.log)
    expect(await ended).toEqual({ by: 'remote' })
  })
})
