import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import { sendProtocolError } from './errors.js'

/** Headers of the "Call us" page: same-origin script, media and requests only, never framed. */
const HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; " +
    "media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Permissions-Policy': 'camera=(self), microphone=(self)',
  'Cache-Control': 'no-cache',
}

/**
 * `GET /demo/anonymous` (issue 15): the visitor's side of anonymous click-to-call, `demo/anonymous.html`
 * served as it is; the page reads its key and destination from its query string or data attributes.
 */
export function anonymousDemoRoutes(app: FastifyInstance, config: Pick<Config, 'demoDir'>): void {
  app.get('/demo/anonymous', async (_request, reply) => {
    if (!config.demoDir) return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
    let page: string
    try {
      page = await readFile(join(config.demoDir, 'anonymous.html'), 'utf8')
    } catch {
      return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
    }
    return reply.headers(HEADERS).type('text/html; charset=utf-8').send(page)
  })
}
