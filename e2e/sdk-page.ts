import { waitFor, type TestPlatform } from '@parley/test-kit'
import type { Page } from 'playwright-core'

/**
 * Page code: a Parley client with extra configuration, logged in and subscribed, kept as `window.sdk`
 * (the demo page's own `client` is left alone). Every call:stateChange is recorded in `window.sdkChanges`.
 */
const SETUP = `async ({ clientId, login, password, extra, sdkGlobal }) => {
  const form = new URLSearchParams({ client_id: clientId, username: login, password, grant_type: 'password' })
  const tokens = await (await fetch('/cpaas/auth/v1/token', { method: 'POST', body: form })).json()
  const base = { authentication: { server: { base: location.host }, clientCorrelator: 'e2e' }, logs: { logLevel: 'warn' } }
  const sdk = window[sdkGlobal].create({ ...base, ...extra, authentication: base.authentication })
  sdk.setTokens({ accessToken: tokens.access_token, idToken: tokens.id_token })
  await new Promise((resolve, reject) => {
    sdk.on('subscription:change', () => { if (sdk.services.getSubscriptions().subscribed.length > 0) resolve() })
    sdk.on('subscription:error', (p) => reject(new Error(p.error.message)))
    sdk.services.subscribe(['call'], 'websocket')
  })
  window.sdkChanges = []
  sdk.on('call:stateChange', (p) => window.sdkChanges.push({ callId: p.callId, state: sdk.call.getById(p.callId)?.state }))
  window.sdk = sdk
}`

/**
 * Logs `name` in with a fresh SDK client configured with `extra` (e.g. a `call` section), created with
 * `Parley.create`, or with `Kandy.create` as the founding quickstart does (the bundle defines both globals).
 */
export async function setupSdk(
  page: Page,
  platform: TestPlatform,
  name: string,
  extra: object = {},
  sdkGlobal: 'Parley' | 'Kandy' = 'Parley',
): Promise<void> {
  await page.evaluate(
    `(${SETUP})(${JSON.stringify({ clientId: platform.clientId, login: `${name}@example.com`, password: platform.passwords[name], extra, sdkGlobal })})`,
  )
}

/**
 * Makes the page's `window.sdk` answer every incoming call at once (its id in `window.incoming`) and record
 * what fault tests look at: `window.socketChanges` (ws:change with the time and whether connected),
 * `window.sdkErrors` (request:error) and `window.ops` (call:operation, JSON-safe).
 */
export async function autoAnswerAndRecord(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.sdkErrors = []
    window.socketChanges = []
    window.ops = []
    window.sdk.on('call:operation', (p) => window.ops.push({ operation: p.operation, transition: p.transition, isLocal: p.isLocal, error: p.error && p.error.code }))
    window.sdk.on('request:error', (p) => window.sdkErrors.push(p.error))
    window.sdk.on('ws:change', () => window.socketChanges.push({ at: Date.now(), connected: window.sdk.connection.getSocketState().connected }))
    window.sdk.on('call:receive', ({ callId }) => { window.incoming = callId; window.sdk.call.answer(callId, { audio: true, video: true }) })
  })()`)
}

/** Waits until the page's SDK (with {@link autoAnswerAndRecord}) is connected again after `since` (ms epoch). */
export async function sdkReconnected(page: Page, since: number): Promise<void> {
  await waitFor(
    async () =>
      (await page.evaluate(
        `window.sdk.connection.getSocketState().connected && window.socketChanges.some((c) => c.at > ${since} && c.connected)`,
      )) as boolean,
    30_000,
    'the SDK to reconnect to the restarted server',
  )
}

/** The state of a call in the page's `window.sdk`. */
export function sdkCallState(page: Page, callId: string): Promise<string | undefined> {
  return page.evaluate(`window.sdk.call.getById(${JSON.stringify(callId)})?.state`) as Promise<
    string | undefined
  >
}

/**
 * Types of the selected ICE candidate pair of the page's open peer connection (local/remote candidateType),
 * from getStats; undefined until one is selected.
 */
export function selectedPair(page: Page): Promise<{ local: string; remote: string } | undefined> {
  return page.evaluate(`(async () => {
    const pc = window.__parleyTest.pcs.filter((p) => p.signalingState !== 'closed').at(-1)
    if (!pc) return undefined
    const stats = await pc.getStats()
    let pair
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId) })
    if (!pair || pair.state !== 'succeeded') return undefined
    return { local: stats.get(pair.localCandidateId)?.candidateType, remote: stats.get(pair.remoteCandidateId)?.candidateType }
  })()`) as Promise<{ local: string; remote: string } | undefined>
}
