"""The music map page: one HTML document with its CSS and script inline (no CDN, no fonts).

The script fetches ``data`` once, draws every track as a dot on a canvas (one pass per colour,
so 10,000 dots take a few milliseconds), finds the dot under the pointer through a grid of
8-pixel cells, and talks to the routes of :mod:`lyrebird.ui.music_map` for tag colourings,
text highlights and similar tracks. ``document.body.dataset.ready`` is set once the map is
drawn and answers the pointer (the browser tests wait for it).
"""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Lyrebird music map</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root {color-scheme: light dark; font: 14px system-ui, sans-serif}
body {margin: 0; display: flex; flex-direction: column; height: 100vh}
#bar {display: flex; gap: 8px; align-items: center; padding: 6px 8px; flex-wrap: wrap}
#bar input {flex: 1; min-width: 14em; padding: 4px 6px}
#main {flex: 1; display: flex; min-height: 0}
#wrap {flex: 1; position: relative; min-width: 0}
canvas {width: 100%; height: 100%; display: block; cursor: crosshair}
#tip {position: absolute; pointer-events: none; background: #222d; color: #fff;
      padding: 2px 6px; border-radius: 4px; font-size: 12px; display: none; white-space: nowrap}
aside {width: 18em; overflow: auto; padding: 6px 8px; border-left: 1px solid #8884}
#legend div {display: flex; align-items: center; gap: 6px; font-size: 12px}
#legend i {width: 10px; height: 10px; border-radius: 50%; display: inline-block}
#msg.err {color: #c22}
#sim li {cursor: pointer; margin: 2px 0} #sim li:hover {text-decoration: underline}
audio {width: 100%}
</style></head>
<body>
<div id="bar">
 <label>Colour by <select id="colour"></select></label>
 <input id="q" placeholder="Highlight where a description sits, e.g. calm piano">
 <button id="go">Highlight</button> <button id="clear">Clear</button>
 <span id="msg"></span>
</div>
<div id="main">
 <div id="wrap"><canvas id="map"></canvas><div id="tip"></div></div>
 <aside><div id="legend"></div><hr>
  <div id="sel">Hover a dot for its title; click it to play it and list similar tracks.</div>
 </aside>
</div>
<script>
"use strict";
const base = location.pathname.replace(/\/+$/, "");
const audioBase = base.replace(/\/map$/, "/audio/");
const PAL = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
             "#ff9da7", "#9c755f", "#86bcb6", "#8c8c8c"];
const NONE = "#bbb8";
const $ = (id) => document.getElementById(id);
const canvas = $("map"), ctx = canvas.getContext("2d");
let D = null, colourOf = null, sx = null, sy = null, grid = new Map(), hl = new Set();
let selected = -1, hover = -1;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");

function say(text, err) { $("msg").textContent = text; $("msg").className = err ? "err" : ""; }

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function layout() {
  const w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
  canvas.width = w * dpr; canvas.height = h * dpr;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const pad = 12, side = Math.min(w, h) - 2 * pad, ox = (w - side) / 2, oy = (h - side) / 2;
  sx = new Float32Array(D.n); sy = new Float32Array(D.n); grid = new Map();
  for (let i = 0; i < D.n; i++) {
    sx[i] = ox + D.x[i] * side; sy[i] = oy + (1 - D.y[i]) * side;
    const key = ((sx[i] / 8) | 0) * 65536 + ((sy[i] / 8) | 0);
    const cell = grid.get(key); if (cell) cell.push(i); else grid.set(key, [i]);
  }
}

function draw() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  const groups = new Map();
  for (let i = 0; i < D.n; i++) {
    const c = colourOf(i); const g = groups.get(c); if (g) g.push(i); else groups.set(c, [i]);
  }
  const dim = hl.size > 0, r = D.n > 3000 ? 1.6 : 3;
  for (const [c, idx] of groups) {
    ctx.fillStyle = c; ctx.globalAlpha = dim ? 0.25 : 0.85;
    for (const i of idx) ctx.fillRect(sx[i] - r, sy[i] - r, 2 * r, 2 * r);
  }
  ctx.globalAlpha = 1;
  for (const i of hl) {
    ctx.beginPath(); ctx.arc(sx[i], sy[i], r + 3, 0, 7);
    ctx.fillStyle = colourOf(i); ctx.fill(); ctx.strokeStyle = "#000"; ctx.stroke();
  }
  for (const i of [selected, hover]) if (i >= 0) {
    ctx.beginPath(); ctx.arc(sx[i], sy[i], r + 6, 0, 7);
    ctx.lineWidth = 2; ctx.strokeStyle = "#d00"; ctx.stroke(); ctx.lineWidth = 1;
  }
}

function nearest(x, y) {
  let best = -1, bd = 64;  // within 8 px
  const cx = (x / 8) | 0, cy = (y / 8) | 0;
  for (let a = cx - 1; a <= cx + 1; a++) for (let b = cy - 1; b <= cy + 1; b++) {
    for (const i of grid.get(a * 65536 + b) || []) {
      const d = (sx[i] - x) ** 2 + (sy[i] - y) ** 2; if (d < bd) { bd = d; best = i; }
    }
  }
  return best;
}

