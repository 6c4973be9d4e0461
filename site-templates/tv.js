/* voronka office TV: rotates panels, polls ../version.json every 60 s
   (?poll=<seconds> overrides that, e.g. for tests) and reloads only when it
   changed, warns when the data is stale. */
(function () {
  'use strict';
  var body = document.body;
  var rotate = Number(body.getAttribute('data-rotate') || 25);
  var staleHours = Number(body.getAttribute('data-stale-hours') || 26);
  var tz = body.getAttribute('data-timezone') || 'Europe/Moscow';
  var generated = body.getAttribute('data-generated') || '';
  var panels = document.querySelectorAll('.tv-panel');
  var bar = document.querySelector('[data-progress]');
  var staleEl = document.querySelector('[data-stale]');
  var current = 0;
  var version = null;
  /* Poll interval in seconds: ?poll=<seconds> (a positive number), else 60. */
  function pollSeconds() {
    var m = /[?&]poll=([^&#]*)/.exec(window.location.search || '');
    var n = m ? Number(decodeURIComponent(m[1])) : NaN;
    return isFinite(n) && n > 0 ? n : 60;
  }

  function restartProgress() {
    if (!bar) { return; }
    bar.style.setProperty('--rotate', rotate + 's');
    bar.classList.remove('run');
    void bar.offsetWidth; /* restart the CSS animation */
    bar.classList.add('run');
  }
  function show(i) {
    for (var k = 0; k < panels.length; k++) {
      panels[k].classList.toggle('is-active', k === i);
    }
    restartProgress();
  }
  /* "Now" as a naive local time in the school's zone, comparable with
     data-generated (YYYY-MM-DDTHH:MM:SS, school zone). */
  function schoolNow() {
    var f = new Intl.DateTimeFormat('sv-SE', {
      timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false
    });
    return Date.parse(f.format(new Date()).replace(' ', 'T') + 'Z');
  }
  function checkStale(gen) {
    var t = Date.parse(gen + 'Z');
    if (!staleEl || isNaN(t)) { return; }
    var ageHours = (schoolNow() - t) / 3600000;
    if (ageHours > staleHours) {
      var m = gen.match(/^\d{4}-(\d{2})-(\d{2})T(\d{2}):(\d{2})/);
      staleEl.textContent = '⚠ данные от ' + m[2] + '.' + m[1] + ' ' + m[3] + ':' + m[4] +
        ' — обновление задерживается';
      staleEl.hidden = false;
    } else {
      staleEl.hidden = true;
    }
  }
  function poll() {
    if (!window.fetch) { return; }
    window.fetch('../version.json', { cache: 'no-store' }).then(function (r) {
      return r.ok ? r.text() : Promise.reject(r.status);
    }).then(function (text) {
      if (version !== null && text !== version) {
        window.location.reload();
        return;
      }
      version = text;
      try { checkStale(JSON.parse(text).generated_at || generated); } catch (e) { checkStale(generated); }
    }).catch(function () { checkStale(generated); });
  }
  /* Celebrate a manager whose sales count grew since the last load. */
  function celebrate() {
    var rows = document.querySelectorAll('.race__row[data-key]');
    var store = null;
    try { store = window.localStorage; } catch (e) { store = null; }
    if (!store) { return; }
    for (var i = 0; i < rows.length; i++) {
      var key = 'voronka-tv-sales:' + rows[i].getAttribute('data-key');
      var now = rows[i].getAttribute('data-sales');
      var before = store.getItem(key);
      if (before !== null && Number(now.replace(/\D/g, '')) > Number(before.replace(/\D/g, ''))) {
        rows[i].classList.add('celebrate');
      }
      store.setItem(key, now);
    }
  }
  show(0);
  checkStale(generated);
  celebrate();
  if (panels.length > 1) {
    window.setInterval(function () {
      current = (current + 1) % panels.length;
      show(current);
    }, rotate * 1000);
  }
  poll();
  window.setInterval(poll, pollSeconds() * 1000);
}());
