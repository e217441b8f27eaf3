/* Parley operator console: a small single-page script over the admin API (README "Operator console").
   The session cookie is HttpOnly; the CSRF token from the sign-in answer goes in X-Parley-CSRF on every
   POST, PUT and DELETE. Pages are hash routes; live calls are polled every 2 seconds. */
'use strict'
;(function () {
  const API = '/parley/admin/v1'
  const LIVE_POLL_MS = 2000
  const $ = (id) => document.getElementById(id)
  const pages = ['sign-in', 'live', 'history', 'call', 'users', 'numbers', 'health']
  let csrf = ''
  let me = null
  let liveTimer = 0
  let accounts = []
  let historyNext = null
  const charts = []

  class ApiFailure extends Error {
    constructor(status, text) {
      super(text)
      this.status = status
    }
  }

  /** One admin API request; a protocol error body becomes an ApiFailure with its formatted text. */
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' }
    if (method !== 'GET') headers['X-Parley-CSRF'] = csrf || 'sign-in'
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const res = await fetch(API + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    const data = text ? JSON.parse(text) : undefined
    if (!res.ok) {
      const ex = data && data.requestError && data.requestError.serviceException
      const message = ex
        ? ex.text.replace(/%(\d+)/g, (all, n) => (ex.variables[Number(n) - 1] !== undefined ? ex.variables[Number(n) - 1] : all))
        : 'HTTP ' + res.status
      throw new ApiFailure(res.status, message)
    }
    return data
  }

  function showError(message) {
    const box = $('error')
    box.textContent = message
    box.hidden = !message
  }

  /** Runs an action; a 401 goes back to sign-in with the server's reason, other failures are shown. */
  async function guarded(fn) {
    try {
      showError('')
      await fn()
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401 && me) {
        signedOut(err.message)
        return
      }
      showError(err.message || String(err))
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
      else node.setAttribute(k, v)
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child)
    return node
  }

  const time = (iso) => (iso ? new Date(iso).toLocaleString() : '—')
  function duration(fromIso, toIso) {
    if (!fromIso) return '—'
    const s = Math.max(0, Math.round(((toIso ? Date.parse(toIso) : Date.now()) - Date.parse(fromIso)) / 1000))
    const m = Math.floor(s / 60)
    return m > 0 ? m + ' min ' + (s % 60) + ' s' : s + ' s'
  }
  const fixed = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : '—')

  function showPage(name) {
    for (const p of pages) $('page-' + p).hidden = p !== name
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.page === name || (name === 'call' && a.dataset.page === 'history')) a.setAttribute('aria-current', 'page')
      else a.removeAttribute('aria-current')
    }
    if (name !== 'live') clearTimeout(liveTimer)
  }

  function signedIn(session) {
    me = session.admin
    csrf = session.csrfToken
    $('nav').hidden = false
    $('sign-out').hidden = false
    const who = $('who')
    who.hidden = false
    who.textContent = me.username + (me.role === 'operator' ? ' · operator (all accounts)' : ' · ' + me.clientId)
    document.body.classList.toggle('operator', me.role === 'operator')
    for (const pick of document.querySelectorAll('.account-pick')) pick.hidden = me.role !== 'operator'
  }

  function signedOut(reason) {
    me = null
    csrf = ''
    clearTimeout(liveTimer)
    $('nav').hidden = true
    $('sign-out').hidden = true
    $('who').hidden = true
    showPage('sign-in')
    showError(reason || '')
    $('sign-in-username').focus()
  }

  // ---- live calls -------------------------------------------------------------------------------------

  function qualityCell(quality) {
    const list = el('ul', { class: 'quality' })
    for (const q of quality) {
      const s = q.sample
      const warnings = s && s.warnings && s.warnings.length ? ' ⚠ ' + s.warnings.join(', ') : ''
      list.append(
        el(
          'li',
          { class: s && s.warnings && s.warnings.length ? 'warn' : '' },
          el('strong', {}, q.username),
          s
            ? ' MOS ' + fixed(s.mos, 2) + ' · RTT ' + fixed(s.rtt, 0) + ' ms · loss ' +
                (s.audioIn ? fixed(s.audioIn.packetLoss * 100, 1) + ' %' : '—') + warnings
            : ' no sample yet',
        ),
      )
    }
    return list
  }

  async function refreshLive() {
    const data = await api('GET', '/calls/live')
    const body = $('live-table').querySelector('tbody')
    body.replaceChildren(
      ...data.calls.map((c) =>
        el(
          'tr',
          { 'data-call-id': c.id },
          el('td', {}, c.caller),
          el('td', {}, c.callee),
          el('td', {}, c.state),
          el('td', {}, time(c.createdAt) + ' (' + duration(c.answeredAt || c.createdAt) + ')'),
          el('td', {}, qualityCell(c.quality)),
          el('td', {}, el('a', { href: '#/calls/' + encodeURIComponent(c.id) }, 'Details')),
        ),
      ),
    )
    $('live-table').hidden = data.calls.length === 0
    $('live-empty').hidden = data.calls.length > 0
    $('live-updated').textContent = 'Updated ' + new Date(data.at).toLocaleTimeString() + ', every 2 seconds.'
  }

  function pollLive() {
    clearTimeout(liveTimer)
    guarded(refreshLive).then(() => {
      if (me && !$('page-live').hidden) liveTimer = setTimeout(pollLive, LIVE_POLL_MS)
    })
  }

  // ---- history ----------------------------------------------------------------------------------------

  function historyQuery(cursor) {
    const form = new FormData($('history-form'))
    const q = new URLSearchParams()
    for (const key of ['from', 'to']) {
      const v = form.get(key)
      if (v) q.set(key, new Date(String(v)).toISOString())
    }
    for (const key of ['user', 'outcome']) {
      const v = String(form.get(key) || '').trim()
      if (v) q.set(key, v)
    }
    if (cursor) q.set('cursor', cursor)
    return q.toString()
  }

  async function loadHistory(append) {
    const data = await api('GET', '/calls?' + historyQuery(append ? historyNext : null))
    const body = $('history-table').querySelector('tbody')
    const rows = data.calls.map((c) =>
      el(
        'tr',
        { 'data-call-id': c.id },
        el('td', {}, time(c.createdAt)),
        el('td', {}, c.caller),
        el('td', {}, c.callee),
        el('td', {}, c.outcome),
        el('td', {}, c.answeredAt ? duration(c.answeredAt, c.endedAt) : '—'),
        el('td', {}, c.endReason || '—'),
        el('td', {}, el('a', { href: '#/calls/' + encodeURIComponent(c.id) }, 'Quality timeline')),
      ),
    )
    if (append) body.append(...rows)
    else body.replaceChildren(...rows)
    historyNext = data.next
    $('history-more').hidden = !data.next
    $('history-empty').hidden = body.children.length > 0
  }

  // ---- one call ---------------------------------------------------------------------------------------

  const PALETTE = ['#3346c9', '#c2410c', '#137a3d', '#9333ea']

  /** A uPlot line chart of one value over time, one series per party (their samples' own timestamps). */
  function drawChart(container, samples, legs, pick, unit, range) {
    container.replaceChildren()
    const tables = legs.map((leg) => {
      const mine = samples.filter((s) => s.legId === leg.legId && typeof pick(s) === 'number')
      return [mine.map((s) => s.timestamp / 1000), mine.map(pick)]
    })
    const nonEmpty = tables.filter((t) => t[0].length > 0)
    if (nonEmpty.length === 0) {
      container.append(el('p', { class: 'empty' }, 'No values.'))
      return
    }
    const shown = legs.filter((_, i) => tables[i][0].length > 0)
    const data = window.uPlot.join(nonEmpty)
    const width = Math.max(320, Math.min(1120, container.parentElement.clientWidth - 24))
    const chart = new window.uPlot(
      {
        width,
        height: 220,
        series: [
          {},
          ...shown.map((leg, i) => ({
            label: leg.username + ' (' + leg.role + ')',
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: true,
            value: (_u, v) => (v === null || v === undefined ? '—' : v.toFixed(2) + ' ' + unit),
          })),
        ],
        axes: [{}, { label: unit }],
        scales: range ? { y: { range } } : {},
      },
      data,
      container,
    )
    charts.push(chart)
  }

  async function showCall(id) {
    while (charts.length) charts.pop().destroy()
    const data = await api('GET', '/calls/' + encodeURIComponent(id))
    const c = data.call
    $('call-title').textContent = 'Call ' + c.caller + ' → ' + c.callee
    const facts = [
      ['Outcome', c.outcome + ' (' + c.state + ')'],
      ['Started', time(c.createdAt)],
      ['Answered', time(c.answeredAt)],
      ['Ended', time(c.endedAt)],
      ['End reason', c.endReason || '—'],
      ['Samples', String(data.samples.length)],
    ]
    if (me && me.role === 'operator') facts.unshift(['Account', c.clientId || c.accountId])
    $('call-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))
    $('call-no-samples').hidden = data.samples.length > 0
    for (const f of document.querySelectorAll('#page-call figure')) f.hidden = data.samples.length === 0
    if (data.samples.length === 0) return
    drawChart($('chart-mos'), data.samples, data.legs, (s) => s.mos, 'MOS', [1, 4.5])
    drawChart($('chart-rtt'), data.samples, data.legs, (s) => s.rtt, 'ms')
    drawChart($('chart-bitrate'), data.samples, data.legs, (s) => (s.audioIn ? s.audioIn.bitrate : undefined), 'kbit/s')
  }

  // ---- users and numbers --------------------------------------------------------------------------------

  async function loadAccounts() {
    accounts = (await api('GET', '/accounts')).accounts
    for (const id of ['user-account', 'number-account']) {
      $(id).replaceChildren(...accounts.map((a) => el('option', { value: a.clientId }, a.name + ' · ' + a.clientId)))
    }
  }

  async function loadUsers() {
    if (me.role === 'operator') await loadAccounts()
    const { users } = await api('GET', '/users')
    $('users-table')
      .querySelector('tbody')
      .replaceChildren(
        ...users.map((u) =>
          el(
            'tr',
            {},
            el('td', {}, u.login + (u.anonymous ? ' (anonymous)' : '')),
            el('td', {}, u.username),
            el('td', { class: 'operator-only' }, u.clientId),
            el('td', {}, time(u.createdAt)),
            el(
              'td',
              { class: 'actions' },
              el('button', { class: 'btn btn-quiet', type: 'button', onclick: () => resetPassword(u) }, 'Reset password'),
              el('button', { class: 'btn btn-danger', type: 'button', onclick: () => deleteUser(u) }, 'Delete'),
            ),
          ),
        ),
      )
    return users
  }

  function resetPassword(u) {
    const password = window.prompt('New password for ' + u.login + ' (at least 8 characters)')
    if (!password) return
    guarded(async () => {
      await api('PUT', '/users/' + encodeURIComponent(u.id) + '/password', { password })
      showError('')
      window.alert('Password of ' + u.login + ' changed; their earlier sessions end within a minute.')
    })
  }

  function deleteUser(u) {
    if (!window.confirm('Delete ' + u.login + '? Their channels go with them; their numbers stay, unassigned.')) return
    guarded(async () => {
      await api('DELETE', '/users/' + encodeURIComponent(u.id))
      await loadUsers()
    })
  }

  async function loadNumbers() {
    if (me.role === 'operator') await loadAccounts()
    const [{ numbers }, { users }] = await Promise.all([api('GET', '/numbers'), api('GET', '/users')])
    $('numbers-table')
      .querySelector('tbody')
      .replaceChildren(
        ...numbers.map((n) => {
          const label = 'Assign ' + n.number
          const select = el(
            'select',
            { 'aria-label': label },
            el('option', { value: '' }, 'nobody'),
            ...users
              .filter((u) => u.accountId === n.accountId)
              .map((u) => {
                const o = el('option', { value: u.id }, u.login)
                if (u.id === n.userId) o.selected = true
                return o
              }),
          )
          select.addEventListener('change', () =>
            guarded(async () => {
              await api('PUT', '/numbers/' + encodeURIComponent(n.number) + '/user', { userId: select.value || null })
              await loadNumbers()
            }),
          )
          return el(
            'tr',
            {},
            el('td', {}, n.number + (n.callerId ? ' (caller ID)' : '')),
            el('td', { class: 'operator-only' }, n.clientId || ''),
            el('td', {}, select),
            el(
              'td',
              { class: 'actions' },
              el(
                'button',
                {
                  class: 'btn btn-danger',
                  type: 'button',
                  onclick: () => {
                    if (!window.confirm('Delete ' + n.number + '?')) return
                    guarded(async () => {
                      await api('DELETE', '/numbers/' + encodeURIComponent(n.number))
                      await loadNumbers()
                    })
                  },
                },
                'Delete',
              ),
            ),
          )
        }),
      )
  }

  // ---- health -----------------------------------------------------------------------------------------

  async function loadHealth() {
    const h = await api('GET', '/health')
    const facts = [
      ['Status', h.status],
      ...Object.entries(h.checks).map(([k, v]) => [k === 'store' ? 'Store' : k === 'bus' ? 'Bus' : k, v]),
      ['Channel websockets on this node', String(h.connectedSockets)],
      ['Calls in progress', String(h.activeCalls)],
      ['Process', 'pid ' + h.node.pid + ', up ' + h.node.uptimeSeconds + ' s'],
      ['Checked', time(h.at)],
    ]
    $('health-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { class: v === 'ok' ? 'ok' : '' }, v)]))
  }

  // ---- routing ----------------------------------------------------------------------------------------

  function route() {
    if (!me) return signedOut('')
    const hash = location.hash || '#/live'
    const call = /^#\/calls\/(.+)$/.exec(hash)
    if (call) {
      showPage('call')
      return guarded(() => showCall(decodeURIComponent(call[1])))
    }
    const name = hash.slice(2)
    switch (name) {
      case 'history':
        showPage('history')
        return guarded(() => loadHistory(false))
      case 'users':
        showPage('users')
        return guarded(loadUsers)
      case 'numbers':
        showPage('numbers')
        return guarded(loadNumbers)
      case 'health':
        showPage('health')
        return guarded(loadHealth)
      default:
        showPage('live')
        return pollLive()
    }
  }

  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const form = new FormData(event.target)
    guarded(async () => {
      const session = await api('POST', '/session', {
        username: String(form.get('username')),
        password: String(form.get('password')),
      })
      $('sign-in-password').value = ''
      signedIn(session)
      route()
    })
  })

  $('sign-out').addEventListener('click', () =>
    guarded(async () => {
      await api('DELETE', '/session')
      signedOut('Signed out.')
    }),
  )

  $('history-form').addEventListener('submit', (event) => {
    event.preventDefault()
    guarded(() => loadHistory(false))
  })
  $('history-more').addEventListener('click', () => guarded(() => loadHistory(true)))

  $('user-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const form = new FormData(event.target)
    guarded(async () => {
      const body = { login: String(form.get('login')), password: String(form.get('password')) }
      if (me.role === 'operator') body.clientId = String(form.get('clientId'))
      await api('POST', '/users', body)
      event.target.reset()
      await loadUsers()
    })
  })

  $('number-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const form = new FormData(event.target)
    guarded(async () => {
      const body = { number: String(form.get('number')).trim() }
      if (me.role === 'operator') body.clientId = String(form.get('clientId'))
      await api('POST', '/numbers', body)
      event.target.reset()
      await loadNumbers()
    })
  })

  window.addEventListener('hashchange', route)

  // An open session (the cookie survives a reload): resume it, else sign in.
  api('GET', '/session').then(
    (session) => {
      signedIn(session)
      route()
    },
    () => signedOut(''),
  )
})()
