/**
 * The "demo page" call-setup measurement of bench/call-setup.ts (issue 14): what a new user's app sees.
 *
 *  - Parley: two pages of a real `parley serve` (its own process, SQLite file, TLS with a self-signed
 *    certificate, the demo account) in one Chromium, each running the SDK the way the demo app configures
 *    it; the callee answers with `call.answer` as soon as its call is `Ringing` (an app with a ringing UI);
 *    the caller times `call.make` → its call `Connected`, and → the first remote video frame presented
 *    (`requestVideoFrameCallback`).
 *  - baseline: the same two pages with plain RTCPeerConnections: getUserMedia on both sides inside the span
 *    (the callee's starts when the offer arrives, beside setRemoteDescription), each description sent as
 *    soon as it holds its first host candidate (no trickle, like the protocol), relayed by this driver
 *    (page → driver → page each way, nothing else).
 *  - timeline: the SDK's `logs.timingHandler` marks on both pages and the server's `--debug-timing` lines,
 *    all on the machine's one clock, as milliseconds after `make`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Browser, Page } from 'playwright-core'
import { retried } from './retry.js'

export interface TimelineEntry {
  /** `caller`, `callee` (SDK marks) or `server`. */
  side: string
  step: string
  /** Milliseconds after `call.make`. */
  t: number
}

export interface DemoRun {
  parley: { connected: number; firstFrame: number }
  baseline: { connected: number; firstFrame: number }
  /** The bare pair's remote video at the caller: element created, first packet (unmute). */
  baselineMedia?: { rendered: number; unmuted?: number } | undefined
  timeline: TimelineEntry[]
}

interface ServerTiming {
  timing: string
  at: number
  [key: string]: unknown
}

