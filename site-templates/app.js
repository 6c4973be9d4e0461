/* voronka: initialises the charts of a page from their JSON options
   (<script type="application/json">), adds Russian number formatting and
   keeps them sized. No inline scripts, no third-party requests. */
(function () {
  'use strict';

  var groupSep = '\u202f';
  var unitSep = '\u00a0';

  function group(intDigits) {
    return intDigits.replace(/\B(?=(\d{3})+(?!\d))/g, groupSep);
  }

  /* 1234567.891 -> "1 234 567,89 ₽" (kopecks, as in tables and tooltips). */
  function rub(v) {
    if (v === null || v === undefined || typeof v !== 'number' || !isFinite(v)) {
      return '—';
    }
    var neg = v < 0;
    var parts = Math.abs(v).toFixed(2).split('.');
    var s = group(parts[0]) + ',' + parts[1];
    if (neg && Number(parts[0] + '.' + parts[1]) !== 0) {
      s = '-' + s;
    }
    return s + unitSep + '₽';
  }

  /* Abbreviated for axes only: "1,2 млн ₽", "350 тыс. ₽". */
  function rubAxis(v) {
    var a = Math.abs(v);
    var sign = v < 0 ? '-' : '';
    function one(x) {
      var r = Math.round(x * 10) / 10;
      return String(r).replace('.', ',');
    }
    if (a >= 1e9) { return sign + one(a / 1e9) + unitSep + 'млрд' + unitSep + '₽'; }
    if (a >= 1e6) { return sign + one(a / 1e6) + unitSep + 'млн' + unitSep + '₽'; }
    if (a >= 1e3) { return sign + one(a / 1e3) + unitSep + 'тыс.' + unitSep + '₽'; }
    return sign + group(String(Math.round(a))) + unitSep + '₽';
  }

  function asArray(x) {
    if (!x) { return []; }
    return Array.isArray(x) ? x : [x];
  }

  function init(el) {
    var src = document.getElementById(el.getAttribute('data-chart'));
    if (!src || typeof window.echarts === 'undefined') {
      return null;
    }
    var option = JSON.parse(src.textContent);
    if (el.getAttribute('data-unit') === 'rub') {
      option.tooltip = option.tooltip || {};
      option.tooltip.valueFormatter = rub;
      asArray(option.yAxis).forEach(function (axis) {
        axis.axisLabel = axis.axisLabel || {};
        axis.axisLabel.formatter = rubAxis;
      });
    }
    asArray(option.series).forEach(function (series) {
      if (series.type === 'bar' && series.barMaxWidth === undefined) {
        series.barMaxWidth = 48;
      }
    });
    option.textStyle = option.textStyle || {
      fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'
    };
    var chart = window.echarts.init(el, null, { renderer: 'svg' });
    chart.setOption(option);
    return chart;
  }

  function start() {
    var charts = [];
    var els = document.querySelectorAll('[data-chart]');
    for (var i = 0; i < els.length; i++) {
      var c = init(els[i]);
      if (c) {
        charts.push(c);
      } else {
        /* No ECharts: show the table alternative instead of an empty box. */
        els[i].style.display = 'none';
        var alt = els[i].parentNode.querySelector('[data-chart-alt]');
        if (alt) { alt.classList.add('is-visible'); }
      }
    }
    var pending = null;
    window.addEventListener('resize', function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () {
        charts.forEach(function (c) { c.resize(); });
      }, 100);
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
