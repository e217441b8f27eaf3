/// <reference types="node" />
/**
 * The published package as a user gets it: `npm pack` of packages/sdk, installed offline into a scratch
 * project (so it can depend on nothing from the registry nor on the private workspace packages), imported
 * there by Node, and type-checked with the repository's `tsc` against a small application.
 *
 * Packs the existing build (`npm run build` first, as `npm test` does); `--ignore-scripts` keeps the test
 * from rebuilding dist/ under other tests that serve it.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const sdkDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const repoRoot = join(sdkDir, '../..')
const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

interface PackResult {
  filename: string
  files: Array<{ path: string }>
}

let work: string
let tarball: string
let packed: PackResult
let app: string

/** Runs `tsc -p` in the scratch project; returns its exit code and output. */
async function typecheck(sample: string): Promise<{ code: number; output: string }> {
  writeFileSync(join(app, 'src/app.ts'), sample)
  try {
    const { stdout } = await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app })
    return { code: 0, output: stdout }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

beforeAll(async () => {
  if (!existsSync(join(sdkDir, 'dist/index.d.ts')) || !existsSync(join(sdkDir, 'LICENSE'))) {
    throw new Error('packages/sdk is not built: run `npm run build` first')
  }
  work = mkdtempSync(join(tmpdir(), 'parley-sdk-pack-'))
  const { stdout } = await run(
    npm,
    ['pack', '--ignore-scripts', '--json', '--pack-destination', work, '--loglevel', 'error'],
    { cwd: sdkDir },
  )
  packed = (JSON.parse(stdout) as PackResult[])[0]!
  tarball = join(work, packed.filename)

  app = join(work, 'app')
  mkdirSync(join(app, 'src'), { recursive: true })
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM'],
        types: [],
        strict: true,
        noEmit: true,
        // Check the package's declarations too, not only their use.
        skipLibCheck: false,
      },
      include: ['src'],
    }),
  )
  await run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--loglevel', 'error', tarball], {
    cwd: app,
  })
}, 60_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('the packed @parley/sdk', () => {
  it('holds the ESM, script and minified builds, one .d.ts, README and LICENSE', () => {
    const paths = packed.files.map((f) => f.path)
    for (const file of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/parley.js',
      'dist/parley.min.js',
      'README.md',
      'LICENSE',
      'package.json',
    ]) {
      expect(paths, `tarball lacks ${file}`).toContain(file)
    }
    expect(paths.filter((p) => p.endsWith('.d.ts'))).toEqual(['dist/index.d.ts'])
    expect(paths.some((p) => p.includes('tsbuildinfo') || p.startsWith('src/'))).toBe(false)
  })

  it('is publishable: not private, licensed, free of side effects, with no dependencies to fetch', () => {
    const pkg = JSON.parse(
      readFileSync(join(app, 'node_modules/@parley/sdk/package.json'), 'utf8'),
    ) as Record<string, unknown>
    expect(pkg.private).toBeUndefined()
    expect(pkg.license).toBe('Apache-2.0')
    expect(pkg.sideEffects).toBe(false)
    expect(pkg.types).toBe('./dist/index.d.ts')
    expect(pkg.dependencies ?? {}).toEqual({})
    expect(pkg.peerDependencies ?? {}).toEqual({})
    const license = readFileSync(join(app, 'node_modules/@parley/sdk/LICENSE'), 'utf8')
    expect(license).toContain('Apache License')
    expect(license).toContain('Version 2.0')
  })

  it('ships self-contained declarations and an ESM build that imports nothing', async () => {
    const dts = readFileSync(join(app, 'node_modules/@parley/sdk/dist/index.d.ts'), 'utf8')
    expect(dts).not.toMatch(/^\s*(import|export)\b[^\n]*\bfrom\s+['"]/m)
    expect(dts).not.toMatch(/\bimport\(['"]/)
    expect(dts).not.toMatch(/^\s*\/\/\/\s*<reference/m)
    expect(dts).not.toContain('@parley/protocol')
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@parley/sdk'); console.log(Object.keys(m).sort().join())",
      ],
      { cwd: app },
    )
    expect(stdout.trim()).toBe('create,sdpHandlers')
  })

  it('type-checks an application using ParleyConfig, create, call.make and events', async () => {
    const result = await typecheck(`
import { create, sdpHandlers, type Api, type CallObject, type ParleyConfig } from '@parley/sdk'

const config: ParleyConfig = {
  authentication: {
    server: { base: 'parley.example.com', protocol: 'https', port: 443, version: 'v1' },
    clientCorrelator: 'sample-app',
  },
  call: {
    iceServers: [{ urls: 'stun:parley.example.com:3478' }],
    defaultPeerConfig: { iceTransportPolicy: 'relay' },
    sdpHandlers: [sdpHandlers.createCodecRemover(['VP8'])],
    ringingFeedbackMode: 'manual',
  },
  connectivity: { method: { type: 'keepAlive' }, reconnectLimit: 0 },
  subscription: { expires: 3600 },
  notifications: { idCacheLength: 50 },
  logs: { logLevel: 'WARN', handler: (entry) => console.log(entry.level, ...entry.messages) },
}

const client: Api = create(config)
client.setTokens({ accessToken: 'a', idToken: 'i' })
client.services.subscribe(['call'], 'websocket')
client.on('call:receive', (params: { callId: string }) => client.call.answer(params.callId, { audio: true }))
client.on('call:stateChange', ({ callId }: { callId: string }) => {
  const call: CallObject | undefined = client.call.getById(callId)
  if (call?.state === client.call.states.ENDED) console.log('ended', call.id)
})
const callId: string = client.call.make('bob@example.com', { audio: true, video: false })
client.call.end(callId)
client.updateConfig({ logs: { logLevel: 'debug' } })
const port: number = client.getConfig().authentication.server.port
console.log(port)
`)
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  })

  it('rejects a configuration field of the wrong type at compile time', async () => {
    const result = await typecheck(`
import { create } from '@parley/sdk'

create({
  authentication: { server: { base: 'parley.example.com', port: true }, clientCorrelator: 'sample-app' },
})
`)
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(
      /src\/app\.ts\(5,\d+\): error TS2322: Type 'true' is not assignable to type 'number | `${number}` | undefined'/,
    )
  })
})
