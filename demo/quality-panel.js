/**
 * Live call quality panel for the quickstart page (README "Call quality"): four uPlot charts (bitrate, RTT,
 * packet loss, MOS) and the warnings in force, fed by the SDK's call:qualityChange, call:qualityWarning and
 * call:qualityWarningCleared events. A separate script: the seed's own code is not touched. It is loaded after
 * the seed's script and attaches to the seed's `client` (a global lexical binding of that script, readable
 * from any later classic script); another page can call `ParleyQualityPanel.attach(itsClient)` instead.
 */
;(function () {
  'use strict'

  /** Points kept per chart: two minutes at the default 2 s sampling interval. */
  const KEEP = 60

  const CHARTS = [
    {
      key: 'bitrate',
      title: 'Bitrate',
      unit: 'kbit/s',
      series: [
        { label: 'received', stroke: '#3346c9', pick: (s) => sum(s.audio.inbound, s.video.inbound, 'bitrate') },
        { label: 'sent', stroke: '#c2410c', pick: (s) => sum(s.audio.outbound, s.video.outbound, 'bitrate') },
      ],
      format: (v) => v.toFixed(0) + ' kbit/s',
    },
    {
      key: 'rtt',
      title: 'Round-trip time',
      unit: 'ms',
      series: [{ label: 'RTT', stroke: '#137a3d', pick: (s) => s.rtt }],
      format: (v) => v.toFixed(0) + ' ms',
    },
    {
      key: 'loss',
      title: 'Packet loss (received)',
      unit: '%',
      series: [
        { label: 'audio', stroke: '#3346c9', pick: (s) => percent(s.audio.inbound) },
        { label: 'video', stroke: '#9333ea', pick: (s) => percent(s.video.inbound) },
      ],
      format: (v) => v.toFixed(1) + ' %',
      // A little below 0 so that a loss-free line is drawn whole, not half under the axis.
      range: (_u, _min, max) => [-0.2, Math.max(5, max * 1.1)],
    },
    {
      key: 'mos',
      title: 'MOS (received audio)',
      unit: 'MOS',
      series: [{ label: 'MOS', stroke: '#c2410c', pick: (s) => s.mos }],
      format: (v) => v.toFixed(2),
      range: [1, 4.5],
    },
  ]

  const WARNING_TEXT = {
    'high-rtt': 'High round-trip time',
    'high-packet-loss': 'High packet loss',
    'high-jitter': 'High jitter',
    'low-mos': 'Low call quality (MOS)',
    'frozen-video': 'Remote video frozen',
    'silent-microphone': 'Your microphone sends silence',
  }

  function sum(a, b, field) {
    if (!a && !b) return undefined
    return (a ? a[field] : 0) + (b ? b[field] : 0)
  }

  function percent(stream) {
    return stream ? stream.packetLoss * 100 : undefined
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v)
    node.append(...children)
    return node
  }

  function addStyles() {
    for (const href of ['/quickstart/vendor/uPlot.min.css', '/quickstart/quality-panel.css']) {
      document.head.append(el('link', { rel: 'stylesheet', href }))
    }
  }

  /** The panel's DOM: status line, one figure per chart with its current value, the warnings list. */
  function buildPanel() {
    const figures = {}
    const readouts = {}
    const grid = el('div', { class: 'qp-grid' })
    for (const c of CHARTS) {
      readouts[c.key] = el('output', { id: 'qp-value-' + c.key, 'data-value': '' }, '—')
      const plot = el('div', { class: 'qp-plot', role: 'img', 'aria-label': c.title + ' over time, ' + c.unit })
      figures[c.key] = plot
      grid.append(
        el(
          'figure',
          { class: 'qp-figure', id: 'qp-chart-' + c.key },
          el('figcaption', {}, c.title + ': ', readouts[c.key]),
          plot,
        ),
      )
    }
    const status = el('p', { id: 'qp-status', class: 'qp-status' }, 'No call in progress.')
    const warnings = el('ul', { id: 'qp-warnings', class: 'qp-warnings', 'aria-live': 'polite', 'aria-relevant': 'additions removals' })
    const none = el('p', { id: 'qp-no-warnings', class: 'qp-none' }, 'No warnings.')
    const section = el(
      'section',
      { id: 'quality-panel', class: 'qp', 'aria-labelledby': 'qp-title' },
      el('h2', { id: 'qp-title' }, 'Call quality'),
      status,
      grid,
      el('h3', { id: 'qp-warnings-title' }, 'Warnings'),
      none,
      warnings,
    )
    warnings.setAttribute('aria-labelledby', 'qp-warnings-title')
    document.body.append(section)
    return { figures, readouts, status, warnings, none }
  }

  /** Subscribes the panel to one SDK client's quality events. */
  function attach(client) {
    addStyles()
    const ui = buildPanel()
    const plots = {}
    let callId = null
    let times = []
    let values = {}

    function reset(id) {
      callId = id
      times = []
      values = {}
      for (const c of CHARTS) values[c.key] = c.series.map(() => [])
      ui.warnings.replaceChildren()
      ui.none.hidden = false
    }

    function plot(c) {
      if (plots[c.key] || !window.uPlot) return plots[c.key]
      const width = Math.max(260, ui.figures[c.key].clientWidth || 320)
      plots[c.key] = new window.uPlot(
        {
          width,
          height: 160,
          legend: { show: true },
          series: [
            {},
            ...c.series.map((s) => ({
              label: s.label,
              stroke: s.stroke,
              width: 2,
              spanGaps: true,
              value: (_u, v) => (v === null || v === undefined ? '—' : c.format(v)),
            })),
          ],
          axes: [{}, { label: c.unit, size: 56 }],
          scales: c.range ? { y: { range: c.range } } : {},
        },
        [[], ...c.series.map(() => [])],
        ui.figures[c.key],
      )
      return plots[c.key]
    }

    client.on('call:qualityChange', ({ callId: id, sample }) => {
      if (id !== callId) reset(id)
      ui.status.textContent = 'Live: a sample every ' + (sample.duration / 1000).toFixed(1) + ' s.'
      times.push(sample.timestamp / 1000)
      if (times.length > KEEP) times.shift()
      for (const c of CHARTS) {
        const latest = []
        c.series.forEach((s, i) => {
          const v = s.pick(sample)
          const list = values[c.key][i]
          list.push(typeof v === 'number' ? v : null)
          if (list.length > KEEP) list.shift()
          if (typeof v === 'number') latest.push({ label: s.label, v })
        })
        const readout = ui.readouts[c.key]
        const many = c.series.length > 1
        readout.textContent = latest.length
          ? latest.map((x) => (many ? x.label + ' ' : '') + c.format(x.v)).join(', ')
          : '—'
        // The first series' number, for scripts and tests (received bitrate, RTT, received audio loss, MOS).
        readout.setAttribute('data-value', latest.length ? String(latest[0].v) : '')
        const chart = plot(c)
        if (chart) chart.setData([times.slice(), ...values[c.key].map((l) => l.slice())])
      }
    })

    client.on('call:qualityWarning', ({ callId: id, warning, value, threshold }) => {
      if (id !== callId) reset(id)
      ui.warnings.querySelector('[data-warning="' + warning + '"]')?.remove()
      const text = (WARNING_TEXT[warning] || warning) + ' (' + warning + ': ' + round(value) + ', limit ' + round(threshold) + ')'
      ui.warnings.append(el('li', { 'data-warning': warning, class: 'qp-warning' }, text))
      ui.none.hidden = true
    })

    client.on('call:qualityWarningCleared', ({ callId: id, warning }) => {
      if (id !== callId) return
      ui.warnings.querySelector('[data-warning="' + warning + '"]')?.remove()
      ui.none.hidden = ui.warnings.children.length > 0
    })

    client.on('call:stateChange', ({ callId: id }) => {
      const call = client.call.getById(id)
      if (id === callId && call && (call.state === 'Ended' || call.state === 'Cancelled')) {
        ui.status.textContent = 'Call ended; the charts show its last two minutes.'
        ui.warnings.replaceChildren()
        ui.none.hidden = false
      }
    })
    return ui
  }

  function round(v) {
    return typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v)
  }

  window.ParleyQualityPanel = { attach }
  // The seed quickstart's client (`const client = Kandy.create(…)` in its script).
  // eslint-disable-next-line no-undef
  if (typeof client !== 'undefined') attach(client)
})()
