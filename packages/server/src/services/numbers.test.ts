import { afterEach, describe, expect, it } from 'vitest'
import { makeConfig } from '../config.js'
import { createContext } from '../deps.js'
import { AdminError, createAccount, createUser, deleteUser } from './accounts.js'
import type { Clock, ServiceContext } from './context.js'
import {
  addNumber,
  assignNumber,
  callerIdFor,
  deleteNumber,
  isE164,
  listNumbers,
  lookupInboundNumber,
  NumberService,
} from './numbers.js'

/** A clock the test moves, so that assignment order is explicit. */
function steppingClock(start = 1_700_000_000_000): Clock {
  let now = start
  return { now: () => (now += 1000) }
}

const contexts: ServiceContext[] = []
afterEach(async () => {
  for (const ctx of contexts.splice(0)) await ctx.store.close()
})

async function setup() {
  const ctx = await createContext(makeConfig({ db: 'sqlite::memory:', logLevel: 'silent' }), {
    clock: steppingClock(),
  })
  contexts.push(ctx)
  const acme = await createAccount(ctx, 'Acme')
  const other = await createAccount(ctx, 'Other')
  const alice = await createUser(ctx, {
    clientId: acme.clientId,
    login: 'alice@acme.test',
    password: 'password1',
  })
  const bob = await createUser(ctx, {
    clientId: acme.clientId,
    login: 'bob@acme.test',
    password: 'password1',
  })
  const carol = await createUser(ctx, {
    clientId: other.clientId,
    login: 'carol@other.test',
    password: 'password1',
  })
  return { ctx, acme, other, alice, bob, carol }
}

async function adminError(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => expect.fail('expected an AdminError'),
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AdminError)
  return (error as Error).message
}

describe('E.164 validation', () => {
  it('isE164 takes + and 2 to 15 digits, the first not 0', () => {
    for (const ok of ['+15550100', '+44', '+123456789012345', '+4930123456'])
      expect(isE164(ok), ok).toBe(true)
    for (const bad of [
      '15550100',
      '+0123',
      '+1',
      '+1234567890123456',
      '+1 555 0100',
      '+1-555',
      '',
      '+',
      '++15',
    ]) {
      expect(isE164(bad), bad).toBe(false)
    }
  })
})

