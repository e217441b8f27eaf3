import { Writable } from 'node:stream'
import { ProtocolClient } from '@parley/test-kit'
import { describe, expect, it } from 'vitest'
import { makeConfig } from './config.js'
import { createLogger } from './deps.js'
import { startServer } from './main.js'
import { createAccount, createUser } from './services/accounts.js'

describe('logs', () => {
  it('never contain passwords, tokens or the TURN secret, even at trace level', async () => {
    let logs = ''
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logs += String(chunk)
        cb()
      },
    })
    const config = makeConfig({
      port: 0,
      db: 'sqlite::memory:',
      logLevel: 'trace',
      turnSecret: 'turn-secret-do-not-log',
    })
    const server = await startServer(config, { log: createLogger(config, sink) })
    try {
      const account = await createAccount(server.ctx, 'A')
      await createUser(server.ctx, {
        clientId: account.clientId,
        login: 'alice@x.test',
        password: 'alice-password-do-not-log',
      })
      await createUser(server.ctx, {
        clientId: account.clientId,
        login: 'bob@x.test',
        password: 'bob-password-do-not-log',
      })
      const alice = new ProtocolClient(
        server.url,
        account.clientId,
        'alice@x.test',
        'alice-password-do-not-log',
      )
      const bob = new ProtocolClient(server.url, account.clientId, 'bob@x.test', 'bob-password-do-not-log')
      const wrong = new ProtocolClient(
        server.url,
        account.clientId,
        'bob@x.test',
        'wrong-password-do-not-log',
      )
      await expect(wrong.login()).rejects.toThrow()
      for (const c of [alice, bob]) {
        await c.login()
        await c.subscribe()
      }
      const turn = await alice.turn()
      const { legId } = await alice.call('bob@x.test')
      await bob.invitation()
      await alice.end(legId)
      await alice.request(
        'POST',
        `${alice.signaling}/turn`,
        { wrtcsTurnCredentials: {} },
        'garbage-token-do-not-log',
      )
      alice.kill()
      bob.kill()
      expect(logs.length).toBeGreaterThan(1000) // trace level really logged the traffic
      for (const secret of [
        'do-not-log',
        alice.accessToken,
        alice.idToken,
        alice.refreshToken,
        bob.accessToken,
        turn.body.wrtcsTurnCredentials.password,
      ]) {
        expect(logs).not.toContain(secret)
      }
    } finally {
      await server.close()
    }
  })
})
