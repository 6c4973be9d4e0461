/* voronka: charts, filters and cross-filtering of a report page.
   - initialises every [data-chart] element from its JSON options
     (<script type="application/json">);
   - loads the data files beside the page (data/*.json), applies the
     filters (date range presets, platform, campaign, contractor, product,
     manager) kept in the URL hash, and recomputes KPI cards (with the delta
     against the previous equal period and a sparkline), grouped tables,
     funnel stages and the live charts;
   - clicking a table row, a chart bar or a legend item filters the page;
     active filters are removable chips.
   No inline scripts, no third-party requests. */
(function () {
  'use strict';

  var groupSep = '\u202f';
  var unitSep = '\u00a0';
  var DASH = '—';
  var DAY = 86400000;

  /* ------------------------------------------------------------ numbers */

  function group(intDigits) {
    return intDigits.replace(/\B(?=(\d{3})+(?!\d))/g, groupSep);
  }
  function fixed(v, dp) {
    if (v === null || v === undefined || typeof v !== 'number' || !isFinite(v)) { return DASH; }
    var parts = Math.abs(v).toFixed(dp).split('.');
    var s = group(parts[0]) + (dp > 0 ? ',' + parts[1] : '');
    if (v < 0 && Number(Math.abs(v).toFixed(dp)) !== 0) { s = '-' + s; }
    return s;
  }
  /* Tables and tooltips: kopecks. */
  function rub(v) { var s = fixed(v, 2); return s === DASH ? s : s + unitSep + '₽'; }
  /* Cards: roubles. */
  function rub0(v) { var s = fixed(v, 0); return s === DASH ? s : s + unitSep + '₽'; }
  function int(v) { return fixed(v, 0); }
  function pct(v) { var s = fixed(v, 1); return s === DASH ? s : s + unitSep + '%'; }
  /* Axes only: "1,2 млн ₽", "350 тыс. ₽". */
  function rubAxis(v) {
    var a = Math.abs(v);
    var sign = v < 0 ? '-' : '';
    function one(x) { return String(Math.round(x * 10) / 10).replace('.', ','); }
    if (a >= 1e9) { return sign + one(a / 1e9) + unitSep + 'млрд' + unitSep + '₽'; }
    if (a >= 1e6) { return sign + one(a / 1e6) + unitSep + 'млн' + unitSep + '₽'; }
    if (a >= 1e3) { return sign + one(a / 1e3) + unitSep + 'тыс.' + unitSep + '₽'; }
    return sign + group(String(Math.round(a))) + unitSep + '₽';
  }
  function num(x) { return typeof x === 'number' ? x : Number(x || 0); }
  function ratio(a, b) { return b ? a / b : null; }

  /* -------------------------------------------------------------- dates */

  function dayNum(s) { var p = s.split('-'); return Date.UTC(+p[0], +p[1] - 1, +p[2]) / DAY; }
  function dayStr(n) { return new Date(n * DAY).toISOString().slice(0, 10); }
  function dayRu(n) { var s = dayStr(n); return s.slice(8, 10) + '.' + s.slice(5, 7) + '.' + s.slice(0, 4); }

  var body = document.body;
  var asOf = dayNum(body.getAttribute('data-as-of') || new Date().toISOString().slice(0, 10));
  var defaultDays = Number(body.getAttribute('data-default-days') || 30);

  /* The window of the state and the previous window of equal length. */
  function windows(st) {
    var from, to;
    var d = new Date(asOf * DAY);
    switch (st.preset) {
      case 'yesterday': from = to = asOf; break;
      case '7': from = asOf - 6; to = asOf; break;
      case 'month': from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / DAY; to = asOf; break;
      case 'prev_month':
        from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1) / DAY;
        to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / DAY - 1;
        break;
      case 'custom':
        from = st.from ? dayNum(st.from) : asOf - defaultDays + 1;
        to = st.to ? dayNum(st.to) : asOf;
        if (to < from) { var t = to; to = from; from = t; }
        break;
      default: from = asOf - defaultDays + 1; to = asOf;
    }
    var len = to - from + 1;
    return { from: from, to: to, pfrom: from - len, pto: from - 1 };
  }

  /* -------------------------------------------------------------- state */

  var DIMS = ['platform', 'campaign', 'contractor', 'product', 'manager'];
  var DIM_LABELS = { platform: 'Площадка', campaign: 'Кампания', contractor: 'Подрядчик', product: 'Продукт', manager: 'Менеджер' };
  var PRESET_LABELS = { yesterday: 'вчера', '7': '7 дней', '30': '30 дней', month: 'этот месяц', prev_month: 'прошлый месяц', custom: 'произвольный' };

  function readState() {
    var st = { preset: String(defaultDays) };
    var h = window.location.hash.replace(/^#/, '');
    if (!h) { return st; }
    h.split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i < 0) { return; }
      var k = decodeURIComponent(kv.slice(0, i));
      var v = decodeURIComponent(kv.slice(i + 1).replace(/\+/g, ' '));
      if (k === 'preset' || k === 'from' || k === 'to' || DIMS.indexOf(k) >= 0) { st[k] = v; }
    });
    if (!PRESET_LABELS[st.preset]) { st.preset = String(defaultDays); }
    return st;
  }
  function writeState(st) {
    var parts = [];
    if (st.preset && st.preset !== String(defaultDays)) { parts.push('preset=' + encodeURIComponent(st.preset)); }
    if (st.preset === 'custom') {
      if (st.from) { parts.push('from=' + st.from); }
      if (st.to) { parts.push('to=' + st.to); }
    }
    DIMS.forEach(function (k) {
      if (st[k] !== undefined && st[k] !== null) { parts.push(k + '=' + encodeURIComponent(st[k])); }
    });
    var h = parts.join('&');
    if (h) {
      window.location.hash = h;
    } else if (window.location.hash) {
      window.history.pushState(null, '', window.location.pathname + window.location.search);
      render();
    }
  }
  function setFilter(k, v) {
    var st = readState();
    if (v === null || v === undefined || v === '') { delete st[k]; } else { st[k] = v; }
    writeState(st);
  }

  /* --------------------------------------------------------------- data */

  var cache = {};
  function load(name) {
    if (!cache[name]) {
      cache[name] = window.fetch('data/' + name + '.json').then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      }).then(decode);
    }
    return cache[name];
  }
  /* Column table -> array of objects; dictionary columns resolved; dates
     as day numbers in `_d`. */
  function decode(t) {
    var cols = t.columns, dicts = t.dicts || {};
    var rows = t.rows.map(function (r) {
      var o = {};
      for (var i = 0; i < cols.length; i++) {
        var v = r[i];
        o[cols[i]] = dicts[cols[i]] ? dicts[cols[i]][v] : v;
      }
      o._d = dayNum(o.date);
      return o;
    });
    return { rows: rows, colours: t.colours || {}, labels: t.labels || {} };
  }

  function matches(r, st) {
    for (var i = 0; i < DIMS.length; i++) {
      var k = DIMS[i];
      if (st[k] !== undefined && r[k] !== undefined && r[k] !== st[k]) { return false; }
    }
    return true;
  }

  var SUMS = ['spend', 'impressions', 'clicks', 'sessions', 'leads', 'attendees', 'applications', 'sales',
    'customers', 'revenue1', 'revenue2', 'stayed_to_offer'];
  function zero() {
    var t = { cash_revenue: 0, prepayments: 0, surcharges: 0, refunds: 0 };
    SUMS.forEach(function (k) { t[k] = 0; });
    return t;
  }
  function addRow(t, r) {
    SUMS.forEach(function (k) { if (r[k] !== undefined) { t[k] += num(r[k]); } });
  }
  function addCash(t, r) {
    t.cash_revenue += num(r.revenue);
    t.prepayments += num(r.prepayments);
    t.surcharges += num(r.surcharges);
    t.refunds += num(r.refunds);
  }

  /* ---------------------------------------------------------------- KPI */

  var vcRate = 0;
  /* id: [format, growth is good, value] — the same table as kpi.rs. */
  var KPI = {
    spend: ['rub', false, function (t) { return t.spend; }],
    impressions: ['int', true, function (t) { return t.impressions; }],
    clicks: ['int', true, function (t) { return t.clicks; }],
    sessions: ['int', true, function (t) { return t.sessions; }],
    cpc: ['rub', false, function (t) { return ratio(t.spend, t.clicks); }],
    leads: ['int', true, function (t) { return t.leads; }],
    cpl: ['rub', false, function (t) { return ratio(t.spend, t.leads); }],
    attendees: ['int', true, function (t) { return t.attendees; }],
    attendance: ['pct', true, function (t) { return ratio(t.attendees * 100, t.leads); }],
    applications: ['int', true, function (t) { return t.applications; }],
    cpo: ['rub', false, function (t) { return ratio(t.spend, t.applications); }],
    sales: ['int', true, function (t) { return t.sales; }],
    cac: ['rub', false, function (t) { return ratio(t.spend, t.customers); }],
    revenue1: ['rub', true, function (t) { return t.revenue1; }],
    revenue2: ['rub', true, function (t) { return t.revenue2; }],
    cash_revenue: ['rub', true, function (t) { return t.cash_revenue; }],
    prepayments: ['rub', true, function (t) { return t.prepayments; }],
    surcharges: ['rub', true, function (t) { return t.surcharges; }],
    refunds: ['rub', true, function (t) { return t.refunds; }],
    avg_check1: ['rub', true, function (t) { return ratio(t.revenue1, t.sales); }],
    avg_check2: ['rub', true, function (t) { return ratio(t.revenue2, t.sales); }],
    ltv1: ['rub', true, function (t) { return ratio(t.revenue1, t.customers); }],
    ltv2: ['rub', true, function (t) { return ratio(t.revenue2, t.customers); }],
    romi1: ['pct', true, function (t) { return t.spend ? (t.revenue1 - t.spend) / t.spend * 100 : null; }],
    romi2: ['pct', true, function (t) { return t.spend ? (t.revenue2 - t.spend) / t.spend * 100 : null; }],
    margin: ['rub', true, function (t) { return t.revenue2 - t.spend - t.revenue2 * vcRate; }]
  };
  function fmtCard(f, v) { return f === 'rub' ? rub0(v) : f === 'pct' ? pct(v) : int(v); }
  function fmtCell(f, v) { return f === 'rub' ? rub(v) : f === 'pct' ? pct(v) : int(v); }

  function delta(k, cur, prev) {
    var f = KPI[k][0], upGood = KPI[k][1];
    if (cur === null || prev === null || cur === undefined || prev === undefined) {
      return { cls: 'na', text: DASH, title: 'нет данных за предыдущий период' };
    }
    var ch;
    if (f === 'pct') { ch = cur - prev; } else if (prev === 0) { ch = null; } else { ch = (cur - prev) / Math.abs(prev) * 100; }
    if (ch === null) { return { cls: 'na', text: DASH, title: 'нет данных за предыдущий период' }; }
    var unit = f === 'pct' ? unitSep + 'п.' + unitSep + 'п.' : unitSep + '%';
    var r = Math.round(ch * 10) / 10;
    var mag = fixed(Math.abs(r), 1) + unit;
    if (r === 0) { return { cls: 'flat', text: '= ' + mag, title: 'без изменений к предыдущему периоду' }; }
    var up = r > 0, good = up === upGood;
    return {
      cls: good ? 'good' : 'bad',
      text: (up ? '▲ ' : '▼ ') + mag,
      title: (up ? 'рост' : 'снижение') + ' на ' + mag + ' к предыдущему периоду (' + fmtCard(f, prev) + ') — ' + (good ? 'хорошо' : 'плохо')
    };
  }
  function spark(values) {
    var known = [];
    values.forEach(function (v, i) { if (v !== null && isFinite(v)) { known.push([i, v]); } });
    if (known.length < 2 || values.length < 2) { return ''; }
    var lo = Infinity, hi = -Infinity;
    known.forEach(function (p) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); });
    var span = hi > lo ? hi - lo : 1, n = values.length - 1;
    return known.map(function (p) {
      return (p[0] / n * 100).toFixed(1) + ',' + (22 - (p[1] - lo) / span * 20).toFixed(1);
    }).join(' ');
  }

  /* --------------------------------------------------------- rendering */

  var charts = {};
  var liveCharts = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function render() {
    var st = readState();
    var w = windows(st);
    syncForm(st, w);
    renderChips(st, w);
    syncNav();
    var period = document.querySelector('[data-period]');
    if (period) { period.textContent = dayRu(w.from) + ' – ' + dayRu(w.to); }
    var prevEl = document.querySelector('[data-prev]');
    if (prevEl) { prevEl.textContent = dayRu(w.pfrom) + ' – ' + dayRu(w.pto); }
    var page = body.getAttribute('data-page');
    if (page === 'index' || page === 'targeting') {
      Promise.all([load('channels'), load('cash')]).then(function (d) {
        renderChannels(d[0], d[1], st, w, page);
      }).catch(noData);
    } else if (page === 'funnel') {
      load('funnel').then(function (f) { renderFunnel(f, st, w); }).catch(noData);
    }
  }
  function noData() {
    var p = document.querySelector('[data-filters]');
    if (p) {
      p.hidden = true;
    }
  }

  function renderChannels(ch, cash, st, w, page) {
    var cur = zero(), prev = zero(), byDay = {};
    ch.rows.forEach(function (r) {
      if (!matches(r, st)) { return; }
      if (r._d >= w.from && r._d <= w.to) {
        addRow(cur, r);
        if (!byDay[r._d]) { byDay[r._d] = zero(); }
        addRow(byDay[r._d], r);
      } else if (r._d >= w.pfrom && r._d <= w.pto) { addRow(prev, r); }
    });
    cash.rows.forEach(function (r) {
      if (r._d >= w.from && r._d <= w.to) {
        addCash(cur, r);
        if (!byDay[r._d]) { byDay[r._d] = zero(); }
        addCash(byDay[r._d], r);
      } else if (r._d >= w.pfrom && r._d <= w.pto) { addCash(prev, r); }
    });
    var days = [];
    for (var d = w.from; d <= w.to; d++) { days.push(d); }
    document.querySelectorAll('[data-kpi]').forEach(function (card) {
      var k = card.getAttribute('data-kpi');
      if (!KPI[k]) { return; }
      var f = KPI[k][2];
      var v = f(cur), p = f(prev);
      var ve = card.querySelector('[data-v]');
      ve.textContent = fmtCard(KPI[k][0], v);
      ve.classList.toggle('na', v === null);
      var dl = delta(k, v, p);
      var de = card.querySelector('[data-d]');
      de.className = 'delta delta--' + dl.cls;
      de.title = dl.title;
      de.firstChild.textContent = dl.text;
      var sr = card.querySelector('[data-dsr]');
      if (sr) { sr.textContent = ' (' + dl.title + ')'; }
      var pl = card.querySelector('[data-s]');
      if (pl) {
        pl.setAttribute('points', spark(days.map(function (day) { return f(byDay[day] || zero()); })));
      }
      var h = card.querySelector('[data-h]');
      if (h) { h.textContent = hint(k, cur); }
    });
    document.querySelectorAll('table[data-group]').forEach(function (t) {
      renderGroupTable(t, ch, st, w);
    });
    var cashTable = document.querySelector('[data-cash-table] tbody');
    if (cashTable) {
      cashTable.textContent = '';
      days.forEach(function (day) {
        var t = byDay[day] || zero();
        var tr = el('tr');
        tr.appendChild(el('th', '', dayRu(day))).setAttribute('scope', 'row');
        [t.cash_revenue, t.prepayments, t.surcharges, t.refunds, cashSpend(cash, day)].forEach(function (v) { tr.appendChild(el('td', '', rub(v))); });
        cashTable.appendChild(tr);
      });
    }
    if (page === 'index') {
      liveChart('daily', dailyOption(days, byDay));
      liveChart('cash', cashOption(days, byDay, cash));
    } else {
      liveChart('targeting', targetingOption(days, byDay));
      liveChart('attendance', attendanceOption(ch, st, w));
    }
  }
  function cashSpend(cash, day) {
    for (var i = 0; i < cash.rows.length; i++) { if (cash.rows[i]._d === day) { return num(cash.rows[i].spend); } }
    return 0;
  }

  function n(v, one, few, many) {
    var m10 = v % 10, m100 = v % 100;
    var w = m10 === 1 && m100 !== 11 ? one : m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14) ? few : many;
    return int(v) + ' ' + w;
  }
  function hint(k, t) {
    var s = rub0(t.spend);
    switch (k) {
      case 'spend': return 'по дате статистики';
      case 'leads': return 'регистрации без дублей';
      case 'clicks': return 'сессий: ' + int(t.sessions);
      case 'cpc': return s + ' / ' + n(t.clicks, 'клик', 'клика', 'кликов');
      case 'cpl': return s + ' / ' + n(t.leads, 'лид', 'лида', 'лидов');
      case 'cpo': return s + ' / ' + n(t.applications, 'заявка', 'заявки', 'заявок');
      case 'cac': return s + ' / ' + n(t.customers, 'клиент', 'клиента', 'клиентов');
      case 'attendance': return int(t.attendees) + ' из ' + n(t.leads, 'лид', 'лида', 'лидов');
      case 'sales': return n(t.customers, 'клиент', 'клиента', 'клиентов');
      case 'revenue1': return 'первые платежи продаж';
      case 'revenue2': return 'с доплатами, за вычетом возвратов';
      case 'cash_revenue': return 'предоплаты ' + rub0(t.prepayments) + ' · доплаты ' + rub0(t.surcharges);
      case 'romi1': return '(' + rub0(t.revenue1) + ' − ' + s + ') / ' + s;
      case 'romi2': return '(' + rub0(t.revenue2) + ' − ' + s + ') / ' + s;
      case 'avg_check1': return rub0(t.revenue1) + ' / ' + n(t.sales, 'продажа', 'продажи', 'продаж');
      case 'avg_check2': return rub0(t.revenue2) + ' / ' + n(t.sales, 'продажа', 'продажи', 'продаж');
      case 'ltv1': return rub0(t.revenue1) + ' / ' + n(t.customers, 'клиент', 'клиента', 'клиентов');
      case 'ltv2': return rub0(t.revenue2) + ' / ' + n(t.customers, 'клиент', 'клиента', 'клиентов');
      case 'margin': return rub0(t.revenue2) + ' − ' + s + ' − переменные затраты';
      default: return '';
    }
  }

  function label(dim, key, data) {
    if (dim === 'platform') { return (data.labels && data.labels[key]) || key; }
    if (dim === 'campaign' && key === '') { return '(без кампании)'; }
    if (dim === 'product' && key === '') { return '(продукт не указан)'; }
    if (dim === 'manager' && key === '') { return '(лиды без менеджера)'; }
    return key;
  }

  function renderGroupTable(table, ch, st, w) {
    var dim = table.getAttribute('data-group');
    var cols = table.getAttribute('data-cols').split(',');
    var groups = {}, total = zero();
    ch.rows.forEach(function (r) {
      if (r._d < w.from || r._d > w.to || !matches(r, st)) { return; }
      var k = r[dim];
      if (!groups[k]) { groups[k] = zero(); }
      addRow(groups[k], r);
      addRow(total, r);
    });
    var keys = Object.keys(groups).sort(function (a, b) {
      var ua = a === '(не определено)', ub = b === '(не определено)';
      if (ua !== ub) { return ua ? 1 : -1; }
      if (groups[b].spend !== groups[a].spend) { return groups[b].spend - groups[a].spend; }
      return a < b ? -1 : a > b ? 1 : 0;
    });
    var tbody = table.querySelector('tbody');
    tbody.textContent = '';
    keys.forEach(function (k) {
      var tr = el('tr');
      var th = el('th');
      th.setAttribute('scope', 'row');
      var b = el('button', 'rowfilter');
      b.type = 'button';
      b.setAttribute('data-dim', dim);
      b.setAttribute('data-key', k);
      if (st[dim] === k) { b.setAttribute('aria-pressed', 'true'); }
      if (dim === 'platform' && ch.colours[k]) { b.appendChild(dot(ch.colours[k])); }
      b.appendChild(document.createTextNode(label(dim, k, ch)));
      th.appendChild(b);
      tr.appendChild(th);
      cells(tr, cols, groups[k]);
      tbody.appendChild(tr);
    });
    if (!keys.length) {
      var td = el('td', 'empty', 'Нет данных за период');
      td.colSpan = cols.length + 1;
      tbody.appendChild(el('tr')).appendChild(td);
    }
    var ftr = table.querySelector('tfoot tr');
    if (ftr) {
      while (ftr.children.length > 1) { ftr.removeChild(ftr.lastChild); }
      cells(ftr, cols, total);
    }
  }
  function cells(tr, cols, t) {
    cols.forEach(function (c) {
      var v = KPI[c] ? KPI[c][2](t) : null;
      tr.appendChild(el('td', v === null ? 'na' : '', fmtCell(KPI[c] ? KPI[c][0] : 'int', v)));
    });
  }
  function dot(colour) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'dot');
    svg.setAttribute('viewBox', '0 0 10 10');
    svg.setAttribute('aria-hidden', 'true');
    var c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', '5'); c.setAttribute('cy', '5'); c.setAttribute('r', '5');
    c.setAttribute('fill', colour);
    svg.appendChild(c);
    return svg;
  }

  /* ------------------------------------------------------------- funnel */

  var STAGES = ['leads', 'attendees', 'stayed_to_offer', 'applications', 'sales'];
  var STAGE_LABELS = { leads: 'Лиды', attendees: 'Дошли до вебинара', stayed_to_offer: 'Досмотрели до продажи', applications: 'Заявки', sales: 'Продажи' };
  function renderFunnel(f, st, w) {
    var cur = zero(), prev = zero();
    f.rows.forEach(function (r) {
      if (!matches(r, st)) { return; }
      if (r._d >= w.from && r._d <= w.to) { addRow(cur, r); } else if (r._d >= w.pfrom && r._d <= w.pto) { addRow(prev, r); }
    });
    var top = Math.max.apply(null, STAGES.map(function (s) { return cur[s]; }));
    var worst = null, worstDrop = 0;
    for (var i = 1; i < STAGES.length; i++) {
      var c = ratio(cur[STAGES[i]] * 100, cur[STAGES[i - 1]]);
      var p = ratio(prev[STAGES[i]] * 100, prev[STAGES[i - 1]]);
      if (c !== null && p !== null && p - c > worstDrop) { worstDrop = p - c; worst = i; }
    }
    STAGES.forEach(function (s, i) {
      var li = document.querySelector('[data-stage="' + s + '"]');
      if (!li) { return; }
      li.classList.toggle('stage--weak', worst === i);
      li.querySelector('[data-c]').textContent = int(cur[s]);
      li.querySelector('rect').setAttribute('width', top ? (cur[s] / top * 100).toFixed(1) : '0');
      var cv = li.querySelector('[data-cv]');
      if (i > 0) {
        cv.textContent = 'CR ' + pct(ratio(cur[s] * 100, cur[STAGES[i - 1]])) + ' (' +
          pct(ratio(prev[s] * 100, prev[STAGES[i - 1]])) + ')' + (worst === i ? ' · слабое звено' : '');
      }
      li.querySelector('[data-fl]').textContent = pct(ratio(cur[s] * 100, cur.leads)) + ' от лидов';
    });
    var wk = document.querySelector('[data-weakest]');
    if (wk) {
      wk.textContent = worst === null ? 'Ни одна конверсия не снизилась к предыдущему периоду.' :
        '⚠ Слабое звено: ' + STAGE_LABELS[STAGES[worst]] + ' — конверсия в этот этап упала сильнее всего к предыдущему периоду.';
    }
  }

  /* ------------------------------------------------------------- charts */

  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  function base(extra) {
    var o = {
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: 'axis', valueFormatter: rub },
      legend: { type: 'scroll', top: 0, left: 0 },
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true }
    };
    for (var k in extra) { if (Object.prototype.hasOwnProperty.call(extra, k)) { o[k] = extra[k]; } }
    return o;
  }
  function dailyOption(days, byDay) {
    function s(k) { return days.map(function (d) { return Math.round(((byDay[d] || zero())[k]) * 100) / 100; }); }
    return base({
      color: ['#6B7A8F', '#0072B2', '#D55E00'],
      xAxis: { type: 'category', data: days.map(dayRu) },
      yAxis: { type: 'value', axisLabel: { formatter: rubAxis } },
      series: [
        { type: 'bar', name: 'Расход', data: s('spend'), barMaxWidth: 48 },
        { type: 'line', name: 'Выручка (первые платежи)', data: s('revenue1'), lineStyle: { width: 2 } },
        { type: 'line', name: 'Выручка (с доплатами)', data: s('revenue2'), lineStyle: { width: 2 } }
      ]
    });
  }
  function cashOption(days, byDay, cash) {
    function s(k) { return days.map(function (d) { return Math.round(((byDay[d] || zero())[k]) * 100) / 100; }); }
    return base({
      color: ['#0072B2', '#6B7A8F', '#009E73', '#E69F00', '#CC3311'],
      xAxis: { type: 'category', data: days.map(dayRu) },
      yAxis: { type: 'value', axisLabel: { formatter: rubAxis } },
      series: [
        { type: 'bar', name: 'Поступления', data: s('cash_revenue'), barMaxWidth: 24 },
        { type: 'bar', name: 'Расход', data: days.map(function (d) { return cashSpend(cash, d); }), barMaxWidth: 24 },
        { type: 'line', name: 'Предоплаты', data: s('prepayments') },
        { type: 'line', name: 'Доплаты', data: s('surcharges') },
        { type: 'bar', name: 'Возвраты', data: s('refunds'), barMaxWidth: 24 }
      ]
    });
  }
  function targetingOption(days, byDay) {
    function s(k) { return days.map(function (d) { return (byDay[d] || zero())[k]; }); }
    var o = base({
      color: ['#6B7A8F', '#56B4E9', '#0072B2', '#CC79A7', '#D55E00'],
      xAxis: { type: 'category', data: days.map(dayRu) },
      yAxis: [{ type: 'value', axisLabel: { formatter: rubAxis } }, { type: 'value', axisLabel: { formatter: function (v) { return int(v); } } }],
      series: [
        { type: 'bar', name: 'Расход', data: s('spend').map(function (v) { return Math.round(v * 100) / 100; }), barMaxWidth: 24 },
        { type: 'line', name: 'Клики', yAxisIndex: 1, data: s('clicks') },
        { type: 'line', name: 'Лиды', yAxisIndex: 1, data: s('leads') },
        { type: 'line', name: 'Дошли до вебинара', yAxisIndex: 1, data: s('attendees') },
        { type: 'line', name: 'Продажи', yAxisIndex: 1, data: s('sales') }
      ]
    });
    o.tooltip = { trigger: 'axis', formatter: function (ps) {
      var out = ps.length ? ps[0].axisValueLabel : '';
      ps.forEach(function (p) { out += '<br>' + p.marker + p.seriesName + ': ' + (p.seriesIndex === 0 ? rub(p.value) : int(p.value)); });
      return out;
    } };
    return o;
  }
  function attendanceOption(ch, st, w) {
    var g = {};
    ch.rows.forEach(function (r) {
      if (r._d < w.from || r._d > w.to || !matches(r, st)) { return; }
      if (!g[r.platform]) { g[r.platform] = { l: 0, a: 0 }; }
      g[r.platform].l += r.leads; g[r.platform].a += r.attendees;
    });
    var keys = Object.keys(g).filter(function (k) { return g[k].l > 0; }).sort(function (a, b) { return g[b].l - g[a].l; });
    return {
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      tooltip: { trigger: 'item', formatter: function (p) {
        var x = g[keys[p.dataIndex]];
        return label('platform', keys[p.dataIndex], ch) + ': доходимость ' + pct(p.value) + ' = ' + int(x.a) + ' / ' + int(x.l) + ' лидов';
      } },
      xAxis: { type: 'category', data: keys.map(function (k) { return label('platform', k, ch); }) },
      yAxis: { type: 'value', axisLabel: { formatter: function (v) { return v + unitSep + '%'; } } },
      series: [{ type: 'bar', name: 'Доходимость', barMaxWidth: 48, data: keys.map(function (k) {
        return { value: Math.round(g[k].a / g[k].l * 1000) / 10, itemStyle: { color: ch.colours[k] || '#6B7A8F' }, key: k };
      }) }]
    };
  }

  function liveChart(name, option) {
    var node = document.querySelector('[data-live-chart="' + name + '"]');
    if (!node || typeof window.echarts === 'undefined') { return; }
    var c = charts[name];
    if (!c) {
      c = window.echarts.init(node, null, { renderer: 'svg' });
      charts[name] = c;
      liveCharts.push(c);
      c.on('click', function (p) {
        if (name === 'attendance' && p.data && p.data.key) {
          setFilter('platform', p.data.key);
        } else if (p.name && /^\d\d\.\d\d\.\d{4}$/.test(p.name)) {
          /* A day's bar: show that day. */
          var iso = p.name.slice(6, 10) + '-' + p.name.slice(3, 5) + '-' + p.name.slice(0, 2);
          var st = readState();
          st.preset = 'custom'; st.from = iso; st.to = iso;
          writeState(st);
        }
      });
    }
    c.setOption(option, true);
  }

  /* Static charts from embedded options (cohort curves). */
  function initStatic(node) {
    var src = document.getElementById(node.getAttribute('data-chart'));
    if (!src || typeof window.echarts === 'undefined') { return null; }
    var option = JSON.parse(src.textContent);
    if (node.getAttribute('data-unit') === 'rub') {
      option.tooltip = option.tooltip || {};
      option.tooltip.valueFormatter = rub;
      (Array.isArray(option.yAxis) ? option.yAxis : [option.yAxis]).forEach(function (a) {
        if (a) { a.axisLabel = a.axisLabel || {}; a.axisLabel.formatter = rubAxis; }
      });
    }
    option.textStyle = option.textStyle || { fontFamily: FONT };
    var chart = window.echarts.init(node, null, { renderer: 'svg' });
    chart.setOption(option);
    return chart;
  }

  /* ------------------------------------------------------------ filters */

  var form = null;
  function syncForm(st, w) {
    if (!form) { return; }
    form.elements.preset.value = st.preset;
    form.elements.from.value = dayStr(w.from);
    form.elements.to.value = dayStr(w.to);
    form.classList.toggle('is-custom', st.preset === 'custom');
    DIMS.forEach(function (k) {
      var s = form.elements[k];
      if (!s) { return; }
      var v = st[k] === undefined ? '' : st[k];
      if (v !== '' && !Array.prototype.some.call(s.options, function (o) { return o.value === v; })) {
        var o = el('option', '', v);
        o.value = v;
        s.appendChild(o);
      }
      s.value = v;
    });
  }
  function renderChips(st, w) {
    var box = document.querySelector('[data-chips]');
    if (!box) { return; }
    box.textContent = '';
    function chip(text, onRemove) {
      var b = el('button', 'chip');
      b.type = 'button';
      b.appendChild(document.createTextNode(text + ' '));
      var x = el('span', 'chip__x', '×');
      x.setAttribute('aria-hidden', 'true');
      b.appendChild(x);
      b.setAttribute('aria-label', 'Убрать фильтр «' + text + '»');
      b.addEventListener('click', onRemove);
      box.appendChild(b);
    }
    if (st.preset !== String(defaultDays)) {
      chip('Период: ' + (st.preset === 'custom' ? dayRu(w.from) + ' – ' + dayRu(w.to) : PRESET_LABELS[st.preset]), function () {
        var s = readState(); s.preset = String(defaultDays); delete s.from; delete s.to; writeState(s);
      });
    }
    DIMS.forEach(function (k) {
      if (st[k] === undefined || !form || !form.elements[k]) { return; }
      var sel = form.elements[k];
      var opt = Array.prototype.filter.call(sel.options, function (o) { return o.value === st[k]; })[0];
      chip(DIM_LABELS[k] + ': ' + (opt ? opt.textContent : st[k]), function () { setFilter(k, null); });
    });
  }
  /* Keep the filters when moving between report pages. */
  function syncNav() {
    var h = window.location.hash;
    document.querySelectorAll('.nav a').forEach(function (a) {
      var href = a.getAttribute('href').split('#')[0];
      if (/^(index|targeting|funnel)\.html$/.test(href)) { a.setAttribute('href', href + h); }
    });
  }

  function start() {
    form = document.querySelector('[data-filters]');
    if (form && window.fetch) {
      form.hidden = false;
      form.addEventListener('submit', function (e) { e.preventDefault(); });
      form.addEventListener('change', function (e) {
        var t = e.target, st = readState();
        if (t.name === 'preset') {
          st.preset = t.value;
          if (t.value === 'custom') { var w = windows(readState()); st.from = dayStr(w.from); st.to = dayStr(w.to); }
        } else if (t.name === 'from' || t.name === 'to') {
          st.preset = 'custom'; st.from = form.elements.from.value; st.to = form.elements.to.value;
        } else if (DIMS.indexOf(t.name) >= 0) {
          if (t.value === '') { delete st[t.name]; } else { st[t.name] = t.value; }
        }
        writeState(st);
      });
    }
    document.addEventListener('click', function (e) {
      var b = e.target.closest ? e.target.closest('.rowfilter') : null;
      if (!b) { return; }
      var st = readState(), dim = b.getAttribute('data-dim'), key = b.getAttribute('data-key');
      setFilter(dim, st[dim] === key ? null : key);
    });
    var statics = [];
    document.querySelectorAll('[data-chart]').forEach(function (node) {
      var c = initStatic(node);
      if (c) { statics.push(c); } else { node.classList.add('is-hidden'); }
    });
    window.addEventListener('hashchange', render);
    window.addEventListener('popstate', render);
    var pending = null;
    window.addEventListener('resize', function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () {
        statics.concat(liveCharts).forEach(function (c) { c.resize(); });
      }, 100);
    });
    if (form && window.fetch) {
      window.fetch('data/summary.json').then(function (r) { return r.json(); }).then(function (s) {
        var r2 = Number(s.revenue2);
        vcRate = r2 ? Number(s.variable_costs) / r2 : 0;
      }).catch(function () { vcRate = 0; }).then(render);
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
