import { waitFor } from '@parley/test-kit'
import type { Page } from 'playwright-core'
import type { FarPhone } from './baresip.js'
import { inboundStreams } from './harness.js'
import { sdkCallState } from './sdk-page.js'

/** Page helpers of the PSTN tests: the page's `window.sdk` dials a number (baresip answers) and plays what it gets. */

export const audioEnergy = async (page: Page) =>
  (await inboundStreams(page)).filter((s) => s.kind === 'audio').reduce((n, s) => n + s.totalAudioEnergy, 0)

export const pcState = (page: Page) =>
  page.evaluate(
    `(() => { const pc = window.__parleyTest.pcs.at(-1); return pc && { ice: pc.iceConnectionState, conn: pc.connectionState, remote: pc.remoteDescription && pc.remoteDescription.sdp, local: pc.localDescription && pc.localDescription.sdp } })()`,
  )

export async function dial(page: Page, phone: FarPhone): Promise<string> {
  const callId = (await page.evaluate(
    `window.sdk.call.make('+15550100', { audio: true, video: false })`,
  )) as string
  await waitFor(
    async () => ((await sdkCallState(page, callId)) === 'Connected' ? true : undefined),
    15_000,
    `the page's call to +15550100 Connected\n--- baresip:\n${phone.log().slice(-3000)}`,
  )
  await playRemoteAudio(page)
  return callId
}

/** Waits until the page has answered the phone's call (`window.incoming`, Connected), plays it; its call id. */
export async function answeredIncoming(page: Page, phone: FarPhone): Promise<string> {
  const callId = await waitFor(
    async () => {
      const id = (await page.evaluate('window.incoming')) as string | undefined
      return id && (await sdkCallState(page, id)) === 'Connected' ? id : undefined
    },
    15_000,
    `the page Connected to the phone's call\n--- baresip:\n${phone.log().slice(-3000)}`,
  )
  await playRemoteAudio(page)
  return callId
}

/** Plays what the call receives (Chromium computes totalAudioEnergy on the playout path). */
export async function playRemoteAudio(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const pc = window.__parleyTest.pcs.filter((p) => p.signalingState !== 'closed').at(-1)
    const audio = new Audio()
    audio.srcObject = new MediaStream(pc.getReceivers().map((r) => r.track).filter((t) => t.kind === 'audio'))
    document.body.append(audio)
    void audio.play()
  })()`)
}

/** Waits until the page's inbound audio energy grows (baresip's tone through rtpengine); fails with the details. */
export async function expectInboundAudio(page: Page, phone: FarPhone, what = 'in the page'): Promise<void> {
  const start = await audioEnergy(page)
  await waitFor(
    async () => ((await audioEnergy(page)) > start + 0.05 ? true : undefined),
    15_000,
    `inbound audio energy ${what} (baresip's tone)`,
  ).catch(async (err: Error) => {
    throw new Error(
      `${err.message}\n${JSON.stringify({ streams: await inboundStreams(page), pc: await pcState(page) }, null, 1)}\n--- baresip:\n${phone.log().slice(-3000)}`,
    )
  })
}
