// Resonanz web app: live updates, composer checks, keyboard shortcuts.
// Every page works without this file; it only makes the work faster.
// Customer text is only ever inserted as text or as HTML the server
// rendered (and escaped), never built from strings here.

const body = document.body;
document.documentElement.classList.add("js");
const lang = body.dataset.lang || "de";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
// Countdowns run on the server's clock, not the browser's.
const clockOffset = Number(body.dataset.now || Date.now()) - Date.now();
const serverNow = () => Date.now() + clockOffset;

function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

async function refreshFragment(container, src) {
  if (!container || !src) return;
  const response = await fetch(src, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (response.redirected && new URL(response.url).pathname === "/login") {
    location.reload();
    return;
  }
  if (!response.ok) return;
  const html = await response.text();
  const template = document.createElement("template");
  template.innerHTML = html;
  container.replaceChildren(template.content);
}

function selectedConversation() {
  return document.getElementById("thread")?.dataset.conversation || "";
}

async function refreshRows() {
  const rows = document.getElementById("inbox-rows");
  if (!rows) return;
  const url = new URL(rows.dataset.src, location.origin);
  const selected = selectedConversation();
  if (selected) url.searchParams.set("selected", selected);
  await refreshFragment(rows, url.pathname + url.search);
  // The filters' counts sit outside the list: update them from its data.
  const counts = document.getElementById("inbox-counts")?.dataset || {};
  for (const option of document.querySelectorAll("#filters option[data-count]")) {
    const n = counts[option.dataset.count];
    if (n !== undefined) option.textContent = `${option.dataset.label} (${n})`;
  }
  for (const span of document.querySelectorAll("#filters span[data-count]")) {
    const n = counts[span.dataset.count];
    if (n !== undefined) span.textContent = n;
  }
}

async function refreshThread() {
  const thread = document.getElementById("thread");
  if (!thread) return;
  const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
  await refreshFragment(thread, thread.dataset.src);
  if (atBottom) thread.scrollTop = thread.scrollHeight;
}

const refreshAll = debounce(() => {
  refreshRows();
  refreshThread();
}, 150);

function connectLive() {
  const indicator = document.getElementById("live-state");
  if (!indicator || typeof EventSource === "undefined") return;
  const setState = (state) => {
    indicator.dataset.state = state;
    indicator.textContent = state === "on" ? indicator.dataset.on : indicator.dataset.off;
  };
  // The browser reconnects by itself and sends Last-Event-ID, so nothing is missed.
  const source = new EventSource("/api/events");
  source.onopen = () => setState("on");
  source.onerror = () => setState("off");
  for (const kind of ["message_received", "delivery_changed", "contact_created", "reaction_changed", "message_echoed", "conversation_changed", "agent_mentioned"]) {
    source.addEventListener(kind, refreshAll);
  }
  source.onmessage = refreshAll;
  // A note that names this agent: the badge counts it at once, on any page.
  source.addEventListener("agent_mentioned", (message) => {
    let envelope;
    try {
      envelope = JSON.parse(message.data);
    } catch {
      return;
    }
    if (envelope?.event?.agent_id !== body.dataset.agent) return;
    const link = document.getElementById("mentions-link");
    if (!link) return;
    let badge = document.getElementById("mentions-unread");
    if (!badge) {
      badge = document.createElement("span");
      badge.id = "mentions-unread";
      badge.className = "badge";
      badge.textContent = "0";
      link.append(" ", badge);
    }
    badge.textContent = String(Number(badge.textContent) + 1);
  });
}

function watchWindow() {
  // When the 24-hour window closes, the composer must become the template
  // picker: reload, unless the agent is in the middle of typing.
  const state = document.getElementById("window-state");
  const closesAt = Number(state?.dataset.closesAt || 0);
  if (!closesAt) return;
  const check = () => {
    const draft = document.getElementById("reply-text");
    if (serverNow() >= closesAt && (!draft || draft.value.trim() === "")) location.reload();
  };
  setInterval(check, 15000);
  // Labels such as "noch 3 Std." are the server's: refresh them now and then.
  setInterval(refreshRows, 60000);
}

function composerChecks() {
  const text = document.getElementById("reply-text");
  const list = document.getElementById("composer-checks");
  const form = document.getElementById("reply-form");
  if (!text || !list || !form) return;
  const run = debounce(async () => {
    if (text.value.trim() === "") {
      list.replaceChildren();
      return;
    }
    const response = await fetch("/api/compose/check", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ text: text.value }),
    });
    if (!response.ok) return;
    const { findings } = await response.json();
    const seen = new Set();
    const items = [];
    for (const finding of findings) {
      const message = lang === "en" ? finding.en : finding.de;
      if (seen.has(message)) continue;
      seen.add(message);
      const item = document.createElement("li");
      item.dataset.rule = finding.rule;
      item.textContent = message;
      items.push(item);
    }
    list.replaceChildren(...items);
  }, 300);
  text.addEventListener("input", run);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  if (text.value) run();
}