describe('telephone numbers (issue 11)', () => {
  it('addNumber() with a user makes it their caller ID; lookupInboundNumber() finds account and user', async () => {
    const { ctx, acme, alice } = await setup()
    const added = await addNumber(ctx, {
      clientId: acme.clientId,
      number: '+15550100',
      user: 'Alice@Acme.test',
    })
    expect(added).toMatchObject({
      number: '+15550100',
      clientId: acme.clientId,
      accountId: acme.id,
      user: 'alice@acme.test',
      userId: alice.id,
      callerId: true,
    })
    expect(added.assignedAt).toBe(added.createdAt)
    expect(await lookupInboundNumber(ctx, '+15550100')).toStrictEqual({
      accountId: acme.id,
      userId: alice.id,
    })
    expect(await callerIdFor(ctx, alice.id)).toBe('+15550100')
  })

  it('an unassigned number routes to its account only; an unknown or malformed one to nothing', async () => {
    const { ctx, acme } = await setup()
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550101' })
    expect(await lookupInboundNumber(ctx, '+15550101')).toStrictEqual({ accountId: acme.id })
    expect(await lookupInboundNumber(ctx, '+15550199')).toBeUndefined()
    expect(await lookupInboundNumber(ctx, 'sip:+15550101@x')).toBeUndefined()
  })

  it("a user's first assigned number stays their caller ID when more are assigned", async () => {
    const { ctx, acme, alice } = await setup()
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550300' })
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550200' })
    await assignNumber(ctx, { number: '+15550300', user: 'alice@acme.test' })
    const second = await assignNumber(ctx, { number: '+15550200', user: 'alice@acme.test' })
    expect(second.callerId).toBe(false)
    expect(await callerIdFor(ctx, alice.id)).toBe('+15550300')
    // Assigning it again to the same user keeps the order.
    await assignNumber(ctx, { number: '+15550300', user: 'alice@acme.test' })
    expect(await callerIdFor(ctx, alice.id)).toBe('+15550300')
    const listed = await listNumbers(ctx, acme.clientId)
    expect(listed.map((n) => [n.number, n.callerId])).toStrictEqual([
      ['+15550300', true],
      ['+15550200', false],
    ])
  })

  it('assignNumber() moves a number to another user of its account; the old owner loses the caller ID', async () => {
    const { ctx, acme, alice, bob } = await setup()
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550100', user: 'alice@acme.test' })
    const moved = await assignNumber(ctx, { number: '+15550100', user: 'bob@acme.test' })
    expect(moved).toMatchObject({ user: 'bob@acme.test', userId: bob.id, callerId: true })
    expect(await callerIdFor(ctx, alice.id)).toBeUndefined()
    expect(await new NumberService(ctx).callerIdFor(bob.id)).toBe('+15550100')
    expect(await new NumberService(ctx).lookupInboundNumber('+15550100')).toStrictEqual({
      accountId: acme.id,
      userId: bob.id,
    })
  })

  it('a user of another account can never get the number', async () => {
    const { ctx, acme, other } = await setup()
    expect(
      await adminError(
        addNumber(ctx, { clientId: acme.clientId, number: '+15550100', user: 'carol@other.test' }),
      ),
    ).toBe(`no user carol@other.test in the account of client id "${acme.clientId}"`)
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550100' })
    expect(await adminError(assignNumber(ctx, { number: '+15550100', user: 'carol@other.test' }))).toContain(
      'no user carol@other.test',
    )
    expect(await listNumbers(ctx, other.clientId)).toStrictEqual([])
    expect(await lookupInboundNumber(ctx, '+15550100')).toStrictEqual({ accountId: acme.id })
  })

  it('a number is unique across the server: a second account cannot add it', async () => {
    const { ctx, acme, other } = await setup()
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550100' })
    expect(await adminError(addNumber(ctx, { clientId: other.clientId, number: '+15550100' }))).toBe(
      'number +15550100 already exists on this server',
    )
  })

  it('bad input is refused with one line naming the problem', async () => {
    const { ctx, acme } = await setup()
    expect(await adminError(addNumber(ctx, { clientId: acme.clientId, number: '5550100' }))).toMatch(
      /^--number must be an E\.164 number/,
    )
    expect(await adminError(addNumber(ctx, { clientId: 'nope', number: '+15550100' }))).toBe(
      'no account with client id "nope"',
    )
    expect(await adminError(assignNumber(ctx, { number: '+15550111', user: 'alice@acme.test' }))).toBe(
      'no number +15550111 on this server',
    )
    expect(await adminError(deleteNumber(ctx, '+15550111'))).toBe('no number +15550111 on this server')
    expect(await adminError(listNumbers(ctx, 'nope'))).toBe('no account with client id "nope"')
  })

  it('deleting a user leaves their number with the account, unassigned; deleteNumber() removes it', async () => {
    const { ctx, acme, alice } = await setup()
    await addNumber(ctx, { clientId: acme.clientId, number: '+15550100', user: 'alice@acme.test' })
    await deleteUser(ctx, acme.clientId, 'alice@acme.test')
    expect(await callerIdFor(ctx, alice.id)).toBeUndefined()
    expect(await lookupInboundNumber(ctx, '+15550100')).toStrictEqual({ accountId: acme.id })
    expect((await listNumbers(ctx))[0]).toMatchObject({ number: '+15550100', user: null, assignedAt: null })
    expect(await deleteNumber(ctx, '+15550100')).toMatchObject({ number: '+15550100', deleted: true })
    expect(await listNumbers(ctx)).toStrictEqual([])
  })
})
