// The playground's chat page. Everything from the server is rendered with textContent and
// createElement (never innerHTML), so text the bot or a user sends cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
let lastToast = null;
let seenAnswers = null;
let shownCount = 0;
let view = "private";

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(text || response.statusText);
  return text ? JSON.parse(text) : {};
}

function copy(text) {
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  showToast("Copied", false);
}

// Entities use UTF-16 offsets, which is exactly how JavaScript indexes strings.
function renderEntities(parent, text, entities, start, end) {
  let pos = start;
  const inside = entities.filter((e) => e.offset >= start && e.offset + e.length <= end);
  inside.sort((a, b) => a.offset - b.offset || b.length - a.length);
  let i = 0;
  while (i < inside.length) {
    const e = inside[i];
    if (e.offset < pos) { i++; continue; }  // nested in one already rendered
    if (e.offset > pos) parent.appendChild(document.createTextNode(text.slice(pos, e.offset)));
    const node = entityNode(e, text.slice(e.offset, e.offset + e.length));
    const nested = inside.filter((n) => n !== e && n.offset >= e.offset &&
      n.offset + n.length <= e.offset + e.length);
    renderEntities(node.inner, text, nested, e.offset, e.offset + e.length);
    parent.appendChild(node.outer);
    pos = e.offset + e.length;
    i++;
  }
  if (pos < end) parent.appendChild(document.createTextNode(text.slice(pos, end)));
}

function entityNode(entity, piece) {
  const tags = { bold: "b", italic: "i", underline: "u", strikethrough: "s", spoiler: "span",
    code: "code", pre: "pre", blockquote: "blockquote", expandable_blockquote: "blockquote" };
  if (entity.type === "text_link" || entity.type === "url") {
    const a = document.createElement("a");
    const href = entity.url || piece;
    // Only web links open; anything else (javascript: and the like) stays plain text.
    if (/^https?:\/\//i.test(href)) { a.href = href; a.target = "_blank"; a.rel = "noopener"; }
    return { outer: a, inner: a };
  }
  const el = document.createElement(tags[entity.type] || "span");
  if (entity.type === "code" || entity.type === "pre") {
    el.title = "Tap to copy";
    el.addEventListener("click", () => copy(piece));
  }
  return { outer: el, inner: el };
}

function renderMessage(m) {
  const box = document.createElement("div");
  box.className = "msg" + (m.from_bot ? "" : " me");
  box.dataset.messageId = String(m.id);
  if (view !== "private" && !m.from_bot && m.from) {
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.from;
    box.appendChild(who);
  }
  if (m.photo) {
    const img = document.createElement("img");
    img.src = "/api/file/" + encodeURIComponent(m.photo);
    img.alt = "photo";
    // A photo grows the bubble once loaded: keep the newest message in view.
    img.addEventListener("load", () => { $("messages").scrollTop = $("messages").scrollHeight; });
    box.appendChild(img);
  }
  if (m.document) {
    const a = document.createElement("a");
    a.href = "/api/file/" + encodeURIComponent(m.document.file_id);
    a.className = "document";
    a.setAttribute("download", m.document.name || "file");
    a.textContent = "📄 " + (m.document.name || "file");
    box.appendChild(a);
    box.appendChild(document.createElement("br"));
  }
  const body = document.createElement("span");
  body.className = "text";
  renderEntities(body, m.text || "", m.entities || [], 0, (m.text || "").length);
  box.appendChild(body);
  if (m.edited) {
    const mark = document.createElement("span");
    mark.className = "edited";
    mark.textContent = "edited";
    box.appendChild(mark);
  }
  if (m.buttons && m.buttons.length) {
    const kb = document.createElement("div");
    kb.className = "inline-kb";
    for (const row of m.buttons) {
      const r = document.createElement("div");
      r.className = "row";
      for (const b of row) {
        let el;
        if (b.url) {
          el = document.createElement("a");
          if (/^(https?:\/\/)?(t\.me|telegram\.me)\//i.test(b.url)) {
            // A link to the bot (a group invitation) opens its private chat here.
            el.href = "#";
            el.dataset.url = b.url;
            el.addEventListener("click", (event) => { event.preventDefault(); openLink(b.url); });
          } else if (/^https?:\/\//i.test(b.url)) {
            el.href = b.url; el.target = "_blank"; el.rel = "noopener";
          }
        } else {
          el = document.createElement("button");
          el.type = "button";
          if (b.copy_text) el.addEventListener("click", () => copy(b.copy_text.text));
          else el.addEventListener("click", () => click(m.id, b.callback_data));
          el.dataset.callback = b.callback_data || "";
        }
        el.textContent = b.text;
        r.appendChild(el);
      }
      kb.appendChild(r);
    }
    box.appendChild(kb);
  }
  return box;
}

async function openLink(url) {
  try {
    await post("/api/open-link", { url, view });
    switchView("private");
  } catch (err) { showToast(String(err.message), true); }
}

function switchView(next) {
  view = next;
  shownCount = -1;
  seenAnswers = null;
  for (const b of document.querySelectorAll(".views button")) {
    b.classList.toggle("active", b.dataset.view === view);
  }
  refresh().catch(() => {});
}

async function click(messageId, data) {
  try { await post("/api/click", { message_id: messageId, data, view }); }
  catch (err) { showToast(String(err.message), true); }
}

function showToast(text, alert) {
  const toast = $("toast");
  toast.textContent = text;
  toast.className = "toast" + (alert ? " alert" : "");
  toast.hidden = false;
  clearTimeout(lastToast);
  if (alert) toast.onclick = () => { toast.hidden = true; };
  else lastToast = setTimeout(() => { toast.hidden = true; }, 2500);
}

function renderReplyKeyboard(rows) {
  const box = $("reply-keyboard");
  box.replaceChildren();
  for (const row of rows || []) {
    const r = document.createElement("div");
    r.className = "row";
    for (const label of row) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", () => send(label));
      r.appendChild(b);
    }
    box.appendChild(r);
  }
}