function legend(names, title) {
  $("legend").innerHTML = "<b>" + esc(title) + "</b>" + names.map((n, k) =>
    `<div><i style="background:${PAL[Math.min(k, PAL.length - 1)]}"></i>${esc(n)}</div>`).join("")
    + `<div><i style="background:${NONE}"></i>none</div>`;
}

async function recolour() {
  const v = $("colour").value;
  if (v.startsWith("cat:")) {
    const c = D.colourings[v.slice(4)];
    colourOf = (i) => c.idx[i] < 0 ? NONE : PAL[Math.min(c.idx[i], PAL.length - 1)];
    legend(c.names, v.slice(4));
  } else {
    try {
      const vals = (await getJSON(base + "/tag?name=" + encodeURIComponent(v.slice(4)))).values;
      colourOf = (i) => vals[i] > 0 ? PAL[2] : (vals[i] > -0.02 ? PAL[5] : NONE);
      $("legend").innerHTML = `<b>${esc(v.slice(4))}</b><div><i style="background:${PAL[2]}">`
        + `</i>shown as a chip</div><div><i style="background:${PAL[5]}"></i>just below</div>`
        + `<div><i style="background:${NONE}"></i>below</div>`;
    } catch (e) { say(e.message, true); }
  }
  draw();
}

async function select(i) {
  selected = i; draw();
  const id = D.ids[i];
  $("sel").innerHTML = `<b>${esc(D.label[i])}</b> <small>#${id}</small>`
    + `<audio controls autoplay src="${audioBase}${id}"></audio><div>Similar tracks:</div>`
    + `<ol id="sim"><li>…</li></ol>`;
  try {
    const s = await getJSON(base + "/similar/" + id);
    const pos = new Map(D.ids.map((t, k) => [t, k]));
    hl = new Set(s.hits.map((h) => pos.get(h.track_id)).filter((k) => k !== undefined));
    $("sim").innerHTML = s.hits.map((h) => `<li data-i="${pos.get(h.track_id)}">`
      + `${esc(h.title)}${h.artist ? " — " + esc(h.artist) : ""} <small>match ${h.score.toFixed(2)}`
      + `</small></li>`).join("");
    say(`${s.hits.length} tracks like “${s.title}” highlighted`);
    draw();
  } catch (e) { say(e.message, true); }
}

async function highlight() {
  const q = $("q").value.trim();
  if (!q) { say("Type a description to highlight, e.g. calm piano.", true); return; }
  try {
    const k = Math.max(5, Math.min(25, Math.round(D.n / 10)));  // a tenth of a small library
    const r = await getJSON(base + `/search?k=${k}&q=` + encodeURIComponent(q));
    const pos = new Map(D.ids.map((t, k) => [t, k]));
    hl = new Set(r.ids.map((t) => pos.get(t)).filter((k) => k !== undefined));
    say(`${hl.size} best matches for “${q}” are ringed`);
    draw();
  } catch (e) { say(e.message, true); }
}

canvas.addEventListener("mousemove", (ev) => {
  const rect = canvas.getBoundingClientRect(), i = nearest(ev.clientX - rect.left, ev.clientY - rect.top);
  const tip = $("tip");
  if (i !== hover) { hover = i; draw(); }
  if (i < 0) { tip.style.display = "none"; canvas.style.cursor = "crosshair"; return; }
  tip.textContent = D.label[i]; tip.style.display = "block"; canvas.style.cursor = "pointer";
  tip.style.left = (sx[i] + 10) + "px"; tip.style.top = (sy[i] - 24) + "px";
});
canvas.addEventListener("mouseleave", () => { hover = -1; $("tip").style.display = "none"; draw(); });
canvas.addEventListener("click", (ev) => {
  const rect = canvas.getBoundingClientRect(), i = nearest(ev.clientX - rect.left, ev.clientY - rect.top);
  if (i >= 0) select(i);
});
$("sel").addEventListener("click", (ev) => {
  const li = ev.target.closest("li[data-i]"); if (li && li.dataset.i !== "undefined") select(+li.dataset.i);
});
$("go").addEventListener("click", highlight);
$("q").addEventListener("keydown", (ev) => { if (ev.key === "Enter") highlight(); });
$("clear").addEventListener("click", () => { hl = new Set(); selected = -1; say(""); draw(); });
$("colour").addEventListener("change", recolour);
window.addEventListener("resize", () => { if (D) { layout(); draw(); } });

window.lbMap = {  // for tests and the curious: where a track is drawn, in page pixels
  screenOf: (id) => {
    const i = D.ids.indexOf(id), r = canvas.getBoundingClientRect();
    return i < 0 ? null : [r.left + sx[i], r.top + sy[i]];
  },
  highlighted: () => [...hl].map((i) => D.ids[i]),
};

(async () => {
  try { D = await getJSON(base + "/data"); } catch (e) { say(e.message, true); return; }
  const opts = Object.keys(D.colourings).map((k) => `<option value="cat:${esc(k)}">${esc(k)}</option>`)
    .concat(D.tags.map((t) => `<option value="tag:${esc(t)}">tag: ${esc(t)}</option>`));
  $("colour").innerHTML = opts.join("");
  layout(); await recolour();
  say(D.n ? `${D.n} tracks` : "The library is empty: add a folder in the Library tab.");
  document.body.dataset.ready = "1";
})();
</script></body></html>
"""
