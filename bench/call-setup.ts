/**
 * Call-setup benchmark (issue: SDK and demo). In one Chromium, N runs each, interleaved so that machine
 * noise hits both sides alike:
 *  - Parley: caller `call.make()` → caller `Connected`, and → first remote video frame at the caller, with
 *    the callee answering from its `call:receive` listener, through the real server (REST + websocket);
 *  - baseline (the physical baseline): a bare RTCPeerConnection pair in the same browser, one per
 *    page, SDP exchanged directly through this harness, each description complete with its first host
 *    candidate (no trickle, as the protocol requires), getUserMedia on both sides inside the measurement;
 *  - lowerBound (for context): both peer connections in one page, trickle candidates, no harness hops.
 *  - demo (issue 14, the way a new user's app runs): two pages of a real `parley serve` (SQLite file, TLS,
 *    its own process) using the SDK as an app does, the callee answering with `call.answer` as soon as its
 *    call is `Ringing`; against a lean bare pair on the same pages: getUserMedia on both sides inside the
 *    span, each description sent as soon as it holds its first host candidate, relayed by this driver
 *    (page → driver → page, no extra hops). DEMO_RUNS calls (default 8) after 2 warm-ups, with a per-step
 *    timeline of every call from the SDK's `logs.timingHandler` and the server's `--debug-timing` lines
 *    (BENCH_TIMELINE=0 turns both off), and the timeline of the median call.
 * Reports medians and their ratio, plus the IIFE bundle size, into bench/results/call-setup.json.
 * Knobs: BENCH_RUNS (default 25); BENCH_EXTRA, JSON merged into the SDK configuration of both pages
 * (e.g. '{"call":{"defaultPeerConfig":{"iceCandidatePoolSize":1}}}') to compare settings.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { startTestPlatform } from '@parley/test-kit'
import { chromium, type Page } from 'playwright-core'
import { CHROMIUM_ARGS } from '../e2e/harness.js'
import { demoMeasurement, type DemoRun, type TimelineEntry } from './call-setup-demo.js'
import { retried, retries } from './retry.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 25)
const WARMUP = 2
const DEMO_RUNS = Number(process.env.DEMO_RUNS ?? 8)
const TIMELINE = process.env.BENCH_TIMELINE !== '0'
const sdkDir = new URL('../packages/sdk/dist/', import.meta.url)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!
const round = (x: number) => Math.round(x * 10) / 10
/** a / b to two decimals (1.377 → 1.38). */
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100

/** Page code: a Parley client logged in and subscribed, answering every incoming call at once. */
const SETUP_CLIENT = `async ({ clientId, login, password }) => {
  const form = new URLSearchParams({ client_id: clientId, username: login, password, grant_type: 'password', scope: 'openid' })
  const tokens = await (await fetch('/cpaas/auth/v1/token', { method: 'POST', body: form })).json()
  const client = Parley.create({
    authentication: { server: { base: location.host }, clientCorrelator: 'bench' },
    logs: { logLevel: 'error' }, ...(window.BENCH_EXTRA || {}),
  })
  client.setTokens({ accessToken: tokens.access_token, idToken: tokens.id_token })
  await new Promise((resolve, reject) => {
    client.on('subscription:change', () => { if (client.services.getSubscriptions().subscribed.length > 0) resolve() })
    client.on('subscription:error', (p) => reject(new Error(p.error.message)))
    client.services.subscribe(['call'], 'websocket')
  })
  client.on('call:receive', ({ callId }) => client.call.answer(callId, { audio: true, video: true }))
  window.bench = { client }
}`

/** Page code (caller): one Parley call; resolves with the two timings once it has ended again. */
const PARLEY_RUN = `async (callee) => {
  const { client } = window.bench
  const container = document.createElement('div')
  container.id = 'bench-remote'
  document.body.append(container)
  const t0 = performance.now()
  let connected, firstFrame
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('call did not connect and render in 20 s')), 20000)
    const check = () => { if (connected !== undefined && firstFrame !== undefined) { clearTimeout(timer); resolve() } }
    const onState = ({ callId: id }) => {
      if (id !== callId) return
      const state = client.call.getById(id)?.state
      if (state === 'Connected' && connected === undefined) { connected = performance.now() - t0; check() }
      if (state === 'Ended') reject(new Error('call ended'))
    }
    const onTracks = ({ callId: id, trackIds }) => {
      if (id !== callId) return
      for (const trackId of trackIds) {
        const t = client.media.getTrackById(trackId)
        if (!t || t.kind !== 'video' || t.isLocal) continue
        // Rendered the way an app does it; the first frame is the one the video element presents.
        client.media.renderTracks([trackId], '#bench-remote')
        const watch = () => {
          const video = container.querySelector('video')
          if (!video) return requestAnimationFrame(watch)
          video.requestVideoFrameCallback(() => { if (firstFrame === undefined) { firstFrame = performance.now() - t0; check() } })
        }
        watch()
      }
    }
    client.on('call:stateChange', onState)
    client.on('call:tracksAdded', onTracks)
    window.benchCleanup = () => { client.off('call:stateChange', onState); client.off('call:tracksAdded', onTracks) }
  })
  const callId = client.call.make(callee, { audio: true, video: true })
  try { await done } finally { window.benchCleanup() }
  const ended = new Promise((resolve) => {
    const onEnd = ({ callId: id }) => { if (id === callId && client.call.getById(id)?.state === 'Ended') { client.off('call:stateChange', onEnd); resolve() } }
    client.on('call:stateChange', onEnd)
  })
  client.call.end(callId)
  await ended
  container.remove()
  return { connected, firstFrame }
}`