async function refresh() {
  const state = await (await fetch("/api/chat?view=" + encodeURIComponent(view))).json();
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...state.messages.map(renderMessage));
  renderReplyKeyboard(state.reply_keyboard);
  // A ForceReply prompt: what is typed now answers it (the server sends it as a reply).
  $("text").placeholder = state.reply_to ? "Reply to the bot" : "Message";
  $("composer").dataset.replyTo = state.reply_to ? String(state.reply_to) : "";
  // New messages scroll into view, as in a chat app; edits keep the reader's place.
  if (atBottom || state.messages.length !== shownCount) list.scrollTop = list.scrollHeight;
  shownCount = state.messages.length;
  const ids = state.answers.map((a) => a.id);
  if (seenAnswers !== null) {
    for (const a of state.answers) if (!seenAnswers.has(a.id)) showToast(a.text, a.alert);
  }
  seenAnswers = new Set(ids);
}

async function send(text) {
  try { await post("/api/send", { text, view }); }
  catch (err) { showToast(String(err.message), true); }
}

function panel(id, path, body, done) {
  $(id).addEventListener("click", async () => {
    const status = $("panel-status");
    status.textContent = "…";
    status.dataset.done = "";  // which action finished, for the browser test
    try {
      await post(path, body);
      status.textContent = done;
      status.dataset.done = id;
    } catch (err) {
      status.textContent = String(err.message);
    }
  });
}

async function loadInfo() {
  const info = await (await fetch("/api/info")).json();
  $("api-key").textContent = info.api_key;
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  send(text);
});
$("api-key").addEventListener("click", () => copy($("api-key").textContent));
panel("panel-deposit", "/api/panel/deposit", { amount: "25.00", currency: "USDT_TRC20" }, "Deposit credited");
panel("panel-expiry", "/api/panel/expiry", {}, "Time moved; due reminders sent");
panel("panel-fault", "/api/panel/fault", { endpoint: "POST /orders", kind: "upstream_error" },
  "The next order will fail upstream");
$("panel-reset").addEventListener("click", async () => {
  $("panel-status").textContent = "Resetting…";
  try {
    await post("/api/reset", {});
  } catch (err) {
    $("panel-status").textContent = String(err.message);
    return;
  }
  location.reload();  // the fresh world, from the top
});

for (const b of document.querySelectorAll(".views button")) {
  b.addEventListener("click", () => switchView(b.dataset.view));
}
loadInfo();
const events = new EventSource("/api/events");
events.addEventListener("change", () => refresh().catch(() => {}));
// Someone reset the playground (maybe in another tab): show the fresh world.
events.addEventListener("reset", () => location.reload());
