import { createHash } from 'node:crypto';

/*
 * The dashboard page: one self-contained HTML document (inline CSS and JS, no external
 * resource of any kind). It finds its stream next to itself (`<page path>/stream`), passing
 * on the `?token=` it was opened with, so a global prefix or another mount path needs no
 * configuration. Every value from the server is written with textContent, never as HTML.
 */

const STYLE = String.raw`
:root {
  --bg: #f3f5f8; --panel: #ffffff; --text: #1b2330; --muted: #687385; --border: #e2e6ed;
  --soft: #f7f8fb; --track: #e9edf3; --green: #1e9e5a; --red: #d64141; --amber: #d7901a;
  --blue: #3767d6; --violet: #7a55c9; --shadow: 0 1px 2px rgba(20, 30, 50, 0.06);
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f141b; --panel: #171e27; --text: #e4e9f0; --muted: #8d99aa; --border: #263141;
    --soft: #1c2530; --track: #263141; --shadow: none;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
h1, h2 { margin: 0; font-weight: 600; }
h1 { font-size: 18px; letter-spacing: 0.1px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: 0.6px; color: var(--muted); }
.num, td.n, .mono { font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.top {
  display: flex; align-items: center; justify-content: space-between; gap: 16px;
  padding: 14px 24px; background: var(--panel); border-bottom: 1px solid var(--border);
  position: sticky; top: 0; z-index: 1;
}
.brand { display: flex; align-items: center; gap: 10px; }
.logo {
  width: 22px; height: 22px; border-radius: 6px;
  background: linear-gradient(135deg, var(--blue), var(--violet));
}
.meta { display: flex; align-items: center; gap: 14px; font-size: 13px; }
.conn {
  display: inline-flex; align-items: center; gap: 7px; padding: 4px 10px; border-radius: 999px;
  border: 1px solid var(--border); background: var(--soft); font-weight: 500;
}
.conn .dot { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); }
.conn[data-status="live"] .dot { background: var(--green); box-shadow: 0 0 0 3px rgba(30, 158, 90, 0.18); }
.conn[data-status="connecting"] .dot, .conn[data-status="reconnecting"] .dot,
.conn[data-status="stale"] .dot { background: var(--amber); animation: pulse 1.2s ease-in-out infinite; }
.conn[data-status="offline"] .dot, .conn[data-status="denied"] .dot { background: var(--red); }
@keyframes pulse { 50% { opacity: 0.35; } }
.layout {
  display: grid; grid-template-columns: minmax(0, 1fr) 380px; gap: 18px; padding: 18px 24px 24px;
  align-items: start;
}
@media (max-width: 1100px) { .layout { grid-template-columns: minmax(0, 1fr); } }
.col { display: grid; gap: 18px; min-width: 0; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 18px; }
.panel {
  background: var(--panel); border: 1px solid var(--border); border-radius: 10px;
  box-shadow: var(--shadow); padding: 14px 16px; min-width: 0;
}
.panel-head { display: flex; align-items: baseline; justify-content: space-between; margin-bottom: 10px; }
.count { font-size: 12px; color: var(--muted); }
.empty { color: var(--muted); font-size: 13px; padding: 6px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; }
.card {
  border: 1px solid var(--border); border-left: 4px solid var(--green); border-radius: 8px;
  padding: 12px 14px; background: var(--soft); min-width: 0;
}
.card[data-state="open"] { border-left-color: var(--red); }
.card[data-state="half-open"] { border-left-color: var(--amber); }
.card-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
.card-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.state {
  font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: 0.5px;
  padding: 2px 8px; border-radius: 999px; color: #fff; background: var(--green); white-space: nowrap;
}
.state[data-state="open"] { background: var(--red); }
.state[data-state="half-open"] { background: var(--amber); }
.figures { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; margin: 10px 0 6px; }
.figure .v { font-size: 18px; font-weight: 600; }
.figures.small { margin: 4px 0 8px; }
.figures.small .v { font-size: 14px; }
.figure .l { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.4px; }
.spark { display: block; width: 100%; height: 30px; margin: 4px 0; }
.spark polyline { fill: none; stroke: var(--blue); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.spark polygon { fill: var(--blue); opacity: 0.1; }
.line { font-size: 12px; color: var(--muted); margin-top: 3px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.line b { color: var(--text); font-weight: 600; }
.line.err { color: var(--red); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th {
  text-align: left; font-weight: 500; color: var(--muted); font-size: 11px; text-transform: uppercase;
  letter-spacing: 0.4px; padding: 4px 6px; border-bottom: 1px solid var(--border);
}
td { padding: 6px; border-bottom: 1px solid var(--border); vertical-align: middle; }
tr:last-child td { border-bottom: none; }
th.n, td.n { text-align: right; }
td.name {
  font-weight: 500; max-width: 180px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
td.bad { color: var(--red); }
.meter { display: flex; align-items: center; gap: 8px; min-width: 120px; }
.bar { flex: 1; height: 7px; background: var(--track); border-radius: 4px; overflow: hidden; }
.bar > span { display: block; height: 100%; width: 0; background: var(--blue); border-radius: 4px; }
.bar.warn > span { background: var(--amber); }
.bar.full > span { background: var(--red); }
.meter .t { font-size: 12px; color: var(--muted); min-width: 52px; text-align: right; }
.bulkhead { padding: 8px 0; border-bottom: 1px solid var(--border); }
.bulkhead:first-child { padding-top: 0; }
.bulkhead:last-child { border-bottom: none; padding-bottom: 0; }
.bh-head { display: flex; justify-content: space-between; gap: 8px; margin-bottom: 4px; font-size: 12px; }
.bh-name { font-weight: 500; font-size: 14px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bh-row { display: flex; align-items: center; gap: 10px; margin: 3px 0; }
.bh-label { width: 52px; font-size: 12px; color: var(--muted); }
.bh-row .meter { flex: 1; }
.slo-table td.budget { width: 28%; min-width: 170px; }
.slo-table td.verdict-cell { width: 1%; text-align: right; }
.bar.ok > span { background: var(--green); }
.bar.spent { background: rgba(214, 65, 65, 0.2); }
.meter .t.bad { color: var(--red); }
.verdict {
  display: inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.5px; padding: 2px 8px; border-radius: 999px; white-space: nowrap;
  background: rgba(30, 158, 90, 0.14); color: var(--green);
}
.verdict[data-verdict="violated"] { background: var(--red); color: #fff; }
.verdict[data-verdict="idle"] { background: var(--track); color: var(--muted); }

.tiles { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; }
.tile { background: var(--soft); border: 1px solid var(--border); border-radius: 8px; padding: 8px 10px; min-width: 0; }
.tile .v { font-size: 18px; font-weight: 600; }
.tile .l { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.4px; }
.tile.bad .v { color: var(--red); }
.events-panel { position: sticky; top: 70px; max-height: calc(100vh - 88px); display: flex; flex-direction: column; }
.events { list-style: none; margin: 0; padding: 0; overflow-y: auto; }
.events li { padding: 8px 2px; border-bottom: 1px solid var(--border); }
.events li:last-child { border-bottom: none; }
.ev-head { display: flex; align-items: center; gap: 8px; }
.ev-time { font-size: 12px; color: var(--muted); margin-left: auto; }
.ev-type {
  font-size: 11px; font-weight: 600; padding: 1px 7px; border-radius: 4px; white-space: nowrap;
  background: var(--track); color: var(--text);
}
.ev-type.red { background: rgba(214, 65, 65, 0.14); color: var(--red); }
.ev-type.amber { background: rgba(215, 144, 26, 0.16); color: var(--amber); }
.ev-type.green { background: rgba(30, 158, 90, 0.14); color: var(--green); }
.ev-type.blue { background: rgba(55, 103, 214, 0.13); color: var(--blue); }
.ev-type.violet { background: rgba(122, 85, 201, 0.14); color: var(--violet); }
.ev-name { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ev-detail { font-size: 12px; color: var(--muted); margin-top: 2px; word-break: break-word; }
footer { padding: 0 24px 20px; font-size: 12px; color: var(--muted); }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var base = location.pathname.replace(/\/+$/, '');
  var token = new URLSearchParams(location.search).get('token');
  var query = token ? '?token=' + encodeURIComponent(token) : '';
  var SPARK_POINTS = 60;
  var LABELS = {
    connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', stale: 'No data',
    offline: 'Offline', denied: 'Unauthorized'
  };
  var model = freshModel(null);
  var source = null;
  var retryTimer = null;
  var retryDelay = 1000;
  var status = 'connecting';

  function freshModel(instance) {
    return { instance: instance, lastSeq: 0, snapshot: null, prev: {}, rates: {}, history: {},
      events: [], maxEvents: 100, lastMessageAt: 0 };
  }

  // ---- DOM helpers ---------------------------------------------------------------
  function byId(id) { return document.getElementById(id); }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function append(parent, children) {
    for (var i = 0; i < children.length; i++) if (children[i]) parent.appendChild(children[i]);
    return parent;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function names(record) { return Object.keys(record || {}).sort(); }

  // ---- formatting ----------------------------------------------------------------
  function int(n) { return typeof n === 'number' ? Math.round(n).toLocaleString('en-US') : '–'; }
  function rate(n) {
    if (typeof n !== 'number') return '–';
    return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
  }
  function pct(n) { return typeof n === 'number' ? (n >= 10 || n === 0 ? n.toFixed(0) : n.toFixed(1)) + '%' : '–'; }
  function ms(n) {
    if (typeof n !== 'number') return '–';
    if (n >= 1000) return (n / 1000).toFixed(2) + ' s';
    return (n >= 10 ? Math.round(n) : n.toFixed(1)) + ' ms';
  }
  // a ratio (0..1) as a percentage with up to 2 decimals; 'down' never rounds up to the next
  // figure, so 99.996 % does not show as a clean 100 %
  function ratio(n, down) {
    if (typeof n !== 'number') return '–';
    var hundredths = down ? Math.floor(n * 10000 + 1e-6) : Math.round(n * 10000);
    return (hundredths / 100).toFixed(2).replace(/\.?0+$/, '') + '%';
  }
  function span(n) {
    if (typeof n !== 'number') return '–';
    function unit(value, name) { return String(Math.round(value * 10) / 10) + ' ' + name; }
    if (n < 1000) return unit(n, 'ms');
    if (n < 60000) return unit(n / 1000, 's');
    if (n < 3600000) return unit(n / 60000, 'min');
    if (n < 86400000) return unit(n / 3600000, 'h');
    return unit(n / 86400000, 'd');
  }
  function pad(n, w) { var s = String(n); while (s.length < w) s = '0' + s; return s; }
  function clock(at) {
    var d = new Date(at);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) +
      '.' + pad(d.getMilliseconds(), 3);
  }
  function ago(since) {
    var s = Math.max(0, (Date.now() - since) / 1000);
    if (s < 60) return Math.floor(s) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d';
  }
  function errorText(error) {
    if (!error) return '';
    return (error.name || 'Error') + ': ' + (error.message || '');
  }

  // ---- connection ----------------------------------------------------------------
  function setStatus(next, detail) {
    status = next;
    var box = byId('conn');
    box.setAttribute('data-status', next);
    byId('conn-text').textContent = LABELS[next] + (detail ? ' · ' + detail : '');
  }

  function connect() {
    clearTimeout(retryTimer);
    setStatus(model.snapshot ? 'reconnecting' : 'connecting');
    source = new EventSource(base + '/stream' + query);
    source.addEventListener('open', function () { retryDelay = 1000; });
    source.addEventListener('stats', function (message) {
      onStats(JSON.parse(message.data));
    });
    source.addEventListener('event', function (message) {
      onEvent(JSON.parse(message.data));
    });
    source.addEventListener('error', function () {
      if (source.readyState === 2) {
        source.close();
        probe();
      } else {
        setStatus('reconnecting');
      }
    });
  }

  // The stream was refused (not a dropped connection, which EventSource retries itself):
  // find out why, then try again later unless the token is wrong.
  function probe() {
    fetch(base + '/stats' + query, { cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          setStatus('denied', token ? 'check the token' : 'open this page with ?token=…');
        } else {
          retryLater();
        }
      }, retryLater);
  }

  function retryLater() {
    setStatus('offline', 'retrying in ' + Math.round(retryDelay / 1000) + ' s');
    retryTimer = setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  setInterval(function () {
    if (!model.snapshot) return;
    var silent = Date.now() - model.lastMessageAt;
    if (status === 'live' && silent > model.snapshot.interval * 3 + 2000) setStatus('stale');
    if (status === 'live' || status === 'stale') {
      byId('updated').textContent = 'updated ' + ago(model.lastMessageAt) + ' ago';
    }
  }, 1000);

  // ---- messages ------------------------------------------------------------------
  function onStats(snapshot) {
    if (snapshot.instance !== model.instance) {
      model = freshModel(snapshot.instance); // first message, or the application restarted
      clear(byId('events'));
    }
    model.maxEvents = snapshot.maxEvents;
    model.lastMessageAt = Date.now();
    updateRates(snapshot);
    model.snapshot = snapshot;
    setStatus('live');
    byId('updated').textContent = 'updated ' + clock(snapshot.at).slice(0, 8);
    renderAll();
  }

  function updateRates(snapshot) {
    var breakers = snapshot.stats.circuitBreakers;
    names(breakers).forEach(function (name) {
      var total = breakers[name].totalCalls;
      var prev = model.prev[name];
      if (!prev || total < prev.total) {
        model.prev[name] = { total: total, at: snapshot.at };
        return;
      }
      var seconds = (snapshot.at - prev.at) / 1000;
      // a snapshot right after another (reconnection) says little about the rate
      if (seconds * 1000 < snapshot.interval * 0.5) return;
      var perSecond = (total - prev.total) / seconds;
      model.rates[name] = perSecond;
      var points = model.history[name] || (model.history[name] = []);
      points.push(perSecond);
      if (points.length > SPARK_POINTS) points.shift();
      model.prev[name] = { total: total, at: snapshot.at };
    });
  }

  function onEvent(event) {
    if (event.seq <= model.lastSeq) return; // replayed after a reconnection
    model.lastSeq = event.seq;
    model.lastMessageAt = Date.now();
    var breakers = model.snapshot && model.snapshot.stats.circuitBreakers;
    if (event.type === 'state-change' && breakers && breakers[event.name] &&
        event.at >= breakers[event.name].stateChangedAt) {
      breakers[event.name].state = event.to;
      breakers[event.name].stateChangedAt = event.at;
      renderBreakers();
    }
    var slos = model.snapshot && model.snapshot.stats.slo;
    // the snapshot already holds what events up to its lastEventSeq changed (replays)
    if ((event.type === 'slo-violation' || event.type === 'slo-recovered') && slos &&
        slos[event.name] && event.seq > model.snapshot.lastEventSeq) {
      applySloEvent(slos[event.name], event);
      renderSlos();
    }
    var list = byId('events');
    var empty = list.querySelector('.empty');
    if (empty) list.removeChild(empty);
    list.insertBefore(renderEvent(event), list.firstChild);
    while (list.children.length > model.maxEvents) list.removeChild(list.lastChild);
    byId('events-count').textContent = list.children.length + ' shown · newest first';
  }

  // ---- rendering -----------------------------------------------------------------
  function renderAll() {
    var stats = model.snapshot.stats;
    renderBreakers();
    renderSlos();
    renderBulkheads(stats.bulkheads);
    renderTable('rate-limiters', stats.rateLimiters, [
      ['Permitted', function (s) { return int(s.permitted); }],
      ['Rejected', function (s) { return int(s.rejected); }, function (s) { return s.rejected > 0; }]
    ]);
    renderTable('retries', stats.retries, [
      ['Calls', function (s) { return int(s.calls); }],
      ['OK', function (s) { return int(s.successWithoutRetry); }],
      ['OK after retry', function (s) { return int(s.successWithRetry); }],
      ['Failed', function (s) { return int(s.failedWithRetry + s.failedWithoutRetry); },
        function (s) { return s.failedWithRetry + s.failedWithoutRetry > 0; }],
      ['Attempts', function (s) { return int(s.attempts); }]
    ]);
    renderTable('timeouts', stats.timeouts, [
      ['Calls', function (s) { return int(s.calls); }],
      ['Timeouts', function (s) { return int(s.timeouts); }, function (s) { return s.timeouts > 0; }],
      ['Share', function (s) { return s.calls ? pct((100 * s.timeouts) / s.calls) : '–'; }]
    ]);
    renderTable('fallbacks', stats.fallbacks, [
      ['Calls', function (s) { return int(s.calls); }],
      ['Fallbacks', function (s) { return int(s.fallbacks); }]
    ]);
    renderDeadLetters(stats.deadLetters);
    if (!byId('events').firstChild) {
      append(byId('events'), [el('li', 'empty', 'No events yet.')]);
      byId('events-count').textContent = '';
    }
  }

  function renderBreakers() {
    var breakers = model.snapshot.stats.circuitBreakers;
    var list = names(breakers);
    var box = byId('breakers');
    clear(box);
    var open = list.filter(function (n) { return breakers[n].state !== 'closed'; }).length;
    byId('breakers-count').textContent = list.length + ' total' + (open ? ' · ' + open + ' not closed' : '');
    if (!list.length) {
      append(box, [el('div', 'empty', 'No circuit breakers yet: they appear once created.')]);
      return;
    }
    list.forEach(function (name) { box.appendChild(renderBreaker(name, breakers[name])); });
  }

  function renderBreaker(name, s) {
    var latency = model.snapshot.latency[name];
    var card = el('article', 'card');
    card.setAttribute('data-breaker', name);
    card.setAttribute('data-state', s.state);
    var badge = el('span', 'state', s.state);
    badge.setAttribute('data-state', s.state);
    var title = el('span', 'card-name', name);
    title.title = name;
    append(card, [
      append(el('div', 'card-head'), [title, badge]),
      append(el('div', 'figures'), [
        figure(rate(model.rates[name]), 'calls/s'),
        figure(pct(s.failureRate), 'failure rate'),
        figure(pct(s.slowCallRate), 'slow calls')
      ]),
      sparkline(model.history[name] || []),
      append(el('div', 'figures small'), [
        figure(latency ? ms(latency.mean) : '–', 'mean'),
        figure(latency ? ms(latency.p95) : '–', 'p95'),
        figure(latency ? ms(latency.p99) : '–', 'p99')
      ]),
      line([['ok ', int(s.successfulCalls)], [' · failed ', int(s.failedCalls)],
        [' · rejected ', int(s.rejectedCalls)]]),
      line([[s.state + ' for ', ago(s.stateChangedAt)]].concat(s.failureCount > 0
        ? [[' · failures in a row ', String(s.failureCount)]] : [])),
      s.lastError ? el('div', 'line err', 'last error ' + errorText(s.lastError)) : null
    ]);
    return card;
  }

  function renderSlos() {
    var slos = model.snapshot.stats.slo || {};
    var list = names(slos);
    var box = byId('slos');
    clear(box);
    // an application without SLOs does not get an empty panel
    byId('slos-panel').hidden = list.length === 0;
    var violated = list.filter(function (n) { return slos[n].violated; }).length;
    byId('slos-count').textContent = list.length + ' total' + (violated ? ' · ' + violated + ' violated' : '');
    if (!list.length) return;
    var t = table(['Name', 'Success', 'Target', 'Error budget left', 'Calls', 'Failed', 'Window', '']);
    t.className = 'slo-table';
    t.tHead.rows[0].cells[3].className = ''; // over the bar, not over a figure
    list.forEach(function (name) { t.tBodies[0].appendChild(renderSlo(name, slos[name])); });
    box.appendChild(t);
  }

  function renderSlo(name, s) {
    var row = el('tr');
    row.setAttribute('data-slo', name);
    row.setAttribute('data-violated', String(s.violated));
    var label = el('td', 'name', name);
    label.title = name;
    var verdict = s.violated ? 'violated' : s.calls === 0 ? 'idle' : 'met';
    var badge = el('span', 'verdict', s.violated ? 'violated' : s.calls === 0 ? 'no calls' : 'met');
    badge.setAttribute('data-verdict', verdict);
    return append(row, [
      label,
      el('td', 'n num' + (s.successRate < s.target ? ' bad' : ''), ratio(s.successRate, true)),
      el('td', 'n num', ratio(s.target)),
      append(el('td', 'budget'), [budgetMeter(s.errorBudgetRemaining)]),
      el('td', 'n num', int(s.calls)),
      el('td', 'n num' + (s.failures > 0 ? ' bad' : ''), int(s.failures)),
      el('td', 'n num', span(s.window)),
      append(el('td', 'verdict-cell'), [badge])
    ]);
  }

  // share of the error budget left: green, amber below half, red (empty) once spent
  function budgetMeter(remaining) {
    var left = typeof remaining === 'number' ? Math.max(0, Math.min(1, remaining)) : 0;
    var box = el('div', 'meter');
    var bar = el('div', 'bar ' + (left <= 0 ? 'spent' : left < 0.5 ? 'warn' : 'ok'));
    var fill = el('span');
    fill.style.width = (left * 100).toFixed(1) + '%';
    bar.appendChild(fill);
    return append(box, [bar, el('span', 't num' + (left <= 0 ? ' bad' : ''), ratio(left, true) + ' left')]);
  }

  // the figures an SLO event carries, with the error budget worked out as the server does
  function applySloEvent(s, e) {
    s.violated = e.type === 'slo-violation';
    s.calls = e.calls;
    s.failures = e.failures;
    s.successRate = e.successRate;
    s.errorBudget = (1 - s.target) * e.calls;
    s.errorBudgetRemaining = e.failures === 0 ? 1 : s.errorBudget <= 0 ? 0 :
      Math.max(0, Math.min(1, 1 - e.failures / s.errorBudget));
  }

  function figure(value, label) {
    return append(el('div', 'figure'), [el('div', 'v num', value), el('div', 'l', label)]);
  }

  function line(parts) {
    var node = el('div', 'line');
    parts.forEach(function (part) {
      node.appendChild(document.createTextNode(part[0]));
      if (part[1] !== '') node.appendChild(el('b', 'num', part[1]));
    });
    return node;
  }

  function sparkline(points) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'spark');
    var width = Math.max(points.length - 1, 1);
    svg.setAttribute('viewBox', '0 0 ' + width + ' 30');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    if (points.length < 3) return svg;
    var max = Math.max.apply(null, points.concat([1]));
    var coords = points.map(function (p, i) {
      return i + ',' + (28 - (p / max) * 26).toFixed(2);
    });
    var area = document.createElementNS(ns, 'polygon');
    area.setAttribute('points', '0,30 ' + coords.join(' ') + ' ' + width + ',30');
    var stroke = document.createElementNS(ns, 'polyline');
    stroke.setAttribute('points', coords.join(' '));
    svg.appendChild(area);
    svg.appendChild(stroke);
    return svg;
  }

  function meter(value, max) {
    var box = el('div', 'meter');
    var bar = el('div', 'bar');
    var fill = el('span');
    var ratio = max > 0 ? Math.min(1, value / max) : 0;
    fill.style.width = (ratio * 100).toFixed(1) + '%';
    if (ratio >= 1) bar.className = 'bar full';
    else if (ratio >= 0.8) bar.className = 'bar warn';
    bar.appendChild(fill);
    return append(box, [bar, el('span', 't num', max > 0 ? value + '/' + max : value + '/–')]);
  }

  function table(headers) {
    var t = el('table');
    var head = el('tr');
    headers.forEach(function (h, i) { head.appendChild(el('th', i ? 'n' : '', h)); });
    append(t, [append(el('thead'), [head]), el('tbody')]);
    return t;
  }

  function renderBulkheads(bulkheads) {
    var box = byId('bulkheads');
    clear(box);
    var list = names(bulkheads);
    byId('bulkheads-count').textContent = list.length ? String(list.length) : '';
    if (!list.length) return append(box, [el('div', 'empty', 'None yet.')]);
    list.forEach(function (name) {
      var s = bulkheads[name];
      var block = el('div', 'bulkhead');
      block.setAttribute('data-bulkhead', name);
      var title = el('div', 'bh-name', name);
      title.title = name;
      var keys = typeof s.keys === 'number' ? el('span', 'muted', s.keys + ' key(s)') : null;
      append(block, [
        append(el('div', 'bh-head'), [title, keys]),
        append(el('div', 'bh-row'), [el('span', 'bh-label', 'active'), meter(s.active, s.maxConcurrent)]),
        append(el('div', 'bh-row'), [el('span', 'bh-label', 'queued'),
          s.maxQueue > 0 ? meter(s.queued, s.maxQueue) : el('span', 'muted', 'no queue')]),
        line([['accepted ', int(s.accepted)], [' · rejected ', int(s.rejected)],
          [' · queue timeouts ', int(s.queueTimeouts)]])
      ]);
      box.appendChild(block);
    });
  }

  function renderTable(id, record, columns) {
    var box = byId(id);
    clear(box);
    var list = names(record);
    var count = byId(id + '-count');
    if (count) count.textContent = list.length ? String(list.length) : '';
    if (!list.length) return append(box, [el('div', 'empty', 'None yet.')]);
    var t = table(['Name'].concat(columns.map(function (c) { return c[0]; })));
    list.forEach(function (name) {
      var s = record[name];
      var label = el('td', 'name', name);
      label.title = name;
      var row = append(el('tr'), [label]);
      columns.forEach(function (c) {
        row.appendChild(el('td', 'n num' + (c[2] && c[2](s) ? ' bad' : ''), c[1](s)));
      });
      t.tBodies[0].appendChild(row);
    });
    box.appendChild(t);
  }

  function renderDeadLetters(s) {
    var box = byId('dead-letters');
    clear(box);
    function tile(value, label, bad) {
      return append(el('div', 'tile' + (bad ? ' bad' : '')), [el('div', 'v num', int(value)), el('div', 'l', label)]);
    }
    append(box, [append(el('div', 'tiles'), [
      tile(s.published, 'published'),
      tile(s.failedToPublish, 'failed', s.failedToPublish > 0),
      tile(s.buffered, 'buffered', s.buffered > 0),
      tile(s.dropped, 'dropped', s.dropped > 0)
    ])]);
  }

  var EVENT_COLOURS = {
    'state-change': 'blue', 'call-rejected': 'red', 'retry': 'amber', 'timeout': 'red',
    'bulkhead-rejected': 'red', 'bulkhead-pressure': 'amber', 'rate-limited': 'amber',
    'fallback': 'violet', 'dead-letter': 'red', 'store-unavailable': 'red',
    'store-available': 'green', 'chaos': 'violet', 'slo-violation': 'red', 'slo-recovered': 'green'
  };

  function describe(e) {
    switch (e.type) {
      case 'state-change': return e.from + ' → ' + e.to + ' (' + e.reason + ')';
      case 'call-rejected': return 'rejected while ' + e.state + '; retry after ' + ms(e.retryAfter);
      case 'retry': return 'attempt ' + e.attempt + ' failed (' + errorText(e.error) + '); next in ' + ms(e.delay);
      case 'timeout': return 'timed out after ' + ms(e.timeout);
      case 'bulkhead-rejected': return 'rejected: ' + e.reason + (e.key ? ' (key ' + e.key + ')' : '');
      case 'bulkhead-pressure': return 'queue ' + e.queued + '/' + e.maxQueue + (e.key ? ' (key ' + e.key + ')' : '');
      case 'rate-limited': return 'limit reached; next permit in ' + ms(e.retryAfter);
      case 'fallback': return 'fallback used after ' + errorText(e.error);
      case 'dead-letter':
        return e.letter ? e.letter.target + ' after ' + e.letter.attempts + ' attempt(s): ' + errorText(e.letter.error) : '';
      case 'store-unavailable': return 'state store unavailable: ' + errorText(e.error);
      case 'store-available': return 'state store available again';
      case 'chaos': return 'injected ' + e.outcome + (e.latency ? ' (+' + ms(e.latency) + ')' : '');
      case 'slo-violation':
        return 'success ' + ratio(e.successRate, true) + ' below the ' + ratio(e.target) + ' target: ' +
          sloCalls(e);
      case 'slo-recovered':
        return (e.successRate >= e.target
          ? 'target met again: success ' + ratio(e.successRate, true) + ' of the ' + ratio(e.target) + ' asked; '
          : 'no verdict, too few calls: ') + sloCalls(e);
      default: return otherFields(e);
    }
  }

  function sloCalls(e) {
    return int(e.failures) + ' of ' + int(e.calls) + ' call(s) failed in the last ' + span(e.window);
  }

  // an event type this page does not know: its plain fields, as key=value
  function otherFields(e) {
    return Object.keys(e).filter(function (key) {
      var value = e[key];
      return ['type', 'name', 'at', 'seq'].indexOf(key) < 0 &&
        (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean');
    }).map(function (key) { return key + '=' + e[key]; }).join(' · ');
  }

  function renderEvent(e) {
    var item = el('li');
    item.setAttribute('data-event', e.type);
    var type = el('span', 'ev-type ' + (EVENT_COLOURS[e.type] || ''), e.type);
    if (e.type === 'state-change') {
      type.className = 'ev-type ' + (e.to === 'open' ? 'red' : e.to === 'half-open' ? 'amber' : 'green');
    }
    append(item, [
      append(el('div', 'ev-head'), [type, el('span', 'ev-name', e.name), el('span', 'ev-time mono', clock(e.at))]),
      el('div', 'ev-detail', describe(e))
    ]);
    return item;
  }

  connect();
})();
`;

