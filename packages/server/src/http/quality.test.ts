import { startTestPlatform, type TestPlatform } from '@parley/test-kit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

let p: TestPlatform
beforeEach(async () => {
  p = await startTestPlatform({ metricsPort: 0 })
})
afterEach(async () => {
  await p.close()
})

const sample = (n: number, extra: Record<string, unknown> = {}) => ({
  timestamp: 1_700_000_000_000 + n * 2000,
  duration: 2000,
  rtt: 3.5,
  mos: 4.41,
  audioIn: { bitrate: 32.1, packetLoss: 0.001, jitter: 2.5 },
  audioOut: { bitrate: 31, packetLoss: 0 },
  videoIn: { bitrate: 800, packetLoss: 0, framesPerSecond: 30, width: 640, height: 480 },
  ...extra,
})

/** The value of one series line (`name{labels} value`) of the metrics exposition. */
const series = (text: string, name: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.slice(name.length + 1),
  )

async function connected() {
  const alice = await p.subscribed('alice')
  const bob = await p.subscribed('bob')
  const { legId: la } = await alice.call('bob@example.com')
  const { legId: lb } = await bob.invitation()
  expect((await bob.answer(lb)).status).toBe(204)
  return { alice, bob, la, lb }
}

describe('POST/GET /parley/v1/{username}/sessions/{legId}/quality', () => {
  it("each party reports its own leg; both read back the call's samples; /metrics has the aggregates", async () => {
    const { alice, bob, la, lb } = await connected()
    const post = (c: typeof alice, leg: string, body: unknown) =>
      c.request('POST', `/parley/v1/${c.username}/sessions/${leg}/quality`, body)
    expect(
      (
        await post(alice, la, {
          samples: [sample(1), sample(2, { raised: ['high-rtt'], warnings: ['high-rtt'] })],
        })
      ).status,
    ).toBe(204)
    expect((await post(bob, lb, { clientCorrelator: 'x', samples: [sample(1, { rtt: 4 })] })).status).toBe(
      204,
    )

    const read = await bob.request<{ callId: string; samples: Array<Record<string, unknown>> }>(
      'GET',
      `/parley/v1/bob/sessions/${lb}/quality`,
    )
    expect(read.status).toBe(200)
    expect(read.body.samples.map((s) => [s.username, s.role, s.rtt])).toEqual([
      ['alice', 'caller', 3.5],
      ['bob', 'callee', 4],
      ['alice', 'caller', 3.5],
    ])
    expect(read.body.samples[0]).toMatchObject({ legId: la, ...sample(1) })
    const fromAlice = await alice.request<typeof read.body>('GET', `/parley/v1/alice/sessions/${la}/quality`)
    expect(fromAlice.body).toEqual(read.body)

    const text = await (await fetch(p.server.metricsUrl!)).text()
    expect(series(text, 'parley_call_quality_samples_total')).toBe(3)
    expect(series(text, 'parley_call_quality_mos_count')).toBe(3)
    expect(series(text, 'parley_call_quality_mos_bucket{le="4.4"}')).toBe(0)
    expect(series(text, 'parley_call_quality_mos_bucket{le="4.5"}')).toBe(3)
    expect(series(text, 'parley_call_quality_rtt_seconds_bucket{le="0.005"}')).toBe(3)
    expect(series(text, 'parley_call_quality_packet_loss_ratio_count')).toBe(3)
    expect(series(text, 'parley_call_quality_jitter_seconds_count')).toBe(3)
    expect(series(text, 'parley_call_quality_warnings_total{warning="high-rtt"}')).toBe(1)
  })

  it("one user can neither report on nor read another's leg, nor one of another account", async () => {
    const { alice, la, lb } = await connected()
    const mallory = await p.subscribed('mallory')
    const carol = await p.subscribed('carol')
    const body = { samples: [sample(1)] }
    // alice names bob's leg under her own name: 404, as if it did not exist (protocol §8.0).
    expect((await alice.request('POST', `/parley/v1/alice/sessions/${lb}/quality`, body)).status).toBe(404)
    expect((await carol.request('GET', `/parley/v1/carol/sessions/${la}/quality`)).status).toBe(404)
    expect((await mallory.request('GET', `/parley/v1/mallory/sessions/${la}/quality`)).status).toBe(404)
    // Under another user's name: 403, as every route (the token's subject is not the path's user).
    expect((await carol.request('POST', `/parley/v1/alice/sessions/${la}/quality`, body)).status).toBe(403)
    expect((await carol.request('GET', `/parley/v1/alice/sessions/${la}/quality`)).status).toBe(403)
    expect(
      (await alice.request('GET', `/parley/v1/alice/sessions/${la}/quality`, undefined, '')).status,
    ).toBe(401)
    const read = await alice.request<{ samples: unknown[] }>('GET', `/parley/v1/alice/sessions/${la}/quality`)
    expect(read.body.samples).toEqual([])
  })

  it('bad bodies are a 400 naming the problem, never stored', async () => {
    const { alice, la } = await connected()
    const post = (body: unknown) =>
      alice.request<{ requestError?: unknown }>('POST', `/parley/v1/alice/sessions/${la}/quality`, body)
    for (const body of [
      {},
      { samples: [] },
      { samples: [{ rtt: 3 }] },
      { samples: [sample(1, { mos: 7 })] },
      { samples: [sample(1, { audioIn: { bitrate: -1, packetLoss: 0 } })] },
      { samples: [sample(1, { raised: ['made-up'] })] },
      { samples: Array.from({ length: 101 }, (_, i) => sample(i)) },
      'text',
    ]) {
      const res = await post(body)
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400)
      expect(JSON.stringify(res.body)).toContain('SVC0002')
    }
    const read = await alice.request<{ samples: unknown[] }>('GET', `/parley/v1/alice/sessions/${la}/quality`)
    expect(read.body.samples).toEqual([])
  })

  it('the last samples are still accepted after the call ended', async () => {
    const { alice, la } = await connected()
    expect((await alice.request('DELETE', `/cpaas/webrtcsignaling/v1/alice/sessions/${la}`)).status).toBe(204)
    const res = await alice.request('POST', `/parley/v1/alice/sessions/${la}/quality`, {
      samples: [sample(9)],
    })
    expect(res.status).toBe(204)
  })
})
