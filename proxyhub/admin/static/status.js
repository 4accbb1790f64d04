// proxyhub status page: polls /status.json every second and draws SVG line charts.
// No libraries, no inline code (the page's Content-Security-Policy forbids both).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 600;
  const HEIGHT = 180;
  const PAD = { left: 46, right: 8, top: 10, bottom: 22 };
  const WINDOW_S = 300; // seconds shown on the x axis
  const POLL_MS = 1000;

  function svgElement(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceCeiling(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  function formatNumber(value) {
    if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (value >= 1e4) return (value / 1e3).toFixed(1) + "k";
    if (Number.isInteger(value)) return String(value);
    return value.toFixed(value < 10 ? 2 : 1);
  }

  function formatUptime(seconds) {
    let s = Math.floor(seconds);
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
      if (s >= size || parts.length) parts.push(Math.floor(s / size) + unit);
      s %= size;
    }
    parts.push(s + "s");
    return parts.join(" ");
  }

  function drawAxes(svg, top) {
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    for (const fraction of [0, 0.5, 1]) {
      const y = PAD.top + plotH * (1 - fraction);
      svg.append(svgElement("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y }));
      svg.append(svgElement("text", { class: "axis", x: PAD.left - 6, y: y + 4, "text-anchor": "end" },
        formatNumber(top * fraction)));
    }
    const plotW = WIDTH - PAD.left - PAD.right;
    for (let minute = 0; minute <= WINDOW_S / 60; minute++) {
      const x = PAD.left + plotW * (1 - (minute * 60) / WINDOW_S);
      const label = minute === 0 ? "now" : "-" + minute + "m";
      const anchor = minute === 0 ? "end" : "middle";
      svg.append(svgElement("text", { class: "axis", x: x.toFixed(1), y: HEIGHT - 6, "text-anchor": anchor }, label));
    }
  }

  function drawChart(svg, series) {
    const names = svg.dataset.series.split(" ");
    const times = series.t || [];
    const columns = names.map((name) => series[name] || []);
    const top = niceCeiling(Math.max(0, ...columns.flat()));
    svg.replaceChildren();
    drawAxes(svg, top);
    if (times.length === 0) {
      svg.append(svgElement("text", { class: "empty", x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" },
        "waiting for data\u2026"));
      return;
    }
    const end = times[times.length - 1];
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    columns.forEach((values, index) => {
      const points = [];
      values.forEach((value, i) => {
        const age = end - times[i];
        if (age > WINDOW_S) return;
        const x = PAD.left + plotW * (1 - age / WINDOW_S);
        const y = PAD.top + plotH * (1 - value / top);
        points.push(x.toFixed(1) + "," + y.toFixed(1));
      });
      svg.append(svgElement("polyline", { class: "line s" + index, "data-name": names[index], points: points.join(" ") }));
    });
  }

  function drawLegend(svg, series) {
    const legend = document.querySelector('.legend[data-for="' + svg.id + '"]');
    const names = svg.dataset.series.split(" ");
    const labels = svg.dataset.labels.split(" ");
    legend.replaceChildren(...names.map((name, index) => {
      const values = series[name] || [];
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch s" + index;
      const value = document.createElement("span");
      value.className = "value";
      value.id = "now-" + name;
      value.textContent = values.length ? formatNumber(values[values.length - 1]) : "\u2013";
      item.append(swatch, labels[index] || name, value);
      return item;
    }));
  }

  function drawBackends(backends) {
    const body = document.querySelector("#backends tbody");
    const rows = [];
    for (const host of Object.keys(backends).sort()) {
      for (const backend of Object.keys(backends[host]).sort()) {
        const state = backends[host][backend];
        const row = document.createElement("tr");
        for (const [text, cls] of [[host, "host"], [backend, "backend"], [state, "state " + state]]) {
          const cell = document.createElement("td");
          cell.className = cls;
          cell.textContent = text;
          row.append(cell);
        }
        rows.push(row);
      }
    }
    body.replaceChildren(...rows);
    document.getElementById("no-backends").hidden = rows.length > 0;
  }

  function drawHealth(health) {
    const status = document.getElementById("status");
    status.textContent = health.status;
    status.className = health.status === "ok" ? "ok" : "bad";
    document.getElementById("uptime").textContent = formatUptime(health.uptime_s || 0);
    document.getElementById("workers").textContent = String(health.workers);
    document.getElementById("listeners").textContent = (health.listeners || []).join(", ") || "none";
    drawBackends(health.backends || {});
  }

  function render(data) {
    drawHealth(data.health);
    for (const svg of document.querySelectorAll("svg.chart")) {
      drawChart(svg, data.series);
      drawLegend(svg, data.series);
    }
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
  }

  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.hidden = message === "";
  }

  async function poll() {
    try {
      const response = await fetch("/status.json", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      document.body.dataset.polls = String(Number(document.body.dataset.polls) + 1);
      showError("");
    } catch (error) {
      document.body.dataset.failures = String(Number(document.body.dataset.failures) + 1);
      showError("Cannot load /status.json: " + error.message);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
