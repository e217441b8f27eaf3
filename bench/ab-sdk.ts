/**
 * A/B of two SDK builds on the demo measurement (issue 14): BENCH_AB="nameA=dir,nameB=dir" (each dir holds a
 * parley.js), ROUNDS rounds; each round runs one demo call (and its bare pair) per build, in turn, so that the
 * machine's noise hits both alike. Prints per build the medians of make→Connected, of its bare pair, and of the
 * per-round ratio.
 */
import { readFileSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { CHROMIUM_ARGS } from '../e2e/harness.js'
import { demoMeasurement } from './call-setup-demo.js'

const ROUNDS = Number(process.env.ROUNDS ?? 20)
const variants = (process.env.BENCH_AB ?? '').split(',').map((v) => {
  const [name, dir] = v.split('=') as [string, string]
  return { name, bundle: readFileSync(`${dir}/parley.js`, 'utf8') }
})
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
  headless: true,
})
try {
  const ms = []
  for (const v of variants)
    ms.push({
      ...v,
      m: await demoMeasurement(browser, process.env.BENCH_TIMELINE !== '0', v.bundle),
      rows: [] as { p: number; b: number; pf: number; bf: number }[],
    })
  for (const x of ms) for (let i = 0; i < 2; i++) await x.m.run()
  for (let r = 0; r < ROUNDS; r++)
    for (const x of r % 2 ? [...ms].reverse() : ms) {
      const run = await x.m.run()
      x.rows.push({
        p: run.parley.connected,
        b: run.baseline.connected,
        pf: run.parley.firstFrame,
        bf: run.baseline.firstFrame,
      })
    }
  for (const x of ms) {
    const c = x.rows.map((r) => r.p),
      b = x.rows.map((r) => r.b)
    console.log(
      JSON.stringify({
        name: x.name,
        parley: median(c).toFixed(1),
        bare: median(b).toFixed(1),
        ratioOfMedians: (median(c) / median(b)).toFixed(3),
        medianPairRatio: median(x.rows.map((r) => r.p / r.b)).toFixed(3),
        firstFrameRatio: (median(x.rows.map((r) => r.pf)) / median(x.rows.map((r) => r.bf))).toFixed(3),
      }),
    )
  }
  for (const x of ms) await x.m.close()
} finally {
  await browser.close()
}
