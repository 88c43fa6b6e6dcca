// The appliance's page: polls the live state while the page is visible, draws today's chart as
// an inline SVG, and sends mode and pause changes with the session's CSRF token.
"use strict";

const STATE_WORDS = { starting: "STARTING", problem: "PROBLEM", charging: "CHARGING", paused: "PAUSED",
  no_car: "NO CAR", off: "OFF", waiting: "WAITING" };
const MODE_WORDS = { fast: "Fast", pv: "PV only", minpv: "Min + PV", off: "Off" };
const SERIES = [
  { key: "pv_w", name: "PV", cls: "pv", colour: "#ffd400" },
  { key: "house_w", name: "House", cls: "house", colour: "#bbbbbb" },
  { key: "car_w", name: "Car", cls: "car", colour: "#00d250" },
  { key: "allowance_w", name: "Grid allowance", cls: "allowance", colour: "#5aaaff", dash: "6 4" },
  { key: "battery_w", name: "Battery (+ giving, − charging)", cls: "battery", colour: "#c070ff" },
];
const SVG_NS = "http://www.w3.org/2000/svg";
// Every 2 s; "?poll_ms=" changes it (tests), never below 200 ms.
const POLL_MS = Math.min(60000, Math.max(200, Number(new URLSearchParams(location.search).get("poll_ms")) || 2000));
let csrf = null;
let lastState = null;

const $ = (id) => document.getElementById(id);
const kw = (w) => (w === null || w === undefined) ? "–" : (w / 1000).toFixed(1) + " kW";
const signedKw = (w) => (w === null || w === undefined) ? "–" : (w >= 0 ? "+" : "−") + (Math.abs(w) / 1000).toFixed(1) + " kW";

function setText(id, text) { $(id).textContent = text; }

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  return response.json();
}

async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = { ok: false, error: "No answer (" + response.status + ")." }; }
  return answer;
}

function detailText(s) {
  if (s.state === "problem") return "The wallbox does not answer.";
  if (s.state === "paused") {
    if (s.pause_until_epoch_s) {
      const until = new Date(s.pause_until_epoch_s * 1000);
      return "Paused until " + until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    }
    return "Paused until resumed";
  }
  if (s.state === "no_car") return "Plug in to charge";
  return s.reason || "";
}