/**
 * Page code: the lower bound. A bare RTCPeerConnection pair in one page with its own camera and
 * microphone each, offer/answer and ICE candidates handed over directly (trickle, no server, no waiting for
 * gathering): the fastest this browser can connect and show a remote frame.
 */
const PHYSICAL_RUN = `async () => {
  // Timed like make(): the caller's camera and microphone are acquired inside the measurement, and the
  // callee's once the offer has arrived, as an answering SDK must.
  const t0 = performance.now()
  const s1 = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
  const pc1 = new RTCPeerConnection({ iceServers: [] })
  const pc2 = new RTCPeerConnection({ iceServers: [] })
  let video
  window.phys = { close: () => { pc1.close(); pc2.close(); video?.remove(); for (const t of [...s1.getTracks(), ...(s2?.getTracks() ?? [])]) t.stop() } }
  let s2
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate)
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate)
  for (const t of s1.getTracks()) pc1.addTrack(t, s1)
  const connected = new Promise((r) => pc1.addEventListener('connectionstatechange', () => pc1.connectionState === 'connected' && r(performance.now() - t0)))
  const firstFrame = new Promise((r) => pc1.addEventListener('track', (e) => {
    if (e.track.kind !== 'video') return
    video = document.createElement('video'); video.muted = true; video.autoplay = true; video.srcObject = new MediaStream([e.track])
    document.body.append(video)
    video.requestVideoFrameCallback(() => r(performance.now() - t0))
  }))
  await pc1.setLocalDescription()
  await pc2.setRemoteDescription(pc1.localDescription)
  s2 = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
  for (const t of s2.getTracks()) pc2.addTrack(t, s2)
  await pc2.setLocalDescription()
  await pc1.setRemoteDescription(pc2.localDescription)
  const result = { connected: await connected, firstFrame: await firstFrame }
  window.phys.close()
  return result
}`

/** Page code, caller side of the harness baseline: camera, offer complete with a host candidate. */
const BARE_OFFER = `async () => {
  const t0 = performance.now()
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
  const pc = new RTCPeerConnection({ iceServers: [] })
  for (const t of stream.getTracks()) pc.addTrack(t, stream)
  const connected = new Promise((r) => pc.addEventListener('connectionstatechange', () => pc.connectionState === 'connected' && r(performance.now() - t0)))
  const firstFrame = new Promise((r) => pc.addEventListener('track', (e) => {
    if (e.track.kind !== 'video') return
    const v = document.createElement('video'); v.muted = true; v.autoplay = true; v.srcObject = new MediaStream([e.track])
    document.body.append(v); window.bare.video = v
    v.requestVideoFrameCallback(() => r(performance.now() - t0))
  }))
  window.bare = { pc, stream, connected, firstFrame }
  await pc.setLocalDescription()
  await window.bareReady(pc)
  return pc.localDescription.sdp
}`

/** Page code, callee side: answers the harness-relayed offer with its camera, complete with a host candidate. */
const BARE_ANSWER = `async (sdp) => {
  const pc = new RTCPeerConnection({ iceServers: [] })
  await pc.setRemoteDescription({ type: 'offer', sdp })
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
  for (const t of stream.getTracks()) pc.addTrack(t, stream)
  window.bare = { pc, stream }
  await pc.setLocalDescription()
  await window.bareReady(pc)
  return pc.localDescription.sdp
}`

/** Page code: resolves once the local description carries a host candidate, or gathering is complete. */
const BARE_READY = `window.bareReady = (pc) => new Promise((resolve) => {
  const done = () => (pc.iceGatheringState === 'complete' || /a=candidate:.* typ host/.test(pc.localDescription?.sdp ?? '')) && resolve()
  pc.addEventListener('icecandidate', done)
  pc.addEventListener('icegatheringstatechange', done)
  done()
})`

