import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Config } from '../config.js'
import { fillDemoPage } from './demo-page.js'
import { sendProtocolError } from './errors.js'
import { protocolErrors } from './openapi.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
}

/** Security headers of the pages Parley serves. The seed demo uses inline script and handlers, hence 'unsafe-inline'. */
const PAGE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; " +
    "media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Permissions-Policy': 'camera=(self), microphone=(self), display-capture=(self)',
}

async function sendFile(reply: FastifyReply, dir: string | null, name: string): Promise<FastifyReply> {
  if (!dir) return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
  let content: Buffer
  try {
    content = await readFile(join(dir, name))
  } catch {
    return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
  }
  const ext = name.slice(name.lastIndexOf('.'))
  return reply
    .headers(PAGE_HEADERS)
    .header('Cache-Control', 'no-cache')
    .type(TYPES[ext] ?? 'application/octet-stream')
    .send(content)
}

/** The documentation of a file route: 200 with the file, or 404 when it is not there (or not configured). */
function fileSchema(operationId: string, summary: string, type: string) {
  const mediaType = type.split(';')[0]!
  return {
    tags: ['Static'],
    operationId,
    summary,
    response: {
      200: { description: summary, content: { [mediaType]: { schema: { type: 'string' } } } },
      ...protocolErrors(404),
    },
  }
}

/** The SDK bundles at `/sdk/…` and the demo at `/`: a fixed list of files, nothing else from disk. */
export function staticRoutes(app: FastifyInstance, config: Config): void {
  for (const name of ['parley.js', 'parley.min.js', 'parley.js.map', 'parley.min.js.map']) {
    const ext = name.slice(name.lastIndexOf('.'))
    const schema = fileSchema(
      `sdk-${name.replace(/\./g, '-')}`,
      ext === '.map'
        ? `Source map of /sdk/${name.slice(0, -4)}`
        : `SDK bundle (IIFE: window.Parley, window.Kandy)`,
      TYPES[ext]!,
    )
    app.get(`/sdk/${name}`, { schema }, (_req, reply) => sendFile(reply, config.sdkDir, name))
  }
  const demo = fileSchema(
    'demoPage',
    'The demo page (when the server has the demo directory)',
    TYPES['.html']!,
  )
  app.get('/', { schema: demo }, async (request, reply) => {
    if (!config.demoDir) return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
    let template: string
    try {
      template = await readFile(join(config.demoDir, 'index.html'), 'utf8')
    } catch {
      return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
    }
    return reply
      .headers(PAGE_HEADERS)
      .header('Cache-Control', 'no-cache')
      .type(TYPES['.html']!)
      .send(fillDemoPage(template, config, request.headers.host))
  })
}
