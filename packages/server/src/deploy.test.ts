import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { afterAll, describe, expect, it } from 'vitest'
import { SERVE_OPTIONS } from './config.js'
import { selfSignedCertificate } from './main.js'

const deploy = (name: string) => new URL(`../../../deploy/${name}`, import.meta.url)
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p))
// Locally without nginx the check is skipped; CI installs nginx (.ci/run), so there it must run.
const nginxIt = NGINX || process.env.CI === 'true' ? it : it.skip

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('deploy/', () => {
  nginxIt('nginx -t accepts deploy/nginx-parley.conf with a generated certificate', async () => {
    expect(NGINX, 'nginx is installed').toBeDefined()
    const dir = mkdtempSync(join(tmpdir(), 'parley-deploy-nginx-'))
    dirs.push(dir)
    const { key, cert } = await selfSignedCertificate()
    writeFileSync(join(dir, 'cert.pem'), cert)
    writeFileSync(join(dir, 'key.pem'), key)
    const site = readFileSync(deploy('nginx-parley.conf'), 'utf8')
      .replace('/etc/ssl/calls.example.com.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/calls.example.com.key', join(dir, 'key.pem'))
    expect(site, 'the site file names the certificate files the test replaces').toContain(
      join(dir, 'key.pem'),
    )
    writeFileSync(join(dir, 'site.conf'), site)
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`,
    )
    const run = spawnSync(NGINX!, ['-t', '-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf')], {
      encoding: 'utf8',
      timeout: 15_000,
    })
    expect(run.status, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/test is successful/)
  })

  it('deploy/parley.yaml parses and uses only `parley serve` flag names, with fitting types', () => {
    const config = parse(readFileSync(deploy('parley.yaml'), 'utf8')) as Record<string, unknown>
    expect(config).toBeTypeOf('object')
    const known = SERVE_OPTIONS as Record<string, { type: string; multiple?: boolean }>
    expect(Object.keys(config).filter((k) => !(k in known))).toEqual([])
    for (const [key, value] of Object.entries(config)) {
      const def = known[key]!
      if (def.multiple) expect(Array.isArray(value), key).toBe(true)
      else if (def.type === 'boolean') expect(typeof value, key).toBe('boolean')
      else expect(['string', 'number'], key).toContain(typeof value)
    }
    for (const key of ['host', 'port', 'db', 'turn-url', 'turn-secret', 'log-level', 'domain'])
      expect(config, key).toHaveProperty(key)
  })

  it('deploy/parley.yaml comments each flag with its env variable', () => {
    const text = readFileSync(deploy('parley.yaml'), 'utf8')
    for (const [key, def] of Object.entries(SERVE_OPTIONS)) {
      if (key === 'config') continue // the file itself
      expect(text, `${key} is in the example`).toMatch(new RegExp(`^#? ?${key}:`, 'm'))
      expect(text, `${key}'s env variable is named`).toContain(def.env)
    }
  })

  it('deploy/parley.service runs the launcher with the config and stops gracefully', () => {
    const unit = readFileSync(deploy('parley.service'), 'utf8')
    for (const line of [
      'ExecStart=/usr/bin/env node /opt/parley/packages/server/bin/parley.js serve --config /etc/parley/parley.yaml',
      'User=parley',
      'Restart=on-failure',
      'KillSignal=SIGTERM',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/parley',
    ])
      expect(unit.split('\n'), line).toContain(line)
    const stop = /^TimeoutStopSec=(\d+)s$/m.exec(unit)
    // The cluster primary gives its workers 10 s (cluster/primary.ts) before killing them.
    expect(Number(stop?.[1]), 'TimeoutStopSec leaves room for the graceful shutdown').toBeGreaterThan(10)
    expect(existsSync(new URL('../bin/parley.js', import.meta.url)), 'the launcher exists').toBe(true)
  })
})
