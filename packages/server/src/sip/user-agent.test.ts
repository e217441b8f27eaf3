import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type {
  SipCallEvents,
  SipDialogCall,
  SipEmitter,
  SipInboundCall,
  SipInboundCallEvents,
  SipDialogState,
  SipInboundInvite,
  SipOutboundCall,
  SipOutboundCallEvents,
} from './types.js'
import { SipUserAgent, type SipUserAgentOptions } from './user-agent.js'

// Two of our own user agents back to back on loopback ports: Parley and a "carrier" playing the trunk.
// The real-peer tests (SIPp, in a private network namespace) are in e2e/sip-trunk.e2e.ts.

const FAST = {
  t1Ms: 50,
  t2Ms: 400,
  inviteTimeoutMs: 3_000,
  transactionTimeoutMs: 3_000,
  reofferAnswerMs: 1_000,
}
const SDP_A =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'
const SDP_B = SDP_A.replace('4000', '5000')

const open: SipUserAgent[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((ua) => ua.close()))
})

async function ua(
  options: Partial<SipUserAgentOptions> & Pick<SipUserAgentOptions, 'trunk'>,
): Promise<SipUserAgent> {
  const agent = new SipUserAgent({ listen: { host: '127.0.0.1', port: 0 }, timers: FAST, ...options })
  await agent.start()
  open.push(agent)
  return agent
}

type EventsOf<T> = T extends SipOutboundCall
  ? SipOutboundCallEvents
  : T extends SipInboundCall
    ? SipInboundCallEvents
    : SipCallEvents

/** Resolves with the next `event`, or fails with a clear message after `ms`. */
function next<T extends SipOutboundCall | SipInboundCall | SipDialogCall, K extends keyof EventsOf<T>>(
  call: T,
  event: K,
  ms = 5_000,
): Promise<EventsOf<T>[K]> {
  const emitter = call as unknown as SipEmitter<EventsOf<T>>
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${String(event)}" event within ${ms} ms`)), ms)
    emitter.once(event, (payload) => {
      clearTimeout(timer)
      resolve(payload)
    })
  })
}

