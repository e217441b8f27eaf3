import { startTestPlatform, syntheticSdp, type TestPlatform } from '@parley/test-kit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

let p: TestPlatform
beforeEach(async () => {
  p = await startTestPlatform()
})
afterEach(async () => {
  await p.close()
})

describe('call signalling between two users (protocol §11.4–§11.7)', () => {
  it('call → ringing → answer → hold re-offer/answer → end reaches both sides in order', async () => {
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const offer = syntheticSdp('alice offer')
    const { reply, legId: la } = await alice.call('sip:bob@example.com', offer)
    expect(reply.status).toBe(201)
    expect(reply.body.wrtcsSession.resourceURL).toMatch(
      new RegExp(`/cpaas/webrtcsignaling/v1/alice/sessions/${la}$`),
    )
    expect(reply.body.wrtcsSession.tParticipantAddress).toBe('sip:bob@example.com')

    const inv = await bob.invitation()
    const lb = inv.legId
    expect(lb).not.toBe(la)
    expect(inv.body.offer).toEqual({ sdp: offer }) // §10.1 byte for byte
    expect(inv.body.originatorAddress).toBe('sip:alice@example.com')
    expect(inv.body.originatorName).toBe('alice')
    expect(inv.body.tParticipantAddress).toBe('sip:bob@example.com')
    expect(inv.body.link).toEqual([
      { href: `/cpaas/webrtcsignaling/v1/bob/sessions/${lb}`, rel: 'WebrtcSession' },
    ])

    const audit = await alice.status(la, 'Connected')
    expect(audit.status).toBe(200)
    expect(audit.body.wrtcsSessionStatus.status).toBe('Initiated')

    const ringing = await bob.status(lb, 'Ringing')
    expect(ringing.status).toBe(200)
    expect(ringing.body.wrtcsSessionStatus.status).toBe('Ringing')
    const ringEvent = await alice.event('Ringing', la)
    expect(ringEvent.body.statusCode).toBe(180)

    const answerSdp = syntheticSdp('bob answer')
    expect((await bob.answer(lb, answerSdp)).status).toBe(204)
    const acceptance = await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    expect(acceptance.legId).toBe(la)
    expect(acceptance.body.answer).toEqual({ sdp: answerSdp })
    expect(bob.received.some((r) => r.kind === 'wrtcsAcceptanceNotification')).toBe(false) // §9.2 MUST NOT

    expect((await alice.status(la, 'Connected')).body.wrtcsSessionStatus.status).toBe('Connected')

    // Hold: A re-offers with every m-line inactive; B answers; A gets the answer notification.
    const holdSdp = syntheticSdp('alice hold', 'inactive')
    expect((await alice.update(la, holdSdp)).status).toBe(204)
    const offerToBob = await bob.next((r) => r.kind === 'wrtcsOfferNotification', 'hold offer')
    expect(offerToBob.legId).toBe(lb)
    expect(offerToBob.body.offer).toEqual({ sdp: holdSdp })
    const holdAnswer = syntheticSdp('bob hold answer', 'inactive')
    expect((await bob.answer(lb, holdAnswer)).status).toBe(204)
    const answerToAlice = await alice.next((r) => r.kind === 'wrtcsAnswerNotification', 'hold answer')
    expect(answerToAlice.legId).toBe(la)
    expect(answerToAlice.body.answer).toEqual({ sdp: holdAnswer })
    expect((await alice.status(la, 'Connected')).body.wrtcsSessionStatus.status).toBe('Connected') // held = Connected

    expect((await alice.end(la)).status).toBe(204)
    const ended = await bob.event('SessionEnded', lb)
    expect(ended.body).toMatchObject({ statusCode: 200, reasonText: 'Ended by remote party' })
    // Afterwards: status 404 on both legs (§11.6), DELETE 204.
    expect((await bob.status(lb, 'Connected')).status).toBe(404)
    expect((await alice.status(la, 'Connected')).status).toBe(404)
    expect((await bob.end(lb)).status).toBe(204)

    const ids = [...alice.received, ...bob.received].map((r) => r.body.id)
    expect(new Set(ids).size).toBe(ids.length) // §9.0: a fresh id per notification
  })
})

/** Sets up alice calling bob, bob ringing; returns both clients and legs. */
async function ringingCall() {
  const alice = await p.subscribed('alice')
  const bob = await p.subscribed('bob')
  const { legId: la } = await alice.call('sip:bob@example.com')
  const { legId: lb } = await bob.invitation()
  expect((await bob.status(lb, 'Ringing')).status).toBe(200)
  await alice.event('Ringing', la)
  return { alice, bob, la, lb }
}