function cannedReplies() {
  const pick = document.getElementById("canned");
  const text = document.getElementById("reply-text");
  if (!pick || !text) return;
  pick.addEventListener("change", () => {
    const chosen = pick.selectedOptions[0];
    if (!chosen?.dataset.text) return;
    const at = text.selectionStart ?? text.value.length;
    text.value = text.value.slice(0, at) + chosen.dataset.text + text.value.slice(text.selectionEnd ?? at);
    pick.value = "";
    text.focus();
    text.dispatchEvent(new Event("input"));
  });
}

function templatePicker() {
  const pick = document.getElementById("template-pick");
  pick?.addEventListener("change", () => pick.form.requestSubmit());
  const preview = document.getElementById("template-preview");
  if (!preview) return;
  const inputs = [...document.querySelectorAll("#template-form input[data-var]")];
  const render = () => {
    let text = preview.dataset.body || "";
    for (const input of inputs) {
      const value = input.value.trim() || `{{${input.dataset.var}}}`;
      text = text.split(`{{${input.dataset.var}}}`).join(value);
    }
    preview.textContent = text;
  };
  for (const input of inputs) input.addEventListener("input", render);
}

function shortcuts() {
  const dialog = document.getElementById("shortcuts");
  document.getElementById("shortcuts-open")?.addEventListener("click", () => dialog?.showModal());
  let pendingG = false;
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    if (event.key === "Escape" && typing) {
      target.blur();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const links = [...document.querySelectorAll("#conversation-list .row a")];
    const current = links.findIndex((link) => link.getAttribute("aria-current") === "true");
    const go = (index) => {
      if (links[index]) location.href = links[index].href;
    };
    if (pendingG) {
      pendingG = false;
      if (event.key === "i") location.href = "/inbox";
      return;
    }
    switch (event.key) {
      case "j": go(current < 0 ? 0 : current + 1); break;
      case "k": go(current < 0 ? 0 : current - 1); break;
      case "r": event.preventDefault(); document.getElementById("reply-text")?.focus(); break;
      case "n": {
        event.preventDefault();
        const details = document.getElementById("note-composer");
        if (details) details.open = true;
        document.getElementById("note-text")?.focus();
        break;
      }
      case "e": document.getElementById("resolve")?.click(); break;
      case "a": document.getElementById("assign-me")?.click(); break;
      case "g": pendingG = true; break;
      case "?": dialog?.showModal(); break;
      default: return;
    }
  });
}

function availability() {
  const pick = document.getElementById("availability");
  pick?.addEventListener("change", () => pick.form.requestSubmit());
}

function autoFilter() {
  const form = document.getElementById("filters");
  form?.addEventListener("change", () => form.requestSubmit());
}

function scrollThreadToEnd() {
  const thread = document.getElementById("thread");
  if (thread) thread.scrollTop = thread.scrollHeight;
}

connectLive();
watchWindow();
composerChecks();
templatePicker();
cannedReplies();
shortcuts();
autoFilter();
availability();
scrollThreadToEnd();
// Tests (and impatient agents) can tell when the shortcuts are live.
body.dataset.ready = "1";