function nextInvite(
  agent: SipUserAgent,
  ms = 5_000,
): Promise<{ call: SipInboundCall; invite: SipInboundInvite }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no INVITE within ${ms} ms`)), ms)
    agent.onInvite((call, invite) => {
      clearTimeout(timer)
      resolve({ call, invite })
    })
  })
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Parley toward a carrier UA; the carrier trusts loopback and sends its own INVITEs to Parley. */
async function pair(transport: 'udp' | 'tcp' = 'udp', extra: Partial<SipUserAgentOptions> = {}) {
  const carrier = await ua({ trunk: { host: '127.0.0.1', port: 9, transport }, trusted: ['127.0.0.0/8'] })
  const parley = await ua({ trunk: { host: '127.0.0.1', port: carrier.address.port, transport }, ...extra })
  const carrierOut = await ua({
    trunk: { host: '127.0.0.1', port: parley.address.port, transport },
    trusted: ['127.0.0.0/8'],
  })
  return { carrier, parley, carrierOut }
}

describe('SipUserAgent against another SIP user agent', () => {
  it('outbound INVITE → 180 → 200 → ACK → BYE from Parley', async () => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far, invite } = await incoming
    expect(invite).toMatchObject({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const ringing = next(call, 'provisional')
    far.ringing()
    expect(await ringing).toMatchObject({ status: 180, sdp: undefined })
    const answered = next(call, 'answered')
    await far.accept(SDP_B) // resolves on the ACK
    expect((await answered).sdp).toBe(SDP_B)
    const state = call.dialogState()!
    expect(state).toMatchObject({
      direction: 'outbound',
      callId: call.callId,
      transport: 'udp',
      localCseq: 1,
    })
    expect(JSON.parse(JSON.stringify(state))).toEqual(state)
    const ended = next(far, 'ended')
    await call.bye()
    expect(await ended).toEqual({ by: 'remote' })
  })

  it('BYE from the far end ends the outbound call', async () => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far } = await incoming
    const answered = next(call, 'answered')
    await far.accept(SDP_B)
    await answered
    const ended = next(call, 'ended')
    await far.bye()
    expect(await ended).toEqual({ by: 'remote' })
  })

  it('183 carries early media; CANCEL while ringing fails the call with 487 and tells the far end', async () => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far } = await incoming
    const early = next(call, 'provisional')
    far.ringing(SDP_B)
    expect(await early).toMatchObject({ status: 183, sdp: SDP_B })
    const cancelled = next(far, 'cancelled')
    const failed = next(call, 'failed')
    call.cancel()
    await cancelled
    expect(await failed).toMatchObject({ status: 487 })
  })

  it.each([486, 603, 404, 480])('a %i answer fails the call with that status', async (status) => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const failed = next(call, 'failed')
    ;(await incoming).call.reject(status)
    expect((await failed).status).toBe(status)
  })

  it('re-INVITE both ways (hold and unhold) returns the answer SDP', async () => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far } = await incoming
    const answered = next(call, 'answered')
    await far.accept(SDP_B)
    await answered
    far.on('reoffer', (offer) => offer.answer(offer.sdp.replace('sendonly', 'recvonly')))
    expect(await call.reinvite(SDP_A + 'a=sendonly\r\n')).toContain('a=recvonly')
    expect(call.dialogState()!.localCseq).toBe(2)
    call.on('reoffer', (offer) => offer.answer(SDP_A))
    expect(await far.reinvite(SDP_B + 'a=inactive\r\n')).toBe(SDP_A)
    expect(far.dialogState()!.remoteCseq).toBe(2)
  })

  it('a re-offer the call layer rejects, or never answers, fails the re-INVITE; the dialog stays up', async () => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far } = await incoming
    const answered = next(call, 'answered')
    await far.accept(SDP_B)
    await answered
    far.once('reoffer', (offer) => offer.reject(488))
    await expect(call.reinvite(SDP_A)).rejects.toMatchObject({ name: 'SipError', status: 488 })
    far.once('reoffer', () => undefined) // never answered: 500 after reofferAnswerMs (RFC 3261 §14.2)
    await expect(call.reinvite(SDP_A)).rejects.toMatchObject({ status: 500 })
    const ended = next(far, 'ended')
    await call.bye()
    await ended
  })

  it('inbound INVITE from the trunk → ringing → accept → BYE from the far end', async () => {
    const { parley, carrierOut } = await pair()
    const incoming = nextInvite(parley)
    const out = carrierOut.invite({ from: '+15550100', to: '+15550123', sdp: SDP_B })
    const { call, invite } = await incoming
    expect(invite).toMatchObject({
      from: '+15550100',
      to: '+15550123',
      sdp: SDP_B,
      source: { address: '127.0.0.1', transport: 'udp' },
    })
    const ringing = next(out, 'provisional')
    call.ringing()
    await ringing
    const answered = next(out, 'answered')
    await call.accept(SDP_A)
    expect((await answered).sdp).toBe(SDP_A)
    expect(call.dialogState()).toMatchObject({ direction: 'inbound', remoteCseq: 1 })
    const ended = next(call, 'ended')
    await out.bye()
    expect(await ended).toEqual({ by: 'remote' })
  })

  it('inbound CANCEL before the answer emits cancelled; reject after it is a no-op', async () => {
    const { parley, carrierOut } = await pair()
    const incoming = nextInvite(parley)
    const out = carrierOut.invite({ from: '+15550100', to: '+15550123', sdp: SDP_B })
    const { call } = await incoming
    call.ringing()
    await next(out, 'provisional')
    const cancelled = next(call, 'cancelled')
    const failed = next(out, 'failed')
    out.cancel()
    await cancelled
    expect((await failed).status).toBe(487)
    call.reject(603)
  })

  it('an INVITE without an onInvite handler is answered 480', async () => {
    const carrier = await ua({ trunk: { host: '127.0.0.1', port: 9, transport: 'udp' } })
    const parley = await ua({ trunk: { host: '127.0.0.1', port: carrier.address.port, transport: 'udp' } })
    const carrierOut = await ua({ trunk: { host: '127.0.0.1', port: parley.address.port, transport: 'udp' } })
    const out = carrierOut.invite({ from: '+1', to: '+2', sdp: SDP_B })
    expect((await next(out, 'failed')).status).toBe(480)
  })

  it('an INVITE from an untrusted address gets 403 and never reaches onInvite', async () => {
    const parley = await ua({ trunk: { host: '127.0.0.1', port: 9, transport: 'udp' } })
    let surfaced = false
    parley.onInvite(() => (surfaced = true))
    const stranger = await ua({
      listen: { host: '127.0.0.2', port: 0 },
      trunk: { host: '127.0.0.1', port: parley.address.port, transport: 'udp' },
    })
    const out = stranger.invite({ from: '+1', to: '+2', sdp: SDP_B })
    expect((await next(out, 'failed')).status).toBe(403)
    expect(surfaced).toBe(false)
    expect(parley.counters().untrusted).toBe(1)
  })

  it('a dialog restored in a new process answers the BYE of the far end; an unknown one gets 481', async () => {
    const { carrier, parley } = await pair()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far } = await incoming
    const answered = next(call, 'answered')
    await far.accept(SDP_B)
    await answered
    const saved = JSON.parse(JSON.stringify(call.dialogState()))
    const port = parley.address.port
    await parley.close()
    const restarted = await ua({
      listen: { host: '127.0.0.1', port },
      trunk: { host: '127.0.0.1', port: carrier.address.port, transport: 'udp' },
    })
    expect(restarted.dialogCount()).toBe(0)
    const restored = restarted.restoreDialog(saved)
    expect(restarted.dialogCount()).toBe(1)
    const ended = next(restored, 'ended')
    await far.bye()
    expect(await ended).toEqual({ by: 'remote' })
    expect(restarted.dialogCount()).toBe(0)
    // The same BYE again (the dialog is gone): 481.
    const { call: far2 } = await (async () => {
      const inc = nextInvite(carrier)
      const c = restarted.invite({ from: '+1', to: '+2', sdp: SDP_A })
      const r = await inc
      const a = next(c, 'answered')
      await r.call.accept(SDP_B)
      await a
      // Forget the dialog on our side without a BYE by restarting without restoring.
      await restarted.close()
      await ua({
        listen: { host: '127.0.0.1', port },
        trunk: { host: '127.0.0.1', port: carrier.address.port, transport: 'udp' },
      })
      return r
    })()
    await far2.bye()
    const last = open[open.length - 1]!
    await until(() => last.counters().unknownDialog === 1, 'a 481 counted')
  })

  it('a dialog found by dialogLookup after a restart answers the BYE, and onRestore sees its end', async () => {
    const { carrier, parley } = await pair()
    const store = new Map<string, SipDialogState>()
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    call.on('dialog', ({ state }) =>
      store.set(`${state.callId} ${state.localTag}`, JSON.parse(JSON.stringify(state))),
    )
    const { call: far } = await incoming
    const answered = next(call, 'answered')
    await far.accept(SDP_B)
    await answered
    expect(store.size).toBe(1)
    const port = parley.address.port
    await parley.close()
    let ended: unknown
    const restarted = await ua({
      listen: { host: '127.0.0.1', port },
      trunk: { host: '127.0.0.1', port: carrier.address.port, transport: 'udp' },
      dialogLookup: async (callId, localTag) => store.get(`${callId} ${localTag}`),
      onRestore: (restored) => restored.on('ended', (e) => (ended = e)),
    })
    await far.bye()
    await until(() => ended !== undefined, 'the restored call to end')
    expect(ended).toEqual({ by: 'remote' })
    expect(restarted.counters().unknownDialog).toBe(0)
  })

  it('a trunk that never answers fails the INVITE with 408 within Timer B', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()))
    try {
      const parley = await ua({
        trunk: { host: '127.0.0.1', port: silent.address().port, transport: 'udp' },
        timers: { ...FAST, inviteTimeoutMs: 800 },
      })
      const started = Date.now()
      const call = parley.invite({ from: '+1', to: '+2', sdp: SDP_A })
      const failed = await next(call, 'failed', 3_000)
      expect(failed.status).toBe(408)
      expect(failed.reason).toMatch(/Timer B/)
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(parley.counters().retransmissions).toBeGreaterThan(0)
    } finally {
      silent.close()
    }
  })

  it('a TCP trunk that refuses connections fails the INVITE with 503 at once', async () => {
    const parley = await ua({ trunk: { host: '127.0.0.1', port: 9, transport: 'tcp' } })
    const call = parley.invite({ from: '+1', to: '+2', sdp: SDP_A })
    const failed = await next(call, 'failed', 3_000)
    expect(failed).toMatchObject({ status: 503 })
    expect(failed.reason).toMatch(/ECONNREFUSED/)
  })

  it('a whole call over TCP, BYE from each side', async () => {
    const { carrier, parley, carrierOut } = await pair('tcp')
    const incoming = nextInvite(carrier)
    const call = parley.invite({ from: '+15550199', to: '+15550100', sdp: SDP_A })
    const { call: far, invite } = await incoming
    expect(invite.source.transport).toBe('tcp')
    const answered = next(call, 'answered')
    await far.accept(SDP_B)
    await answered
    expect(call.dialogState()!.transport).toBe('tcp')
    const ended = next(far, 'ended')
    await call.bye()
    await ended
    const inbound = nextInvite(parley)
    const out = carrierOut.invite({ from: '+15550100', to: '+15550123', sdp: SDP_B })
    const { call: mine } = await inbound
    const ok = next(out, 'answered')
    await mine.accept(SDP_A)
    await ok
    const ended2 = next(mine, 'ended')
    await out.bye()
    await ended2
  })

  it('malformed, binary and huge datagrams are answered or dropped, counted, and the UA keeps working', async () => {
    // A UDP datagram cannot exceed 64 KiB, the default limit; a smaller limit shows the oversized path.
    const { carrier, parley } = await pair('udp', { maxMessageBytes: 16_384 })
    const raw = createSocket('udp4')
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()))
    const replies: string[] = []
    raw.on('message', (m) => replies.push(m.toString()))
    const send = (data: Buffer | string) =>
      new Promise<void>((r) =>
        raw.send(typeof data === 'string' ? Buffer.from(data) : data, parley.address.port, '127.0.0.1', () =>
          r(),
        ),
      )
    try {
      await send('garbage')
      await send(Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]))
      await send(Buffer.alloc(20_000, 0x41))
      await send(
        'INVITE sip:+1@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: x\r\nCSeq: abc INVITE\r\n\r\n',
      )
      await send(
        'BYE sip:+1@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=nope\r\nCall-ID: y\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n',
      )
      await until(() => parley.counters().unknownDialog === 1 && parley.counters().malformed >= 2, 'counters')
      const c = parley.counters()
      expect(c).toMatchObject({ binary: 1, oversized: 1, unknownDialog: 1 })
      await until(() => replies.some((r) => r.startsWith('SIP/2.0 481')), 'a 481 reply')
      // The INVITE with a bad CSeq cannot be answered in a transaction; garbage is dropped silently.
      expect(replies.some((r) => r.startsWith('SIP/2.0 400'))).toBe(true)
      // Still working:
      const incoming = nextInvite(carrier)
      const call = parley.invite({ from: '+1', to: '+2', sdp: SDP_A })
      ;(await incoming).call.reject(486)
      expect((await next(call, 'failed')).status).toBe(486)
    } finally {
      raw.close()
    }
  })

  it('a TCP stream sending more than 64 KiB without a message end is closed and counted', async () => {
    const parley = await ua({ trunk: { host: '127.0.0.1', port: 9, transport: 'tcp' } })
    const socket = connect(parley.address.port, '127.0.0.1')
    const closed = new Promise<void>((r) => socket.on('close', () => r()))
    socket.on('error', () => undefined)
    socket.write('INVITE sip:+1@h SIP/2.0\r\nX-Junk: ' + 'A'.repeat(70_000))
    await closed
    expect(parley.counters().oversized).toBe(1)
  })

  it('an INVITE flood from one address is rate limited with 503, then dropped', async () => {
    const parley = await ua({
      trunk: { host: '127.0.0.1', port: 9, transport: 'udp' },
      rateLimit: { requests: 1, trustedRequests: 5, windowMs: 60_000 },
    })
    parley.onInvite((call) => call.reject(486))
    const raw = createSocket('udp4')
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()))
    const statuses: number[] = []
    raw.on('message', (m) => {
      const s = /^SIP\/2\.0 (\d+)/.exec(m.toString())
      if (s && s[1] !== '100') statuses.push(Number(s[1]))
    })
    try {
      for (let i = 0; i < 20; i++) {
        const msg = `INVITE sip:+1@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${raw.address().port};branch=z9hG4bKf${i}\r\nFrom: <sip:a@h>;tag=${i}\r\nTo: <sip:b@h>\r\nCall-ID: flood${i}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP_A.length}\r\n\r\n${SDP_A}`
        await new Promise<void>((r) =>
          raw.send(Buffer.from(msg), parley.address.port, '127.0.0.1', () => r()),
        )
      }
      await until(() => statuses.length >= 10 && parley.counters().rateLimited === 15, 'the flood answered')
      expect(statuses.filter((s) => s === 486)).toHaveLength(5)
      expect(statuses.filter((s) => s === 503)).toHaveLength(5)
    } finally {
      raw.close()
    }
  })

  it('an untrusted address has a smaller budget than the trunk: 403, then 503, then silence', async () => {
    const parley = await ua({
      trunk: { host: '127.0.0.1', port: 9, transport: 'udp' },
      rateLimit: { requests: 2, trustedRequests: 100, windowMs: 60_000 },
    })
    const raw = createSocket('udp4')
    await new Promise<void>((r) => raw.bind(0, '127.0.0.2', () => r()))
    const statuses: number[] = []
    raw.on('message', (m) => statuses.push(Number(/^SIP\/2\.0 (\d+)/.exec(m.toString())?.[1])))
    try {
      for (let i = 0; i < 6; i++) {
        const msg = `OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:${raw.address().port};branch=z9hG4bKo${i}\r\nFrom: <sip:a@h>;tag=${i}\r\nTo: <sip:b@h>\r\nCall-ID: o${i}\r\nCSeq: 1 OPTIONS\r\n\r\n`
        await new Promise<void>((r) =>
          raw.send(Buffer.from(msg), parley.address.port, '127.0.0.1', () => r()),
        )
      }
      await until(() => parley.counters().rateLimited === 4 && statuses.length === 4, 'the budget spent')
      expect(statuses).toEqual([403, 403, 503, 503])
    } finally {
      raw.close()
    }
  })

  it('restoreDialog refuses what is not a dialog state', async () => {
    const parley = await ua({ trunk: { host: '127.0.0.1', port: 9, transport: 'udp' } })
    expect(() => parley.restoreDialog({} as never)).toThrow(TypeError)
  })
})