function renderState(s) {
  lastState = s;
  const band = $("band");
  band.className = "band state-" + s.state;
  setText("state-word", STATE_WORDS[s.state] || s.state);
  setText("clock", new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
  setText("car-kw", s.car_w === null ? "–" : (Math.max(0, s.car_w) / 1000).toFixed(1));
  setText("detail", detailText(s));
  setText("current", s.setpoint_a === null ? "–" : "set " + s.setpoint_a.toFixed(0) + " A");
  let pv = kw(s.pv_w);
  if (s.pv_stale) pv = s.pv_age_s === null ? "no data yet" : pv + " (" + Math.round(s.pv_age_s) + " s old, not used)";
  setText("pv", pv);
  setText("grid", s.grid_w === null ? "no meter" : signedKw(s.grid_w) + (s.grid_w >= 0 ? " import" : " export"));
  setText("budget", kw(s.budget_w) + (s.dimmed ? " (dimmed)" : ""));
  setText("session", s.session_energy_wh === null ? "no car" : (s.session_energy_wh / 1000).toFixed(2) + " kWh");
  setText("mode", (MODE_WORDS[s.mode] || s.mode) + (s.mode_in_force && s.mode_in_force !== s.mode
    ? " (now " + (MODE_WORDS[s.mode_in_force] || s.mode_in_force) + ")" : ""));
  const hasBattery = s.battery_w !== null || s.soc_pct !== null;
  $("battery-box").hidden = !hasBattery;
  if (hasBattery) {
    const soc = s.soc_pct === null ? "" : Math.round(s.soc_pct) + " % ";
    const flow = s.battery_w === null ? "" : (s.battery_w > 0 ? "giving " : "charging ") + kw(Math.abs(s.battery_w));
    setText("battery", soc + flow);
  }
  const problem = $("problem");
  problem.hidden = !s.wallbox_error;
  problem.textContent = s.wallbox_error || "";
  for (const button of document.querySelectorAll("button.mode")) {
    button.classList.toggle("active", button.dataset.mode === s.mode);
  }
}

let screenShown = true;

function refreshScreen() {
  // The panel's own picture, as in the distribution board; hidden where the appliance has none.
  if (!screenShown) return;
  const picture = new Image();
  picture.onload = () => { const screen = $("screen"); screen.src = picture.src; screen.hidden = false; };
  picture.onerror = () => { screenShown = false; $("screen").hidden = true; };
  picture.src = "/screen.png?t=" + Date.now();
}

async function refreshState() {
  refreshScreen();
  try { renderState(await getJson("/api/state")); } catch (e) { setText("detail", "The appliance does not answer."); }
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

let lastHistory = null;
let chosenDay = "";  // "" = today, following the clock
let resizeTimer = null;

function listDays(history) {
  const select = $("chart-day");
  const days = (history.days || []).slice().reverse();
  select.hidden = days.length < 2;
  const today = days[0];
  select.replaceChildren(...days.map((day) => {
    const option = document.createElement("option");
    option.value = day === today ? "" : day;
    option.textContent = day === today ? "today" : day;
    option.selected = option.value === chosenDay;
    return option;
  }));
  setText("chart-title", chosenDay ? chosenDay : "Today");
}

async function refreshChart() {
  const history = await getJson("/api/history" + (chosenDay ? "?day=" + encodeURIComponent(chosenDay) : ""));
  drawChart(history);
  listDays(history);
}

function drawChart(history) {
  lastHistory = history;
  // Drawn at the box's own width, so the labels keep their size on a phone.
  const width = Math.max(300, Math.round($("chart").clientWidth || 720));
  const height = width < 500 ? 220 : 280, left = 44, right = 14, top = 10, bottom = 24;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Power today" });
  const rows = history.minutes;
  const fields = history.fields || [];
  const series = SERIES.filter((s) => s.key !== "battery_w" || history.has_battery);
  let maxW = 1000;
  for (const row of rows) for (const s of series) {
    const v = row[fields.indexOf(s.key)];
    if (v !== null && Math.abs(v) > maxW) maxW = Math.abs(v);
  }
  const minW = history.has_battery ? -Math.min(maxW, 5000) : 0;
  const stepW = maxW > 10000 ? 5000 : maxW > 4000 ? 2000 : 1000;
  const topW = Math.ceil(maxW / stepW) * stepW;
  const x = (minute) => left + (width - left - right) * minute / 1440;
  const y = (w) => top + (height - top - bottom) * (topW - w) / (topW - minW);
  for (let w = Math.ceil(minW / stepW) * stepW; w <= topW; w += stepW) {
    chart.appendChild(svg("line", { x1: left, x2: width - right, y1: y(w), y2: y(w), stroke: "#333" }));
    const label = svg("text", { x: left - 4, y: y(w) + 4, fill: "#aaa", "font-size": 11, "text-anchor": "end" });
    label.textContent = (w / 1000) + " kW";
    chart.appendChild(label);
  }
  const hourStep = width < 500 ? 6 : 3;
  for (let hour = 0; hour <= 24; hour += hourStep) {
    const anchor = hour === 0 ? "start" : hour === 24 ? "end" : "middle";
    const label = svg("text", { x: x(hour * 60), y: height - 6, fill: "#aaa", "font-size": 11, "text-anchor": anchor });
    label.textContent = String(hour).padStart(2, "0") + ":00";
    chart.appendChild(label);
  }
  for (const s of series) {
    const index = fields.indexOf(s.key);
    let points = [];
    let lastMinute = -10;
    const flush = () => {
      if (points.length > 0) {
        const line = svg("polyline", { points: points.join(" "), fill: "none", stroke: s.colour, "stroke-width": 2,
          "stroke-linejoin": "round", class: "series-" + s.cls });
        if (s.dash) line.setAttribute("stroke-dasharray", s.dash);
        chart.appendChild(line);
      }
      points = [];
    };
    for (const row of rows) {
      const [hh, mm] = row[0].split(":").map(Number);
      const minute = hh * 60 + mm;
      const v = row[index];
      if (v === null || minute - lastMinute > 5) flush();  // a gap in the data stays a gap
      if (v !== null) points.push(x(minute).toFixed(1) + "," + y(v).toFixed(1));
      lastMinute = minute;
    }
    flush();
  }
  $("chart").replaceChildren(chart);
  const legend = $("legend");
  legend.replaceChildren(...series.map((s) => {
    const item = document.createElement("li");
    item.className = s.cls;
    item.textContent = s.name;
    return item;
  }));
  if (rows.length === 0) {
    const empty = document.createElement("li");
    empty.textContent = "No figures yet today.";
    legend.appendChild(empty);
  }
}

function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); }

