import { describe, expect, it } from 'vitest'
import { Logger } from '../core/logger.js'
import { RestClient } from './rest.js'

const log = new Logger(() => ({ level: 'silent', handler: () => undefined }), { type: 't', name: 't' })

/** A client whose every request gets `reply`; records whether the reply's body was read. */
function client(reply: () => Response) {
  const reads: string[] = []
  const rest = new RestClient({
    fetch: async () => {
      const res = reply()
      const json = res.json.bind(res)
      res.json = () => {
        reads.push('json')
        return json()
      }
      return res
    },
    origin: () => 'https://example.com',
    accessToken: () => 'token',
    onAuthError: () => undefined,
    agent: 'test',
    log,
  })
  return { rest, reads }
}

describe('RestClient reply bodies', () => {
  it('reads and parses a 200 body', async () => {
    const { rest, reads } = client(() => new Response('{"a":1}', { status: 200 }))
    await expect(rest.request('PUT', '/x', {})).resolves.toEqual({ a: 1 })
    expect(reads).toEqual(['json'])
  })

  it('discardBody: a success resolves with {} without reading the body', async () => {
    const { rest, reads } = client(() => new Response('not json', { status: 200 }))
    await expect(rest.request('PUT', '/x', {}, { discardBody: true })).resolves.toEqual({})
    expect(reads).toEqual([])
  })

  it('discardBody: an error reply is still read and reported', async () => {
    const body = { requestError: { serviceException: { messageId: 'SVC0004', text: 'No such session' } } }
    const { rest } = client(() => new Response(JSON.stringify(body), { status: 404 }))
    await expect(rest.request('PUT', '/x', {}, { discardBody: true })).rejects.toMatchObject({ status: 404 })
  })
})