/** A `parley serve` child process with the demo account, on a fresh SQLite file, HTTPS on a free port. */
export async function startParleyServe(timing: boolean): Promise<{
  url: string
  clientId: string
  passwords: Record<string, string>
  marks: ServerTiming[]
  close: () => Promise<void>
}> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-'))
  const args = [
    new URL('../packages/server/bin/parley.js', import.meta.url).pathname,
    'serve',
    '--db',
    `sqlite:${join(dir, 'parley.db')}`,
    '--create',
    '--port',
    '0',
    '--tls-self-signed',
    '--demo',
    // A benchmark makes more calls a minute than the default budget of a person.
    '--rate-limit-calls',
    '100000',
    ...(timing ? ['--debug-timing'] : []),
  ]
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const marks: ServerTiming[] = []
  let url: string | undefined
  let stderr = ''
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`parley serve did not start in 30 s:\n${stderr}`)),
      30_000,
    )
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      if (typeof entry.timing === 'string' && typeof entry.at === 'number') marks.push(entry as ServerTiming)
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      url = /Parley is running at (\S+)/.exec(stderr)?.[1]
      if (url && /Ctrl-C stops it/.test(stderr)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`parley serve exited (${code}):\n${stderr}`)))
  })
  await ready
  const clientId = /Client ID: (\S+)/.exec(stderr)?.[1]
  const passwords: Record<string, string> = {}
  for (const m of stderr.matchAll(/^\s+(\S+)@\S+\s+password: (\S+)$/gm)) passwords[m[1]!] = m[2]!
  if (!url || !clientId || !passwords.alice || !passwords.bob)
    throw new Error(`no URL or demo credentials from parley serve:\n${stderr}`)
  return {
    url,
    clientId,
    passwords,
    marks,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Page code: an SDK client configured as the demo app does, logged in and subscribed. */
const SETUP_APP = `async ({ clientId, login, password, timing }) => {
  window.benchMarks = []
  const client = Parley.create({
    authentication: {
      server: { base: location.hostname, protocol: 'https', port: Number(location.port) },
      clientCorrelator: 'bench-app',
    },
    call: { iceServers: [], serverTurnCredentials: true },
    logs: { logLevel: 'warn', ...(timing ? { timingHandler: (m) => window.benchMarks.push(m) } : {}) },
  })
  const form = new URLSearchParams({ client_id: clientId, username: login, password, grant_type: 'password', scope: 'openid' })
  const tokens = await (await fetch('/cpaas/auth/v1/token', { method: 'POST', body: form })).json()
  client.setTokens({ accessToken: tokens.access_token, idToken: tokens.id_token })
  await new Promise((resolve, reject) => {
    client.on('subscription:change', () => { if (client.services.getSubscriptions().subscribed.includes('call')) resolve() })
    client.on('subscription:error', (p) => reject(new Error(p.error.message)))
    client.services.subscribe(['call'], 'websocket')
  })
  // The callee: answer as soon as the incoming call rings, as an app with a ringing UI and an auto-answer would.
  client.on('call:stateChange', ({ callId }) => {
    const call = client.call.getById(callId)
    if (call && call.direction === 'incoming' && call.state === 'Ringing') client.call.answer(callId, { audio: true, video: true })
  })
  window.bench = { client }
}`

/** Page code (caller): one call; resolves with the timings (and the epoch time of make) once it has ended. */
const APP_CALL = `async (callee) => {
  const { client } = window.bench
  const container = document.createElement('div')
  container.id = 'bench-demo-remote'
  document.body.append(container)
  let connected, firstFrame, callId
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
        client.media.renderTracks([trackId], '#bench-demo-remote')
        const watch = () => {
          const video = container.querySelector('video')
          if (!video) return requestAnimationFrame(watch)
          const track = video.srcObject.getVideoTracks()[0]
          window.benchMedia = { rendered: performance.now() - t0, unmuted: track.muted ? undefined : -1 }
          track.addEventListener('unmute', () => { window.benchMedia.unmuted = performance.now() - t0 }, { once: true })
          video.requestVideoFrameCallback(() => { if (firstFrame === undefined) { firstFrame = performance.now() - t0; check() } })
        }
        watch()
      }
    }
    client.on('call:stateChange', onState)
    client.on('call:tracksAdded', onTracks)
    window.benchCleanup = () => { client.off('call:stateChange', onState); client.off('call:tracksAdded', onTracks) }
  })
  const t0 = performance.now()
  const t0At = performance.timeOrigin + t0
  callId = client.call.make(callee, { audio: true, video: true })
  try { await done } finally { window.benchCleanup() }
  const ended = new Promise((resolve) => {
    const onEnd = ({ callId: id }) => { if (id === callId && client.call.getById(id)?.state === 'Ended') { client.off('call:stateChange', onEnd); resolve() } }
    client.on('call:stateChange', onEnd)
  })
  client.call.end(callId)
  await ended
  container.remove()
  return { connected, firstFrame, t0At, callId, media: window.benchMedia }
}`

/** Page code, both pages: the bare peer connection pair, relayed through `benchRelay` (the driver). */
const BARE = `(() => {
  const ready = (pc) => new Promise((resolve) => {
    const done = () => (pc.iceGatheringState === 'complete' || /a=candidate:.* typ host/.test(pc.localDescription?.sdp ?? '')) && resolve()
    pc.addEventListener('icecandidate', done)
    pc.addEventListener('icegatheringstatechange', done)
    done()
  })
  window.bareCall = async () => {
    const t0 = performance.now()
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
    const pc = new RTCPeerConnection({ iceServers: [] })
    for (const t of stream.getTracks()) pc.addTrack(t, stream)
    const connected = new Promise((r) => pc.addEventListener('connectionstatechange', () => pc.connectionState === 'connected' && r(performance.now() - t0)))
    let video
    const firstFrame = new Promise((r) => pc.addEventListener('track', (e) => {
      if (e.track.kind !== 'video') return
      video = document.createElement('video'); video.muted = true; video.autoplay = true; video.srcObject = new MediaStream([e.track])
      window.bareMedia = { rendered: performance.now() - t0 }
      e.track.addEventListener('unmute', () => { window.bareMedia.unmuted = performance.now() - t0 }, { once: true })
      document.body.append(video)
      window.bareVideo = video
      video.requestVideoFrameCallback(() => r(performance.now() - t0))
    }))
    window.bare = { pc, stream }
    await pc.setLocalDescription()
    await ready(pc)
    void window.benchRelay('offer', pc.localDescription.sdp)
    const result = { connected: await connected, firstFrame: await firstFrame, media: window.bareMedia }
    video.remove()
    return result
  }
  window.bareOffer = async (sdp) => {
    const pc = new RTCPeerConnection({ iceServers: [] })
    const [stream] = await Promise.all([
      navigator.mediaDevices.getUserMedia({ audio: true, video: true }),
      pc.setRemoteDescription({ type: 'offer', sdp }),
    ])
    for (const t of stream.getTracks()) pc.addTrack(t, stream)
    window.bare = { pc, stream }
    await pc.setLocalDescription()
    await ready(pc)
    void window.benchRelay('answer', pc.localDescription.sdp)
  }
  window.bareAnswer = (sdp) => { void window.bare.pc.setRemoteDescription({ type: 'answer', sdp }) }
  window.bareClose = () => { const b = window.bare; if (!b) return; b.pc.close(); b.stream.getTracks().forEach((t) => t.stop()); window.bare = undefined; window.bareVideo?.remove() }
})()`

/** Sets up the pages; returns one run (a Parley call and a bare pair call) at a time. */
export async function demoMeasurement(
  browser: Browser,
  timing: boolean,
  /** Serve this SDK bundle (the text of a parley.js) to the pages instead of the server's, to compare builds. */
  sdkBundle?: string,
): Promise<{ run: () => Promise<DemoRun>; close: () => Promise<void> }> {
  const server = await startParleyServe(timing)
  const pages: Page[] = []
  try {
    for (const name of ['alice', 'bob']) {
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        permissions: ['camera', 'microphone'],
      })
      if (sdkBundle !== undefined)
        await context.route('**/sdk/parley.js', (route) =>
          route.fulfill({ body: sdkBundle, contentType: 'text/javascript' }),
        )
      const page = await context.newPage()
      page.on('pageerror', (e) => console.error(`[demo ${name}] ${e.message}`))
      await page.goto(`${server.url}/`)
      await page.evaluate(
        `(${SETUP_APP})(${JSON.stringify({ clientId: server.clientId, login: `${name}@parley.local`, password: server.passwords[name], timing })})`,
      )
      await page.evaluate(BARE)
      pages.push(page)
    }
  } catch (err) {
    await server.close()
    throw err
  }
  const [caller, callee] = pages as [Page, Page]
  // The driver's relay: page → here → the other page, fire and forget.
  await caller.exposeFunction('benchRelay', (_kind: string, sdp: string) => {
    void callee.evaluate(`window.bareOffer(${JSON.stringify(sdp)})`)
  })
  await callee.exposeFunction('benchRelay', (_kind: string, sdp: string) => {
    void caller.evaluate(`window.bareAnswer(${JSON.stringify(sdp)})`)
  })

  // Chromium's performance.timeOrigin can be tens of ms away from the system clock (its monotonic clock and
  // the wall clock drift apart); each page's marks are moved onto the system clock, as the server's are.
  const CLOCK_OFFSET = `(() => {
    const d = []
    for (let i = 0; i < 50; i++) d.push(Date.now() + 0.5 - (performance.timeOrigin + performance.now()))
    d.sort((a, b) => a - b)
    return d[25]
  })()`
  const takeMarks = async (page: Page) => {
    const offset = (await page.evaluate(CLOCK_OFFSET)) as number
    const marks = (await page.evaluate('window.benchMarks.splice(0)')) as {
      callId: string
      step: string
      at: number
    }[]
    return marks.map((m) => ({ ...m, at: m.at + offset }))
  }

  const run = async (): Promise<DemoRun> => {
    const first = server.marks.length
    let p: {
      connected: number
      firstFrame: number
      t0At: number
      callId: string
      media?: { rendered: number; unmuted?: number }
    }
    try {
      p = (await caller.evaluate(`(${APP_CALL})('bob@parley.local')`)) as typeof p
    } catch (err) {
      // What each side did, to see where the call stopped.
      console.error('caller marks', JSON.stringify(await takeMarks(caller)))
      console.error('callee marks', JSON.stringify(await takeMarks(callee)))
      console.error('server marks', JSON.stringify(server.marks.slice(first)))
      throw err
    }
    const callerOffset = (await caller.evaluate(CLOCK_OFFSET)) as number
    p.t0At += callerOffset
    const end = p.t0At + Math.max(p.connected, p.firstFrame)
    const timeline: TimelineEntry[] = []
    if (timing) {
      for (const [side, page] of [
        ['caller', caller],
        ['callee', callee],
      ] as const) {
        for (const m of await takeMarks(page))
          if (m.at <= end + 1) timeline.push({ side, step: m.step, t: round(m.at - p.t0At) })
      }
      // Server steps are named after the request they belong to (the server serves one call at a time here).
      let request = ''
      for (const m of server.marks.slice(first)) {
        if (m.at > end + 1) continue
        if (m.timing === 'http:in') {
          const path = String(m.url).replace(/^.*\/sessions(\/[^/]+)?/, (_all, leg?: string) =>
            leg ? 'sessions/{leg}' : 'sessions',
          )
          request = `${String(m.method)} ${path}`
        }
        const what =
          m.timing === 'push'
            ? `push ${String(m.kind)}`
            : m.timing === 'http:in'
              ? `in ${request}`
              : `${m.timing} (${request})`
        timeline.push({ side: 'server', step: what, t: round(m.at - p.t0At) })
      }
      // The remote video at the caller: its element, its first packet (the track's unmute), its first frame.
      if (p.media) timeline.push({ side: 'caller', step: 'video:element', t: round(p.media.rendered) })
      if (p.media?.unmuted !== undefined && p.media.unmuted >= 0)
        timeline.push({ side: 'caller', step: 'video:first-packet', t: round(p.media.unmuted) })
      timeline.push({ side: 'caller', step: 'video:first-frame', t: round(p.firstFrame) })
      timeline.sort((a, b) => a.t - b.t)
    }
    const closeBare = async () => {
      for (const page of pages) await page.evaluate('window.bareClose()')
    }
    const b = await retried(
      'demo bare pair',
      () =>
        caller.evaluate('window.bareCall()') as Promise<{
          connected: number
          firstFrame: number
          media?: { rendered: number; unmuted?: number }
        }>,
      closeBare,
    )
    await closeBare()
    return {
      parley: { connected: p.connected, firstFrame: p.firstFrame },
      baseline: { connected: b.connected, firstFrame: b.firstFrame },
      baselineMedia: b.media,
      timeline,
    }
  }
  return {
    run,
    close: async () => {
      for (const page of pages) await page.context().close()
      await server.close()
    },
  }
}

const round = (x: number) => Math.round(x * 10) / 10