async function harnessRun(caller: Page, callee: Page): Promise<{ connected: number; firstFrame: number }> {
  const offer = (await caller.evaluate(`(${BARE_OFFER})()`)) as string
  const answer = (await callee.evaluate(`(${BARE_ANSWER})(${JSON.stringify(offer)})`)) as string
  const result = (await caller.evaluate(
    `(async (sdp) => { await window.bare.pc.setRemoteDescription({ type: 'answer', sdp }); return { connected: await window.bare.connected, firstFrame: await window.bare.firstFrame } })(${JSON.stringify(answer)})`,
  )) as { connected: number; firstFrame: number }
  await closeBare([caller, callee])
  return result
}

/** Closes the harness pair's peer connections, tracks and video element, wherever they got. */
async function closeBare(pages: Page[]): Promise<void> {
  for (const page of pages) {
    await page.evaluate(
      `(() => { const b = window.bare; if (!b) return; window.bare = undefined; b.pc.close(); b.stream?.getTracks().forEach((t) => t.stop()); b.video?.remove() })()`,
    )
  }
}

/** Per (side, step): the median time after make over the calls that have the step (first occurrence each). */
function medianSteps(timelines: TimelineEntry[][]): TimelineEntry[] {
  const times = new Map<string, number[]>()
  for (const timeline of timelines) {
    const seen = new Set<string>()
    for (const e of timeline) {
      const key = `${e.side}\u0000${e.step}`
      if (seen.has(key)) continue
      seen.add(key)
      times.set(key, [...(times.get(key) ?? []), e.t])
    }
  }
  return [...times]
    .map(([key, ts]) => {
      const [side, step] = key.split('\u0000') as [string, string]
      return { side, step, t: round(median(ts)) }
    })
    .sort((a, b) => a.t - b.t)
}

