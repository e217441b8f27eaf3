import {
  createAccount,
  createUser,
  makeConfig,
  startServer,
  type Config,
  type ServerHandle,
  type Timings,
} from '@parley/server'
import { ProtocolClient } from './protocol-client.js'

/** Timers short enough for tests, keeping their order (protocol §11.13). */
export const FAST_TIMINGS: Partial<Timings> = {
  noAnswerMs: 3_000,
  livenessMs: 30_000,
  cancelRepeatMs: 300,
  terminalRepushMs: 200,
  guardMs: 500,
  transferMs: 2_000,
  sweepMs: 250,
  timerPollMs: 20,
  channelMinIdleMs: 1_500,
  channelNeverConnectedMs: 1_500,
  socketPingMs: 1_000,
}

/** A running test platform: a server on an ephemeral port with two accounts and users. */
export interface TestPlatform {
  server: ServerHandle
  url: string
  clientId: string
  otherClientId: string
  passwords: Record<string, string>
  /** A protocol client for a user of the main account (`alice`, `bob`, `carol`) or `mallory` of the other one. */
  client(name: 'alice' | 'bob' | 'carol' | 'mallory'): ProtocolClient
  /** Logs in and subscribes a user. */
  subscribed(name: 'alice' | 'bob' | 'carol' | 'mallory'): Promise<ProtocolClient>
  close(): Promise<void>
}

/** Starts a platform on `sqlite::memory:` (or the given db) with users alice, bob, carol and mallory (other account). */
export async function startTestPlatform(
  overrides: Partial<Omit<Config, 'timings'>> & { timings?: Partial<Timings> } = {},
): Promise<TestPlatform> {
  const config = makeConfig({
    port: 0,
    db: 'sqlite::memory:',
    logLevel: 'silent',
    domain: 'example.com',
    // Tests log in and call far more often than people; the rate-limit tests set their own budgets.
    rateLimits: {
      tokenPerAddress: 100_000,
      tokenPerLogin: 100_000,
      sessionsPerUser: 100_000,
      concurrentCallsPerUser: 100_000,
    },
    ...overrides,
    timings: { ...FAST_TIMINGS, ...overrides.timings },
  })
  const server = await startServer(config)
  const account = await createAccount(server.ctx, 'Test')
  const other = await createAccount(server.ctx, 'Other')
  const passwords: Record<string, string> = {}
  for (const name of ['alice', 'bob', 'carol']) {
    passwords[name] = `${name}-password-1`
    await createUser(server.ctx, {
      clientId: account.clientId,
      login: `${name}@example.com`,
      password: passwords[name],
    })
  }
  passwords.mallory = 'mallory-password-1'
  await createUser(server.ctx, {
    clientId: other.clientId,
    login: 'mallory@example.com',
    password: passwords.mallory,
  })
  const clients: ProtocolClient[] = []
  const client = (name: string) => {
    const c = new ProtocolClient(
      server.url,
      name === 'mallory' ? other.clientId : account.clientId,
      `${name}@example.com`,
      passwords[name]!,
    )
    clients.push(c)
    return c
  }
  return {
    server,
    url: server.url,
    clientId: account.clientId,
    otherClientId: other.clientId,
    passwords,
    client,
    async subscribed(name) {
      const c = client(name)
      await c.login()
      await c.subscribe()
      return c
    },
    async close() {
      for (const c of clients) c.kill()
      await server.close()
    },
  }
}
