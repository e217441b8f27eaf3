// Builds the SDK (architecture §7):
//   dist/index.js      ESM bundle, self-contained (the protocol package and sdp-transform are bundled in)
//   dist/index.d.ts    its types in one self-contained file (dts-bundle-generator; sdp-transform's inlined)
//   dist/parley.js     IIFE for <script> tags: defines window.Parley and window.Kandy (same object)
//   dist/parley.min.js the same, minified
// and LICENSE (a copy of the repository's, for the published package), and prints the minified and
// gzipped size of parley.min.js (target ≤ 40 kB gzipped).
import { execFileSync } from 'node:child_process'
import { copyFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const LIMIT_GZIP = 40 * 1024

rmSync(dist, { recursive: true, force: true })
mkdirSync(dist, { recursive: true })

const common = {
  entryPoints: [join(root, 'src/index.ts')],
  bundle: true,
  platform: 'browser',
  target: ['chrome94', 'firefox93', 'safari15.4', 'edge94'],
  define: { __PARLEY_VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
}

// The script build exposes the module's exports as `Parley` and aliases `Kandy` to the same object,
// so the Kandy quickstart runs with only its <script> tag changed (sdk-api §0.3).
const footer = {
  js: ';(function (g) { g.Parley = Parley; g.Kandy = Parley })(typeof window !== "undefined" ? window : globalThis);',
}

await build({ ...common, format: 'esm', outfile: join(dist, 'index.js'), sourcemap: true })
await build({
  ...common,
  format: 'iife',
  globalName: 'Parley',
  footer,
  outfile: join(dist, 'parley.js'),
  sourcemap: true,
})
await build({
  ...common,
  format: 'iife',
  globalName: 'Parley',
  footer,
  outfile: join(dist, 'parley.min.js'),
  minify: true,
  sourcemap: true,
})

// One declaration file with no imports: the published package must not need @parley/protocol (private)
// nor @types/sdp-transform. tsc -p tsconfig.json (typecheck) still checks the sources themselves.
execFileSync(
  process.execPath,
  [
    join(root, '../../node_modules/dts-bundle-generator/dist/bin/dts-bundle-generator.js'),
    '--silent',
    '--no-banner',
    '--export-referenced-types=false',
    '--project',
    join(root, 'tsconfig.json'),
    '--external-inlines',
    'sdp-transform',
    '-o',
    join(dist, 'index.d.ts'),
    join(root, 'src/index.ts'),
  ],
  { stdio: 'inherit' },
)
copyFileSync(join(root, '../../LICENSE'), join(root, 'LICENSE'))

const min = readFileSync(join(dist, 'parley.min.js'))
const gz = gzipSync(min, { level: 9 }).length
const kb = (n) => `${(n / 1024).toFixed(1)} kB`
console.log(`dist/parley.min.js: ${kb(min.length)} minified, ${kb(gz)} gzipped (limit ${kb(LIMIT_GZIP)})`)
if (gz > LIMIT_GZIP) {
  console.error('parley.min.js is over the size budget')
  process.exit(1)
}