async function connectedCall() {
  const c = await ringingCall()
  expect((await c.bob.answer(c.lb)).status).toBe(204)
  await c.alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
  expect((await c.alice.status(c.la, 'Connected')).status).toBe(200) // releases the early re-offer guard
  return c
}

describe('ending calls (protocol §8.5, §11.5–§11.8)', () => {
  it('reject: an unanswered callee DELETE ends the caller with SessionEnded 603 Declined', async () => {
    const { alice, bob, la, lb } = await ringingCall()
    expect((await bob.end(lb)).status).toBe(204)
    const ended = await alice.event('SessionEnded', la)
    expect(ended.body).toMatchObject({ statusCode: 603, reasonText: 'Declined' })
    expect(
      bob.received.some((r) => r.body.eventType === 'Cancelled' || r.body.eventType === 'SessionEnded'),
    ).toBe(false)
    expect((await alice.status(la, 'Connected')).status).toBe(404)
    expect(alice.wellFormedProblems()).toEqual([])
  })

  it('caller cancels while ringing: the callee gets Cancelled 487, then again with a new id (§11.7)', async () => {
    const { alice, bob, la, lb } = await ringingCall()
    expect((await alice.end(la)).status).toBe(204)
    const first = await bob.event('Cancelled', lb)
    expect(first.body).toMatchObject({ statusCode: 487, reasonText: 'Request Terminated' })
    const repeat = await bob.next(
      (r) => r.body.eventType === 'Cancelled' && r.body.id !== first.body.id,
      'the repeated Cancelled',
    )
    expect(repeat.legId).toBe(lb)
    expect(bob.received.some((r) => r.body.eventType === 'SessionEnded')).toBe(false) // §15 item 60
    expect(
      alice.received.some((r) => r.body.eventType === 'SessionEnded' || r.body.eventType === 'Cancelled'),
    ).toBe(false)
    expect(bob.wellFormedProblems()).toEqual([])
  })

  it('callee ends an answered call: the caller gets SessionEnded 200', async () => {
    const { alice, bob, la, lb } = await connectedCall()
    expect((await bob.end(lb)).status).toBe(204)
    const ended = await alice.event('SessionEnded', la)
    expect(ended.body).toMatchObject({ statusCode: 200, reasonText: 'Ended by remote party' })
    expect(bob.received.filter((r) => r.body.eventType === 'Cancelled')).toEqual([]) // §9.5: never to an answered leg
  })

  it('status on a gone leg is 404 and re-pushes the terminal event with a new id (§8.2)', async () => {
    const { alice, bob, la, lb } = await ringingCall()
    expect((await alice.end(la)).status).toBe(204)
    const cancelled = await bob.event('Cancelled', lb)
    await bob.next(
      (r) => r.body.eventType === 'Cancelled' && r.body.id !== cancelled.body.id,
      'the Cancelled repeat',
    )
    const before = bob.received.length
    const audit = await bob.status(lb, 'Connected')
    expect(audit.status).toBe(404)
    expect(audit.headers.get('content-type')).toMatch(/^application\/json/)
    expect(audit.body).toEqual({
      requestError: { serviceException: { messageId: 'SVC0004', text: 'Session ended', variables: [] } },
    })
    const repush = await bob.next(
      (r) => r.body.eventType === 'Cancelled',
      're-pushed Cancelled',
      5000,
      before,
    )
    expect(repush.legId).toBe(lb)
    expect(bob.wellFormedProblems()).toEqual([])
    // Unknown legs are 404 too, and nothing is pushed for them.
    expect((await bob.status('leg-0123456789abcdef01234567', 'Connected')).status).toBe(404)
  })

  it('no answer: the no-answer timer ends the caller (408) and cancels the callee (408) (§11.8)', async () => {
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const { legId: la } = await alice.call('bob@example.com')
    const { legId: lb } = await bob.invitation()
    const ended = await alice.event('SessionEnded', la, 8000)
    expect(ended.body).toMatchObject({ statusCode: 408, reasonText: 'No Answer' })
    const cancelled = await bob.event('Cancelled', lb)
    expect(cancelled.body).toMatchObject({ statusCode: 408, reasonText: 'No Answer' })
  })

  it('a silent armed leg ends the call with SessionEnded to both legs; unarmed legs are left alone (§11.13)', async () => {
    p.server.ctx.config.timings.noAnswerMs = 60_000 // only the liveness rule may end anything here
    p.server.ctx.config.timings.livenessMs = 2_000
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const carol = await p.subscribed('carol')
    // Call 1 (4.35 style): nobody sends a status request before the answer, so no clock is armed.
    const { legId: quietCaller } = await carol.call('sip:bob@example.com')
    const quietInvite = await bob.invitation()
    // Call 2: answered, then alice keeps auditing and bob goes silent.
    const { legId: la } = await alice.call('sip:bob@example.com')
    const inv = await bob.next(
      (r) => r.kind === 'wrtcsSessionInvitationNotification' && r.legId !== quietInvite.legId,
      'second invitation',
    )
    expect((await bob.answer(inv.legId!)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    let aliceEnded = false
    const auditing = (async () => {
      while (!aliceEnded) {
        await alice.status(la, 'Connected')
        await new Promise((r) => setTimeout(r, 200))
      }
    })()
    const toBob = await bob.event('SessionEnded', inv.legId, 10_000)
    expect(toBob.body.reasonText).toBe('Peer connection lost')
    const toAlice = await alice.event('SessionEnded', la, 5000)
    aliceEnded = true
    await auditing
    expect(toAlice.body.statusCode).toBe(200)
    // The unarmed call is still ringing: its legs are active although silent far longer than the timeout.
    const caller = await p.server.ctx.store.getLeg(quietCaller)
    const callee = await p.server.ctx.store.getLeg(quietInvite.legId)
    expect(caller?.state).toBe('active')
    expect(callee?.state).toBe('active')
  })
})

describe('re-offers (protocol §8.4, §11.11, §11.12)', () => {
  it('an update before the answer is refused with 409 SVC0003 and never relayed', async () => {
    const { alice, bob, la } = await ringingCall()
    const res = await alice.update(la)
    expect(res.status).toBe(409)
    expect(res.body).toEqual({
      requestError: {
        serviceException: { messageId: 'SVC0003', text: 'Call not established', variables: [] },
      },
    })
    expect(bob.received.some((r) => r.kind === 'wrtcsOfferNotification')).toBe(false)
  })

  it('glare: a second update while an offer is pending gets 409; the first negotiation completes', async () => {
    const { alice, bob, la, lb } = await connectedCall()
    expect((await alice.update(la)).status).toBe(204)
    const second = await bob.update(lb)
    expect(second.status).toBe(409)
    expect(
      (second.body as { requestError: { serviceException: { text: string } } }).requestError.serviceException
        .text,
    ).toBe('Offer already pending')
    await bob.next((r) => r.kind === 'wrtcsOfferNotification', 'alice re-offer')
    expect((await bob.answer(lb)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAnswerNotification', 'answer to the re-offer')
    // After it, either side may re-offer again at any time (§8.4 MUST).
    expect((await bob.update(lb)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsOfferNotification', 'bob re-offer')
    expect((await alice.answer(la)).status).toBe(204)
    await bob.next((r) => r.kind === 'wrtcsAnswerNotification', 'answer to bob')
  })

  it('a Connected audit from a ringing callee is not an answer (§8.2 MUST): the call keeps ringing', async () => {
    const { alice, bob, la, lb } = await ringingCall()
    const audit = await bob.status(lb, 'Connected') // what a 5.2 callee sends while still ringing
    expect(audit.body).toEqual({ wrtcsSessionStatus: { status: 'Ringing' } })
    expect((await alice.status(la, 'Connected')).body).toEqual({ wrtcsSessionStatus: { status: 'Ringing' } })
    expect(alice.received.some((r) => r.kind === 'wrtcsAcceptanceNotification')).toBe(false)
    expect((await bob.answer(lb)).status).toBe(204) // the real answer still works afterwards
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
  })

  it('an answer with nothing pending gets 409 No offer pending', async () => {
    const { alice, la } = await connectedCall()
    const res = await alice.answer(la)
    expect(res.status).toBe(409)
    expect(res.text).toContain('No offer pending')
  })

  it('early re-offer guard: an offer to the caller waits for its first status request after the acceptance', async () => {
    p.server.ctx.config.timings.guardMs = 60_000 // only the status request can release it in this test
    const { alice, bob, la, lb } = await ringingCall()
    expect((await bob.answer(lb)).status).toBe(204)
    expect((await bob.update(lb)).status).toBe(204) // a quick re-offer right after answering
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    // A later notification (bob hangs up? no: an offer) must not overtake; nothing else arrives meanwhile.
    await new Promise((r) => setTimeout(r, 300))
    expect(alice.received.some((r) => r.kind === 'wrtcsOfferNotification')).toBe(false)
    expect((await alice.status(la, 'Connected')).status).toBe(200)
    const offer = await alice.next((r) => r.kind === 'wrtcsOfferNotification', 'the held offer')
    expect(offer.legId).toBe(la)
    const kinds = alice.received.map((r) => r.kind)
    expect(kinds.indexOf('wrtcsAcceptanceNotification')).toBeLessThan(kinds.indexOf('wrtcsOfferNotification'))
  })

  it('early re-offer guard: without a status request the offer goes after the guard time', async () => {
    const { alice, bob, lb } = await ringingCall()
    expect((await bob.answer(lb)).status).toBe(204)
    expect((await bob.update(lb)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    const offer = await alice.next(
      (r) => r.kind === 'wrtcsOfferNotification',
      'the held offer after the guard',
      5000,
    )
    const acc = alice.received.find((r) => r.kind === 'wrtcsAcceptanceNotification')!
    expect(alice.received.indexOf(acc)).toBeLessThan(alice.received.indexOf(offer))
  })
})

describe('devices, forward and transfer (protocol §11.10, §11.15–§11.17)', () => {
  it('two callee devices: each gets its own leg; the first answer wins and the other gets Cancelled Answered Elsewhere', async () => {
    const alice = await p.subscribed('alice')
    const bob1 = await p.subscribed('bob')
    const bob2 = await p.subscribed('bob')
    const { legId: la } = await alice.call('sip:bob@example.com')
    const i1 = await bob1.invitation()
    const i2 = await bob2.invitation()
    expect(i1.legId).not.toBe(i2.legId)
    expect(bob1.received.filter((r) => r.kind === 'wrtcsSessionInvitationNotification')).toHaveLength(1)
    expect((await bob2.status(i2.legId, 'Ringing')).status).toBe(200)
    expect((await bob1.status(i1.legId, 'Ringing')).status).toBe(200)
    await alice.event('Ringing', la)
    expect((await bob1.answer(i1.legId)).status).toBe(204)
    const cancelled = await bob2.event('Cancelled', i2.legId)
    expect(cancelled.body).toMatchObject({ statusCode: 200, reasonText: 'Answered Elsewhere' })
    expect((await bob2.answer(i2.legId)).status).toBe(404) // a racing answer loses
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    expect(alice.received.filter((r) => r.body.eventType === 'Ringing')).toHaveLength(1) // once per call
    expect((await alice.end(la)).status).toBe(204)
    await bob1.event('SessionEnded', i1.legId)
    expect(bob1.received.some((r) => r.body.eventType === 'Cancelled')).toBe(false)
  })

  it('a user calling their own identity gets a different leg id for the invitation', async () => {
    const alice = await p.subscribed('alice')
    const { legId: la } = await alice.call('sip:alice@example.com')
    const inv = await alice.invitation()
    expect(inv.legId).not.toBe(la)
    expect((await alice.answer(inv.legId)).status).toBe(204)
    const acc = await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance')
    expect(acc.legId).toBe(la)
  })

  it('forward: the callee forwards to carol, who rings with the caller original offer; her answer connects the caller', async () => {
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const carol = await p.subscribed('carol')
    const offer = syntheticSdp('original')
    const { legId: la } = await alice.call('sip:bob@example.com', offer)
    const { legId: lb } = await bob.invitation()
    expect((await bob.status(lb, 'Ringing')).status).toBe(200)
    await alice.event('Ringing', la)
    expect((await bob.forward(lb, 'sip:carol@example.com')).status).toBe(204)
    const inv = await carol.invitation()
    expect(inv.body).toMatchObject({
      offer: { sdp: offer },
      originatorAddress: 'sip:alice@example.com',
      tParticipantAddress: 'sip:carol@example.com',
    })
    expect((await carol.status(inv.legId, 'Ringing')).status).toBe(200)
    const answer = syntheticSdp('carol answer')
    expect((await carol.answer(inv.legId, answer)).status).toBe(204)
    const acc = await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification', 'acceptance from carol')
    expect(acc.body.answer).toEqual({ sdp: answer })
    expect((await bob.status(lb, 'Connected')).status).toBe(404)
    expect(bob.received.filter((r) => r.kind === 'wrtcsEventNotification')).toEqual([]) // forwarder is told nothing
  })

  it('forward to an unknown address is 404 SVC0002 [address] and the call keeps ringing', async () => {
    const { bob, lb } = await ringingCall()
    const res = await bob.forward(lb, 'sip:nobody@example.com')
    expect(res.status).toBe(404)
    expect(res.body).toEqual({
      requestError: {
        serviceException: {
          messageId: 'SVC0002',
          text: 'Invalid input value for message part %1',
          variables: ['address'],
        },
      },
    })
    expect((await bob.status(lb, 'Ringing')).body).toEqual({ wrtcsSessionStatus: { status: 'Ringing' } })
  })

  it('direct transfer: bob makes a fresh offer for carol; carol answers; bob gets her answer and alice is ended', async () => {
    const { alice, bob, la, lb } = await connectedCall()
    const carol = await p.subscribed('carol')
    expect((await alice.transfer(la, 'sip:carol@example.com')).status).toBe(204)
    const slowStart = await bob.next((r) => r.kind === 'wrtcsOfferNotification', 'slow-start offer')
    expect(slowStart.body.offer).toEqual({})
    const bobOffer = syntheticSdp('bob fresh offer')
    expect((await bob.answer(lb, bobOffer)).status).toBe(204)
    const inv = await carol.invitation()
    expect(inv.body).toMatchObject({ offer: { sdp: bobOffer }, originatorAddress: 'sip:bob@example.com' })
    expect((await carol.status(inv.legId, 'Ringing')).status).toBe(200)
    const carolAnswer = syntheticSdp('carol answer')
    expect((await carol.answer(inv.legId, carolAnswer)).status).toBe(204)
    const ans = await bob.next(
      (r) => r.kind === 'wrtcsAnswerNotification',
      'carol answer as the answer to bob',
    )
    expect(ans.body.answer).toEqual({ sdp: carolAnswer })
    expect(ans.legId).toBe(lb)
    await alice.event('SessionEnded', la)
    expect(bob.received.some((r) => r.body.eventType === 'Ringing')).toBe(false)
    // bob and carol are now one call: a hold from carol reaches bob, and an end reaches carol.
    expect((await carol.update(inv.legId)).status).toBe(204)
    await bob.next(
      (r) =>
        r.kind === 'wrtcsOfferNotification' &&
        r.body.offer !== undefined &&
        'sdp' in (r.body.offer as object),
      'carol re-offer',
    )
    expect((await bob.answer(lb)).status).toBe(204)
    await carol.next((r) => r.kind === 'wrtcsAnswerNotification', 'bob answer')
    expect((await bob.end(lb)).status).toBe(204)
    await carol.event('SessionEnded', inv.legId)
  })

  it('consultative transfer: bob and carol are joined and both of alice calls end', async () => {
    const alice = await p.subscribed('alice')
    const bob = await p.subscribed('bob')
    const carol = await p.subscribed('carol')
    const { legId: la1 } = await alice.call('sip:bob@example.com')
    const { legId: lb } = await bob.invitation()
    expect((await bob.answer(lb)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === la1, 'acceptance 1')
    await alice.status(la1, 'Connected')
    const { legId: la2 } = await alice.call('sip:carol@example.com')
    const { legId: lc } = await carol.invitation()
    expect((await carol.answer(lc)).status).toBe(204)
    await alice.next((r) => r.kind === 'wrtcsAcceptanceNotification' && r.legId === la2, 'acceptance 2')
    await alice.status(la2, 'Connected')
    expect((await alice.transfer(la1, 'sip:carol@example.com', la2)).status).toBe(204)
    await bob.next((r) => r.kind === 'wrtcsOfferNotification', 'slow-start offer')
    const bobOffer = syntheticSdp('bob fresh offer')
    expect((await bob.answer(lb, bobOffer)).status).toBe(204)
    const toCarol = await carol.next((r) => r.kind === 'wrtcsOfferNotification', 'bob offer as a re-offer')
    expect(toCarol.legId).toBe(lc)
    expect(toCarol.body.offer).toEqual({ sdp: bobOffer })
    expect((await carol.answer(lc)).status).toBe(204)
    await bob.next((r) => r.kind === 'wrtcsAnswerNotification', 'carol answer')
    await alice.event('SessionEnded', la1)
    await alice.event('SessionEnded', la2)
    expect((await carol.end(lc)).status).toBe(204)
    await bob.event('SessionEnded', lb)
  })

  it('a consultative transfer naming another user leg is 404 SVC0002 [sessionId]', async () => {
    const { alice, bob, la, lb } = await connectedCall()
    const res = await alice.transfer(la, 'sip:bob@example.com', lb)
    expect(res.status).toBe(404)
    expect(res.text).toContain('sessionId')
    expect((await bob.status(lb, 'Connected')).status).toBe(200)
  })
})