async function main(): Promise<void> {
  const platform = await startTestPlatform({
    sdkDir: new URL('.', sdkDir).pathname,
    demoDir: new URL('../demo/', import.meta.url).pathname,
  })
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  })
  try {
    const pages: Page[] = []
    for (const [name, login] of [
      ['alice', 'alice@example.com'],
      ['bob', 'bob@example.com'],
    ] as const) {
      const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
      const page = await context.newPage()
      page.on('pageerror', (e) => console.error(`[${name}] ${e.message}`))
      await page.goto(`${platform.url}/`)
      await page.evaluate(
        `window.BENCH_EXTRA = ${process.env.BENCH_EXTRA ?? '{}'}; (${SETUP_CLIENT})(${JSON.stringify({ clientId: platform.clientId, login, password: platform.passwords[name] })})`,
      )
      pages.push(page)
    }
    const [caller, callee] = pages as [Page, Page]
    for (const page of pages) await page.evaluate(BARE_READY)
    const parley = { connected: [] as number[], firstFrame: [] as number[] }
    const baseline = { connected: [] as number[], firstFrame: [] as number[] }
    const lower = { connected: [] as number[], firstFrame: [] as number[] }
    for (let i = 0; i < RUNS + WARMUP; i++) {
      const p = (await caller.evaluate(`(${PARLEY_RUN})('bob@example.com')`)) as {
        connected: number
        firstFrame: number
      }
      const b = await retried(
        'harness bare pair',
        () => harnessRun(caller, callee),
        () => closeBare(pages),
      )
      const l = await retried(
        'lower bound pair',
        () => caller.evaluate(`(${PHYSICAL_RUN})()`) as Promise<{ connected: number; firstFrame: number }>,
        () => caller.evaluate('window.phys?.close()').then(() => undefined),
      )
      if (i < WARMUP) continue
      lower.connected.push(l.connected)
      lower.firstFrame.push(l.firstFrame)
      parley.connected.push(p.connected)
      parley.firstFrame.push(p.firstFrame)
      baseline.connected.push(b.connected)
      baseline.firstFrame.push(b.firstFrame)
      process.stdout.write(
        `run ${i - WARMUP + 1}/${RUNS}: parley ${round(p.connected)}/${round(p.firstFrame)} ms, baseline ${round(b.connected)}/${round(b.firstFrame)} ms, lower bound ${round(l.connected)}/${round(l.firstFrame)} ms\n`,
      )
    }
    for (const page of pages) await page.context().close()
    // The demo-page measurement (issue 14), on its own `parley serve`.
    const demo = await demoMeasurement(browser, TIMELINE)
    const demoRuns: DemoRun[] = []
    try {
      for (let i = 0; i < DEMO_RUNS + WARMUP; i++) {
        const r = await demo.run()
        if (i < WARMUP) continue
        demoRuns.push(r)
        process.stdout.write(
          `demo ${i - WARMUP + 1}/${DEMO_RUNS}: parley ${round(r.parley.connected)}/${round(r.parley.firstFrame)} ms, bare pair ${round(r.baseline.connected)}/${round(r.baseline.firstFrame)} ms (first packet ${round(r.timeline.find((e) => e.step === 'video:first-packet')?.t ?? NaN)} / ${round(r.baselineMedia?.unmuted ?? NaN)} ms)\n`,
        )
      }
    } finally {
      await demo.close()
    }
    const demoParley = {
      connected: demoRuns.map((r) => r.parley.connected),
      firstFrame: demoRuns.map((r) => r.parley.firstFrame),
    }
    const demoBare = {
      connected: demoRuns.map((r) => r.baseline.connected),
      firstFrame: demoRuns.map((r) => r.baseline.firstFrame),
    }
    // The call whose make → Connected is the median one (the lower middle for an even count).
    const byConnected = [...demoRuns].sort((a, b) => a.parley.connected - b.parley.connected)
    const medianCall = byConnected[Math.floor((byConnected.length - 1) / 2)]
    const stepMedians = medianSteps(demoRuns.map((r) => r.timeline))
    const min = readFileSync(new URL('parley.min.js', sdkDir))
    const summary = (xs: number[]) => ({
      median: round(median(xs)),
      p90: round(percentile(xs, 0.9)),
      min: round(Math.min(...xs)),
      samples: xs.map(round),
    })
    const result = {
      benchmark: 'call-setup',
      date: new Date().toISOString(),
      runs: RUNS,
      browser: browser.version(),
      parley: {
        makeToConnectedMs: summary(parley.connected),
        makeToFirstRemoteFrameMs: summary(parley.firstFrame),
      },
      baseline: {
        what: 'bare RTCPeerConnection pair, one per page, SDP relayed by the harness with its first host candidate, getUserMedia on both sides',
        offerToConnectedMs: summary(baseline.connected),
        offerToFirstRemoteFrameMs: summary(baseline.firstFrame),
      },
      lowerBound: {
        what: 'both peer connections in one page, trickle candidates, no server, no harness hops',
        offerToConnectedMs: summary(lower.connected),
        offerToFirstRemoteFrameMs: summary(lower.firstFrame),
      },
      ratio: {
        connected: ratio(median(parley.connected), median(baseline.connected)),
        firstFrame: ratio(median(parley.firstFrame), median(baseline.firstFrame)),
      },
      ratioToLowerBound: {
        connected: ratio(median(parley.connected), median(lower.connected)),
        firstFrame: ratio(median(parley.firstFrame), median(lower.firstFrame)),
      },
      demo: {
        what: 'issue 14: two pages of `parley serve` (SQLite file, TLS), the SDK configured as the demo app, the callee answering when its call is Ringing; against a bare RTCPeerConnection pair on the same pages, getUserMedia on both sides inside the span, each description sent at its first host candidate, relayed by the driver',
        runs: DEMO_RUNS,
        timingHooks: TIMELINE,
        parley: {
          makeToConnectedMs: summary(demoParley.connected),
          makeToFirstRemoteFrameMs: summary(demoParley.firstFrame),
        },
        baseline: {
          offerToConnectedMs: summary(demoBare.connected),
          offerToFirstRemoteFrameMs: summary(demoBare.firstFrame),
        },
        ratio: {
          connected: ratio(median(demoParley.connected), median(demoBare.connected)),
          firstFrame: ratio(median(demoParley.firstFrame), median(demoBare.firstFrame)),
        },
        medianCall: medianCall
          ? {
              connected: round(medianCall.parley.connected),
              firstFrame: round(medianCall.parley.firstFrame),
              timeline: medianCall.timeline,
            }
          : undefined,
        stepMedians,
      },
      bundle: {
        file: 'parley.min.js',
        minifiedBytes: min.length,
        gzippedBytes: gzipSync(min, { level: 9 }).length,
      },
      baselineRetries: retries,
      targets: { ratio: 1.3, gzippedBytes: 40 * 1024 },
    }
    writeFileSync(new URL('results/call-setup.json', import.meta.url), JSON.stringify(result, null, 2) + '\n')
    console.log(
      JSON.stringify(
        {
          parley: result.parley.makeToConnectedMs.median,
          baseline: result.baseline.offerToConnectedMs.median,
          lowerBound: result.lowerBound.offerToConnectedMs.median,
          ratio: result.ratio,
          ratioToLowerBound: result.ratioToLowerBound,
          demo: {
            parley: [
              result.demo.parley.makeToConnectedMs.median,
              result.demo.parley.makeToFirstRemoteFrameMs.median,
            ],
            baseline: [
              result.demo.baseline.offerToConnectedMs.median,
              result.demo.baseline.offerToFirstRemoteFrameMs.median,
            ],
            ratio: result.demo.ratio,
          },
          bundle: result.bundle,
        },
        null,
        2,
      ),
    )
  } finally {
    await browser.close()
    await platform.close()
  }
}

await main()
