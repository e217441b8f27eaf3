// @vitest-environment happy-dom
/**
 * The quality monitor inside a call (Parley extension, README "Call quality"): two SDK clients through the
 * fake server; samples while Connected, batched reports to the leg's quality path, the rest at the end,
 * failures that change nothing about the call.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeServer } from '../test-support/fake-server.js'
import { errorsIn, makeClient, subscribe, tick, until, type TestClient } from '../test-support/harness.js'

let server: FakeServer
let alice: TestClient
let bob: TestClient
const quality = { interval: 100, reportBatchSize: 3 }

beforeEach(async () => {
  server = new FakeServer(['alice', 'bob'])
  alice = makeClient(server, 'alice', { call: { quality } })
  bob = makeClient(server, 'bob', { call: { quality } })
  await subscribe(alice)
  await subscribe(bob)
})

afterEach(async () => {
  alice.api.destroy()
  bob.api.destroy()
  await tick()
})

async function connect() {
  const callId = alice.api.call.make('bob@example.com', { audio: true })
  const received = await bob.rec.waitFor('call:receive')
  const bobCallId = received.callId as string
  await until(
    () => ['Ringing', 'Initiated'].includes(bob.api.call.getById(bobCallId)?.state ?? ''),
    3000,
    'ringing',
  )
  bob.api.call.answer(bobCallId, { audio: true })
  await until(() => alice.api.call.getById(callId)?.state === 'Connected', 3000, 'alice Connected')
  return { callId, bobCallId }
}

const reports = () => server.requests.filter((r) => r.path.startsWith('/parley/v1/'))

describe('quality monitor of a call', () => {
  it('samples a Connected call, posts batches to its own leg, and flushes the rest at the end', async () => {
    server.intercept = (req) =>
      req.path.startsWith('/parley/v1/') ? new Response(null, { status: 204 }) : undefined
    const { callId } = await connect()
    await until(() => alice.rec.of('call:qualityChange').length >= 4, 3000, 'four samples')
    const sample = alice.rec.of('call:qualityChange')[0]!.sample as Record<string, unknown>
    expect(sample).toMatchObject({ callId, warnings: [] })
    expect(sample.duration).toBeGreaterThan(0)
    await until(() => reports().some((r) => r.user === 'alice'), 3000, 'a report from alice')
    const first = reports().find((r) => r.user === 'alice')!
    expect(first.method).toBe('POST')
    expect(first.path).toMatch(/^\/parley\/v1\/alice\/sessions\/[^/]+\/quality$/)
    expect(first.headers.Authorization).toBe('Bearer at-alice')
    expect((first.body!.samples as unknown[]).length).toBe(3)
    expect(first.body!.clientCorrelator).toBe('sampleCorrelator')

    alice.api.call.end(callId)
    await tick(50)
    const sampled = alice.rec.of('call:qualityChange').length
    const sent = reports()
      .filter((r) => r.user === 'alice')
      .reduce((n, r) => n + (r.body!.samples as unknown[]).length, 0)
    expect(sent).toBe(sampled)
    // Nothing after the end: no more samples, no more reports.
    await tick(300)
    expect(alice.rec.of('call:qualityChange').length).toBe(sampled)
  })

  it('failed reports are only logged at debug; the call goes on', async () => {
    server.intercept = (req) =>
      req.path.startsWith('/parley/v1/') ? new Response('{}', { status: 500 }) : undefined
    const { callId } = await connect()
    await until(() => reports().length >= 2, 3000, 'two reports')
    expect(alice.api.call.getById(callId)?.state).toBe('Connected')
    expect(alice.rec.of('call:error')).toEqual([])
    expect(errorsIn(alice.logs)).toEqual([])
    expect(
      alice.logs.some(
        (l) => l.level === 'debug' && /quality report of 3 samples failed/.test(String(l.messages[0])),
      ),
    ).toBe(true)
  })

  it('quality.enabled false: no samples; quality.report false: samples but no reports', async () => {
    alice.api.updateConfig({ call: { quality: { enabled: false } } })
    bob.api.updateConfig({ call: { quality: { report: false } } })
    await connect()
    await until(() => bob.rec.of('call:qualityChange').length >= 4, 3000, 'bob samples')
    expect(alice.rec.of('call:qualityChange')).toEqual([])
    expect(reports()).toEqual([])
  })
})