const BODY = `<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true"></span><h1>Resilience dashboard</h1></div>
  <div class="meta">
    <span id="updated" class="muted">waiting for data…</span>
    <span id="conn" class="conn" data-status="connecting" role="status" aria-live="polite">
      <span class="dot"></span><span id="conn-text">Connecting…</span>
    </span>
  </div>
</header>
<main class="layout">
  <div class="col">
    <section class="panel">
      <div class="panel-head"><h2>Circuit breakers</h2><span class="count" id="breakers-count"></span></div>
      <div id="breakers" class="cards"><div class="empty">Waiting for the first snapshot…</div></div>
    </section>
    <section class="panel" id="slos-panel" hidden>
      <div class="panel-head"><h2>SLOs</h2><span class="count" id="slos-count"></span></div>
      <div id="slos"></div>
    </section>
    <div class="grid2">
      <section class="panel">
        <div class="panel-head"><h2>Bulkheads</h2><span class="count" id="bulkheads-count"></span></div>
        <div id="bulkheads"></div>
      </section>
      <section class="panel">
        <div class="panel-head"><h2>Rate limiters</h2><span class="count" id="rate-limiters-count"></span></div>
        <div id="rate-limiters"></div>
      </section>
    </div>
    <div class="grid2">
      <section class="panel">
        <div class="panel-head"><h2>Retries</h2><span class="count" id="retries-count"></span></div>
        <div id="retries"></div>
      </section>
      <section class="panel">
        <div class="panel-head"><h2>Timeouts</h2><span class="count" id="timeouts-count"></span></div>
        <div id="timeouts"></div>
      </section>
    </div>
    <div class="grid2">
      <section class="panel">
        <div class="panel-head"><h2>Dead letters</h2></div>
        <div id="dead-letters"></div>
      </section>
      <section class="panel">
        <div class="panel-head"><h2>Fallbacks</h2><span class="count" id="fallbacks-count"></span></div>
        <div id="fallbacks"></div>
      </section>
    </div>
  </div>
  <aside class="panel events-panel">
    <div class="panel-head"><h2>Recent events</h2><span class="count" id="events-count"></span></div>
    <ol id="events" class="events"></ol>
  </aside>
</main>
<footer>nestjs-fault-tolerance · calls/s from successive totals · latency over the last stats interval</footer>`;

const hash = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page, identical for every request (it holds no data and no configuration). @internal */
export const DASHBOARD_PAGE =
  '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
  '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
  '<meta name="referrer" content="no-referrer">\n' +
  '<link rel="icon" href="data:,">\n' +
  '<title>Resilience dashboard</title>\n' +
  `<style>${STYLE}</style>\n</head>\n<body>\n${BODY}\n<script>${SCRIPT}</script>\n</body>\n</html>\n`;

/**
 * Headers of the page: a Content-Security-Policy that allows only this page's own inline
 * style and script (by hash) and connections to its own origin, and no framing or caching.
 * @internal
 */
export const DASHBOARD_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': [
    "default-src 'none'",
    `script-src ${hash(SCRIPT)}`,
    `style-src ${hash(STYLE)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};
