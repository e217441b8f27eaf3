import { describe, expect, it } from 'vitest'
import { LocalBus } from '../bus/local-bus.js'
import type { Bus } from '../bus/types.js'
import { makeConfig } from '../config.js'
import { createLogger } from '../deps.js'
import { openStore } from '../store/index.js'
import { createAccount, createUser } from './accounts.js'
import { ChannelService } from './channels.js'
import { systemClock, type ServiceContext } from './context.js'
import { Notifier } from './notifier.js'
import { SessionService } from './sessions.js'
import { TokenService, type Actor } from './tokens.js'

/** A bus that records, in one shared log, when frames are announced. */
function recordingBus(log: string[]): Bus {
  const inner = new LocalBus()
  return {
    publish: async (topic, message) => {
      log.push(`publish ${message}`)
      await inner.publish(topic, message)
    },
    subscribe: (topic, handler) => inner.subscribe(topic, handler),
    ping: () => inner.ping(),
    close: () => inner.close(),
  }
}

describe('SessionService ordering (protocol §8.1 MUST)', () => {
  it('create() writes its 201 response before it queues or announces the invitation', async () => {
    const log: string[] = []
    const config = makeConfig({ db: 'sqlite::memory:', logLevel: 'silent' })
    const store = await openStore(config.db)
    const ctx: ServiceContext = {
      store,
      bus: recordingBus(log),
      clock: systemClock,
      log: createLogger(config),
      config,
    }
    const tokens = new TokenService(ctx)
    const notifier = new Notifier(ctx)
    const sessions = new SessionService(ctx, notifier)
    const channels = new ChannelService(ctx, tokens, sessions, notifier)
    const account = await createAccount(ctx, 'A')
    const alice = await createUser(ctx, {
      clientId: account.clientId,
      login: 'alice@x.test',
      password: 'password-1',
    })
    const bob = await createUser(ctx, {
      clientId: account.clientId,
      login: 'bob@x.test',
      password: 'password-2',
    })
    const actor = (u: typeof alice): Actor => ({
      userId: u.id,
      accountId: u.accountId,
      username: u.username,
      login: u.login,
    })
    const ch = await channels.create(actor(bob), {})
    await channels.subscribe(actor(bob), { notifyURL: ch.notificationChannel.callbackURL })
    const channelId = ch.notificationChannel.resourceURL.split('/').pop()!

    await sessions.create(actor(alice), { address: 'sip:bob@x.test', sdp: 'v=0\r\n' }, async (status) => {
      log.push(`respond ${status}`)
      // Nothing may be queued for the callee while the response is being written.
      log.push(`queued ${(await store.listUndelivered(channelId, 10)).length}`)
    })
    expect(log).toEqual(['respond 201', 'queued 0', 'publish wake:1'])
    expect(await store.listUndelivered(channelId, 10)).toHaveLength(1)
    await store.close()
  })
})
