import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { GatewayCall, RtpengineClient, type RtpengineSupervisor } from '@parley/server'
import { waitFor } from '@parley/test-kit'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './harness.js'
import { RtpEndpoint, startRtpengine, trunkSdp } from './rtpengine.js'

/**
 * The flag sets of flag-sets.ts proven with Chromium (issue 11): a real RTCPeerConnection negotiates through a real
 * rtpengine with a plain RTP endpoint on the other side (the carrier's phone, here a UDP socket sending a PCMU
 * tone). Audio must flow both ways: the page's inbound audio shows energy, and the endpoint receives the fake
 * microphone's beeps as PCMU.
 */

/** Page-side helpers: one peer connection playing what it receives, with the fake microphone on it. */
const PAGE_SETUP = `
window.setupPc = async () => {
  const pc = new RTCPeerConnection()
  window.pc = pc
  pc.ontrack = (e) => {
    const audio = new Audio()
    audio.srcObject = new MediaStream([e.track])
    document.body.append(audio)
    void audio.play()
  }
  window.mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0]
  return pc
}
window.gathered = () => new Promise((resolve) => {
  const pc = window.pc
  if (pc.iceGatheringState === 'complete') return resolve(pc.localDescription.sdp)
  pc.addEventListener('icegatheringstatechange', () => {
    if (pc.iceGatheringState === 'complete') resolve(pc.localDescription.sdp)
  })
})
window.audioIn = async () => {
  let energy = 0, bytes = 0
  ;(await window.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') { energy += s.totalAudioEnergy ?? 0; bytes += s.bytesReceived ?? 0 }
  })
  return { energy, bytes, ice: window.pc.iceConnectionState, state: window.pc.connectionState }
}
`

describe('Chromium ↔ rtpengine ↔ plain RTP (the WebRTC/RTP flag sets)', () => {
  let browser: Browser
  let http: Server
  let url: string
  let supervisor: RtpengineSupervisor
  let rtp: RtpengineClient
  let page: Page | undefined
  let trunk: RtpEndpoint | undefined

  beforeAll(async () => {
    const started = await startRtpengine()
    supervisor = started.supervisor
    rtp = new RtpengineClient({ host: '127.0.0.1', port: started.port })
    // getUserMedia needs a secure context: a page from http://127.0.0.1.
    http = createServer((_req, res) => res.end('<!doctype html><title>gateway</title><body></body>'))
    http.listen(0, '127.0.0.1')
    await once(http, 'listening')
    const address = http.address()
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`
    browser = await launchChromium()
  })
  afterEach(async () => {
    await page?.evaluate('window.pc && window.pc.close()')
    await page?.close()
    page = undefined
    trunk?.close()
    trunk = undefined
  })
  afterAll(async () => {
    await browser?.close()
    http?.close()
    await rtp?.close()
    await supervisor?.stop()
  })

  async function openPage(): Promise<Page> {
    page = await (await browser.newContext()).newPage()
    await page.goto(url)
    await page.evaluate(PAGE_SETUP)
    return page
  }

  /** Both directions carry sound: the page hears the tone, the endpoint hears the fake microphone. */
  async function expectAudioBothWays(p: Page, endpoint: RtpEndpoint): Promise<void> {
    await waitFor(
      async () => (await p.evaluate<{ energy: number }>('window.audioIn()')).energy > 0.001,
      15_000,
      'inbound audio energy in the page (the trunk tone through rtpengine)',
    )
    await waitFor(
      async () => endpoint.loud >= 3,
      15_000,
      'loud PCMU packets at the plain RTP endpoint (the fake microphone through rtpengine)',
    )
    expect(await p.evaluate('window.audioIn()')).toMatchObject({
      ice: expect.stringMatching(/connected|completed/),
      state: 'connected',
    })
  }

  it('outbound: the page offers, the trunk answers PCMU, audio flows both ways', async () => {
    const p = await openPage()
    trunk = await RtpEndpoint.open()
    const call = new GatewayCall(rtp, `chromium-out-${Date.now()}`, 'browser', 'trunk')
    const offer = await p.evaluate<string>(`(async () => {
      const pc = await window.setupPc()
      pc.addTrack(window.mic, new MediaStream([window.mic]))
      await pc.setLocalDescription(await pc.createOffer())
      return window.gathered()
    })()`)
    const toTrunk = await call.offerToTrunk(offer)
    const rtpengineTrunkPort = Number(/^m=audio (\d+) RTP\/AVP/m.exec(toTrunk)![1])
    // The carrier answers with the payload types it was offered (RFC 3264 §6.1).
    const answer = await call.answerFromTrunk(trunkSdp(trunk.port, 126))
    await p.evaluate(`window.pc.setRemoteDescription({ type: 'answer', sdp: ${JSON.stringify(answer)} })`)
    trunk.sendTo(rtpengineTrunkPort)
    await expectAudioBothWays(p, trunk)

    // Hold toward the trunk: rtpengine stops forwarding the browser's media ('block media'), then resumes.
    await rtp.blockMedia(call.callId, call.browserTag, true)
    await new Promise((r) => setTimeout(r, 300)) // packets already in flight
    const blockedAt = trunk.received
    await new Promise((r) => setTimeout(r, 1000))
    expect(trunk.received - blockedAt, 'PCMU packets forwarded while blocked').toBeLessThanOrEqual(2)
    await rtp.blockMedia(call.callId, call.browserTag, false)
    const resumedAt = trunk.received
    await waitFor(
      async () => trunk!.received > resumedAt + 10,
      10_000,
      'media toward the trunk after unblock',
    )
    expect(await call.end()).toBe(true)
  })

  it('inbound: the trunk offers PCMU, the page answers, audio flows both ways', async () => {
    const p = await openPage()
    trunk = await RtpEndpoint.open()
    const call = new GatewayCall(rtp, `chromium-in-${Date.now()}`, 'browser', 'trunk')
    const toBrowser = await call.offerToBrowser(trunkSdp(trunk.port))
    const answer = await p.evaluate<string>(`(async () => {
      const pc = await window.setupPc()
      await pc.setRemoteDescription({ type: 'offer', sdp: ${JSON.stringify(toBrowser)} })
      const [transceiver] = pc.getTransceivers()
      await transceiver.sender.replaceTrack(window.mic)
      transceiver.direction = 'sendrecv'
      await pc.setLocalDescription(await pc.createAnswer())
      return window.gathered()
    })()`)
    expect(answer).toMatch(/^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0 8 101/m)
    const toTrunk = await call.answerFromBrowser(answer)
    trunk.sendTo(Number(/^m=audio (\d+) RTP\/AVP/m.exec(toTrunk)![1]))
    await expectAudioBothWays(p, trunk)
    expect(await call.end()).toBe(true)
  })
})