function renderSessions(data) {
  setText("open-session", data.open ? "Open session: " + data.open.energy_kwh.toFixed(2) + " kWh so far" : "");
  const months = $("months").tBodies[0];
  months.replaceChildren(...data.months.map((m) => {
    const row = document.createElement("tr");
    cell(row, m.month); cell(row, m.sessions); cell(row, m.energy_kwh.toFixed(1)); cell(row, m.pv_share_pct + " %");
    return row;
  }));
  const sessions = $("sessions").tBodies[0];
  sessions.replaceChildren(...data.sessions.map((s) => {
    const row = document.createElement("tr");
    const start = new Date(s.start), end = new Date(s.end);
    cell(row, start.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
    cell(row, ((end - start) / 3600000).toFixed(1)); cell(row, s.energy_kwh.toFixed(1)); cell(row, s.pv_kwh.toFixed(1));
    return row;
  }));
}

function renderLog(data) {
  $("log").replaceChildren(...data.lines.slice().reverse().map((line) => {
    const item = document.createElement("li");
    item.className = line.level;
    item.textContent = line.time.slice(11) + " " + line.message;
    return item;
  }));
}

function renderSettings(data) {
  $("settings").replaceChildren(...Object.entries(data).map(([section, values]) => {
    const box = document.createElement("div");
    box.className = "settings-section";
    const title = document.createElement("h3");
    title.textContent = "[" + section + "]";
    const list = document.createElement("dl");
    for (const [key, value] of Object.entries(values)) {
      const dt = document.createElement("dt"); dt.textContent = key;
      const dd = document.createElement("dd"); dd.textContent = JSON.stringify(value);
      list.append(dt, dd);
    }
    box.append(title, list);
    return box;
  }));
}

function showMessage(text, ok) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("ok", !!ok);
}

async function refreshSession() {
  const session = await getJson("/api/session");
  csrf = session.csrf;
  $("readonly").hidden = session.password_set;
  $("login").hidden = !session.password_set || session.logged_in;
  $("controls").hidden = !session.logged_in;
}

async function send(body, done) {
  const answer = await post("/api/command", body);
  showMessage(answer.ok ? done : (answer.error || "Not done."), answer.ok);
  await refreshState();
}

function wireControls() {
  $("chart-day").addEventListener("change", () => { chosenDay = $("chart-day").value; refreshChart(); });
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await post("/api/login", { password: $("password").value });
    $("password").value = "";
    showMessage(answer.ok ? "Logged in." : answer.error, answer.ok);
    await refreshSession();
  });
  $("logout").addEventListener("click", async () => {
    await post("/api/logout", {});
    showMessage("Logged out.", true);
    await refreshSession();
  });
  for (const button of document.querySelectorAll("button.mode")) {
    button.addEventListener("click", () => send({ command: "mode", mode: button.dataset.mode },
      "Mode set to " + MODE_WORDS[button.dataset.mode] + "."));
  }
  $("pause").addEventListener("click", () => {
    const minutes = Number($("pause-minutes").value);
    send({ command: "pause", minutes }, minutes ? "Paused for " + minutes + " min." : "Paused until resumed.");
  });
  $("resume").addEventListener("click", () => send({ command: "resume" }, "Resumed."));
}

async function refreshSlow() {
  try {
    if (!chosenDay) await refreshChart();  // a past day does not change
    renderSessions(await getJson("/api/sessions"));
    renderLog(await getJson("/api/log"));
  } catch (e) { /* the next round tries again; the live state says when the appliance is gone */ }
}

// Nothing is asked while the page is hidden: a phone in a pocket costs the appliance nothing.
let ticks = 0;
function tick() {
  if (document.hidden) return;
  refreshState();
  ticks += 1;
  if (ticks % 15 === 0) refreshSlow();
}

document.addEventListener("DOMContentLoaded", async () => {
  wireControls();
  await refreshSession();
  await refreshState();
  await refreshSlow();
  getJson("/api/settings").then(renderSettings);
  setInterval(tick, POLL_MS);
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (lastHistory) drawChart(lastHistory); }, 100);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { refreshState(); refreshSlow(); } });
});
