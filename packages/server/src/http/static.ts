import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Config } from '../config.js'
import type { DemoDirectory } from '../services/demo.js'
import { fillAppPage, fillDemoPage } from './demo-page.js'
import { sendProtocolError } from './errors.js'
import { protocolErrors } from './openapi.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
}

const CSP_COMMON =
  "default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/** Security headers of the pages Parley serves. The seed demo uses inline script and handlers, hence 'unsafe-inline'. */
const PAGE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': `${CSP_COMMON}; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'`,
  'Permissions-Policy': 'camera=(self), microphone=(self), display-capture=(self)',
}

/** The calling app at `/` has no inline script or style, so its policy allows only the server's own files. */
const APP_HEADERS = {
  ...PAGE_HEADERS,
  'Content-Security-Policy': `${CSP_COMMON}; script-src 'self'; style-src 'self'`,
}

async function sendFile(
  reply: FastifyReply,
  dir: string | null,
  name: string,
  headers: Record<string, string> = PAGE_HEADERS,
): Promise<FastifyReply> {
  if (!dir) return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
  let content: Buffer
  try {
    content = await readFile(join(dir, name))
  } catch {
    return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
  }
  const ext = name.slice(name.lastIndexOf('.'))
  return reply
    .headers(headers)
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

async function sendPage(
  reply: FastifyReply,
  dir: string | null,
  name: string,
  headers: Record<string, string>,
  fill: (template: string) => string | Promise<string>,
): Promise<FastifyReply> {
  if (!dir) return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
  let template: string
  try {
    template = await readFile(join(dir, name), 'utf8')
  } catch {
    return sendProtocolError(reply, 'UNKNOWN_RESOURCE')
  }
  const page = await fill(template)
  return reply.headers(headers).header('Cache-Control', 'no-cache').type(TYPES['.html']!).send(page)
}

/**
 * The SDK bundles at `/sdk/…`, the calling app at `/` (with its files under `/app/`) and the seed's Kandy
 * quickstart at `/quickstart`: a fixed list of files, nothing else from disk. `demoDirectory` tells the
 * app the demo account's client ID and users when the server runs with `--demo`.
 */
export function staticRoutes(
  app: FastifyInstance,
  config: Config,
  demoDirectory: () => Promise<DemoDirectory | undefined> = async () => undefined,
): void {
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
  const appDir = config.demoDir && join(config.demoDir, 'app')
  for (const name of ['app.js', 'app.css']) {
    const schema = fileSchema(
      `app-${name.replace(/\./g, '-')}`,
      `Script or style sheet of the calling app at /`,
      TYPES[name.slice(name.lastIndexOf('.'))]!,
    )
    app.get(`/app/${name}`, { schema }, (_req, reply) => sendFile(reply, appDir, name, APP_HEADERS))
  }
  const appPage = fileSchema(
    'appPage',
    'The calling app (when the server has the demo directory)',
    TYPES['.html']!,
  )
  app.get('/', { schema: appPage }, (_request, reply) =>
    sendPage(reply, appDir, 'index.html', APP_HEADERS, async (t) =>
      fillAppPage(t, config, await demoDirectory()),
    ),
  )
  const quickstart = fileSchema(
    'quickstartPage',
    "The Kandy quickstart's demo page, unchanged but for the script tag",
    TYPES['.html']!,
  )
  app.get('/quickstart', { schema: quickstart }, (request, reply) =>
    sendPage(reply, config.demoDir, 'index.html', PAGE_HEADERS, (t) =>
      fillDemoPage(t, config, request.headers.host),
    ),
  )
  // The quickstart's call quality panel: a separate script and style sheet beside the seed's page.
  for (const name of ['quality-panel.js', 'quality-panel.css']) {
    const schema = fileSchema(
      `quickstart-${name.replace(/\./g, '-')}`,
      "Script or style sheet of the quickstart's call quality panel",
      TYPES[name.slice(name.lastIndexOf('.'))]!,
    )
    app.get(`/quickstart/${name}`, { schema }, (_req, reply) => sendFile(reply, config.demoDir, name))
  }
  uplotRoutes(app, '/quickstart/vendor', 'quickstart', "the quickstart's quality panel", PAGE_HEADERS)
}

/** uPlot's browser build, served from its npm package (MIT; the console's quality timeline chart). */
function uplotDirectory(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'))
  } catch {
    return null
  }
}

/**
 * The operator console at `/console` (README "Operator console"): a page, its script and style sheet from
 * `demo/console/`, and uPlot from node_modules. No inline script or style: the strict policy of the app.
 */
export function consoleRoutes(app: FastifyInstance, config: Config): void {
  const dir = config.demoDir && join(config.demoDir, 'console')
  const page = fileSchema('consolePage', 'The operator console', TYPES['.html']!)
  app.get('/console', { schema: page }, (_request, reply) => sendFile(reply, dir, 'index.html', APP_HEADERS))
  for (const name of ['console.js', 'console.css']) {
    const schema = fileSchema(
      `console-${name.replace(/\./g, '-')}`,
      'Script or style sheet of the operator console',
      TYPES[name.slice(name.lastIndexOf('.'))]!,
    )
    app.get(`/console/${name}`, { schema }, (_req, reply) => sendFile(reply, dir, name, APP_HEADERS))
  }
  uplotRoutes(app, '/console/vendor', 'console', 'the console', APP_HEADERS)
}

/** uPlot's script and style sheet under `prefix` (the console and the quickstart's quality panel). */
function uplotRoutes(
  app: FastifyInstance,
  prefix: string,
  operationPrefix: string,
  user: string,
  headers: Record<string, string>,
): void {
  const vendor = uplotDirectory()
  for (const name of ['uPlot.iife.min.js', 'uPlot.min.css']) {
    const schema = fileSchema(
      `${operationPrefix}-vendor-${name.replace(/\./g, '-')}`,
      `uPlot (MIT), the chart library of ${user}`,
      TYPES[name.slice(name.lastIndexOf('.'))]!,
    )
    app.get(`${prefix}/${name}`, { schema }, (_req, reply) => sendFile(reply, vendor, name, headers))
  }
}
