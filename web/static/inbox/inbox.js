// Agent inbox: queue, conversation, reply / internal note, canned replies, claim, transfer,
// resolve, hand back, and the customer's profile, kept live over /ws/inbox.
// Customer text is untrusted: it is only ever inserted with textContent.

const $ = (id) => document.getElementById(id);
const state = {
  me: null, view: "queue", list: [], listFetchedAt: 0, currentId: null, conversation: null,
  messageIds: new Set(), mode: "reply", agents: [], canned: [], socket: null, attempt: 0,
};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// ---- HTTP --------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = state.me?.csrf_token || "";
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    throw new ApiError(401, { message: "Please sign in again." });
  }
  const data = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function toast(text, kind = "info") {
  const node = el("div", { class: `toast toast-${kind}`, text });
  $("toasts").append(node);
  setTimeout(() => node.remove(), 5000);
}

async function act(work, { conflict } = {}) {
  try {
    return await work();
  } catch (error) {
    if (error.status === 409) toast(conflict || error.message, "warn");
    else if (error.status === 403) toast(`Not allowed: ${error.message}`, "error");
    else if (error.status !== 401) toast(error.message || "Something went wrong", "error");
    return null;
  }
}

// ---- formatting --------------------------------------------------------------------------
function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function when(iso, withDate = false) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date().toDateString() === d.toDateString();
  if (!withDate && today) return time;
  return `${d.toLocaleDateString([], { day: "numeric", month: "short", year: "numeric" })}${withDate ? "" : ` ${time}`}`;
}

function money(value, currency = "EUR") {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value === "object") return money(value.amount ?? value.value, value.currency || currency);
  const amount = Number(value);
  if (Number.isNaN(amount)) return String(value);
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
}

const human = (text) => String(text ?? "").replaceAll("_", " ");
const customerLabel = (c) => c.customer_name || `Visitor #${c.id}`;
const STATE_NAMES = { bot: "With the bot", queued: "Waiting", agent: "With an agent", closed: "Closed" };
const mine = (c) => c && state.me && String(c.assigned_agent_id ?? c.assigned_agent?.id ?? "") === String(state.me.id)
  || (c && state.me && typeof c.assigned_agent === "string" && c.assigned_agent === state.me.display_name);
const isManager = () => ["manager", "admin"].includes(state.me?.role);

// ---- conversation list -------------------------------------------------------------------
let listTimer = null;
function refreshListSoon() {
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, 150);
}

async function loadList() {
  const data = await act(() => api(`/api/inbox/conversations?view=${state.view}`));
  if (!data) return;
  state.list = data.conversations || [];
  state.listFetchedAt = Date.now();
  renderList();
  if (state.view === "queue") setQueueCount(state.list.length);
  else {
    const queue = await act(() => api("/api/inbox/conversations?view=queue"));
    if (queue) setQueueCount((queue.conversations || []).length);
  }
}

function setQueueCount(n) {
  $("queue-count").textContent = n ? String(n) : "";
  document.title = n ? `(${n}) Inbox · crmbot` : "Inbox · crmbot";
}

function renderList() {
  const list = $("conversation-list");
  list.replaceChildren();
  if (!state.list.length) {
    const empty = { queue: "Nobody is waiting. Nice!", mine: "You have no open conversations.",
      all: "No open conversations.", closed: "No closed conversations yet." }[state.view];
    list.append(el("li", { class: "list-empty", text: empty }));
    return;
  }
  for (const c of state.list) {
    const waiting = c.state === "queued" && c.waiting_seconds !== null && c.waiting_seconds !== undefined;
    const item = el("li", {
      class: `item${String(c.id) === String(state.currentId) ? " selected" : ""}`,
      "data-id": c.id, "data-state": c.state, tabindex: 0, role: "button",
      "aria-label": `${customerLabel(c)}, ${STATE_NAMES[c.state] || c.state}`,
      onclick: () => select(c.id),
      onkeydown: (e) => { if (e.key === "Enter") select(c.id); },
    },
    el("div", { class: "item-top" },
      el("span", { class: "avatar", text: customerLabel(c).slice(0, 1).toUpperCase() }),
      el("span", { class: "name", text: customerLabel(c) }),
      waiting ? el("span", { class: "wait", "data-wait": c.waiting_seconds, text: duration(c.waiting_seconds) })
        : el("span", { class: "time", text: when(c.last_message_at) })),
    el("div", { class: "preview", text: c.preview || c.summary || "" }),
    el("div", { class: "tags" },
      el("span", { class: `pill state-${c.state}`, text: STATE_NAMES[c.state] || c.state }),
      c.channel ? el("span", { class: "pill channel", text: c.channel }) : null,
      c.handoff_reason ? el("span", { class: "pill reason", text: c.handoff_reason_label || human(c.handoff_reason) }) : null,
      c.assigned_agent ? el("span", { class: "pill agent", text: c.assigned_agent.display_name || c.assigned_agent }) : null));
    list.append(item);
  }
}

function tickWaiting() {
  const elapsed = (Date.now() - state.listFetchedAt) / 1000;
  for (const node of document.querySelectorAll("[data-wait]")) {
    const seconds = Number(node.dataset.wait) + elapsed;
    node.textContent = duration(seconds);
    node.classList.toggle("long", seconds > 300);
  }
}

// ---- one conversation --------------------------------------------------------------------
async function select(id) {
  state.currentId = id;
  for (const node of document.querySelectorAll(".item")) node.classList.toggle("selected", node.dataset.id === String(id));
  const data = await act(() => api(`/api/inbox/conversations/${encodeURIComponent(id)}`));
  if (!data || String(state.currentId) !== String(id)) return;
  $("chat-empty").hidden = true;
  $("chat-body").hidden = false;
  state.conversation = data.conversation;
  renderHeader();
  renderMessages(data.messages || []);
  loadProfile(id);
}

function renderHeader() {
  const c = state.conversation;
  if (!c) return;
  $("chat-title").textContent = customerLabel(c);
  const assigned = c.assigned_agent ? (c.assigned_agent.display_name || c.assigned_agent) : null;
  $("chat-meta").replaceChildren(...[
    el("span", { class: `pill state-${c.state}`, text: STATE_NAMES[c.state] || c.state }),
    c.channel ? el("span", { class: "pill channel", text: c.channel }) : null,
    assigned ? el("span", { class: "meta-text", text: `Assigned to ${assigned}` }) : null,
    c.state === "queued" && c.queued_at ? el("span", { class: "meta-text", text: `Queued ${when(c.queued_at)}` }) : null,
  ].filter(Boolean));
  const owner = mine(c);
  const canManage = c.state === "agent" && (owner || isManager());
  $("claim").hidden = c.state !== "queued";
  $("transfer-wrap").hidden = !canManage;
  $("handback").hidden = !canManage;
  $("resolve").hidden = !canManage;
  const canReply = c.state === "agent" && owner;
  $("summary").hidden = !c.summary && !c.handoff_reason;
  $("summary-text").textContent = c.summary || "No summary.";
  $("handoff-reason").textContent = c.handoff_reason_label || human(c.handoff_reason || "asked for a person");
  const replyTab = document.querySelector('[data-mode="reply"]');
  replyTab.disabled = !canReply;
  if (!canReply && state.mode === "reply") setMode("note");
  else if (canReply && state.mode === "note" && !$("reply-text").value) setMode("reply");
  $("composer-hint").textContent = state.mode === "note" ? "Only agents see internal notes."
    : "The customer sees this.";
  if (!canReply && c.state === "queued") $("composer-hint").textContent = "Claim the conversation to reply.";
}

// A message to a messaging-channel customer (Telegram) that did not (surely) arrive.
const DELIVERY_LABELS = {
  failed: "Not delivered", uncertain: "May not have arrived", pending: "Sending…", sending: "Sending…",
};

function deliveryNode(delivery, messageId) {
  const label = delivery && DELIVERY_LABELS[delivery.state];
  if (!label) return null;
  // Only a channel this gateway can send on (Telegram may be configured elsewhere only).
  const resendable = delivery.state === "failed" && (state.me?.channels || []).includes(delivery.channel);
  const retry = resendable
    ? el("button", { type: "button", class: "msg-retry", text: "Retry",
      title: "Send this message to the customer again", onclick: () => retryDelivery(messageId) })
    : null;
  return el("div", { class: `msg-delivery delivery-${delivery.state}`, title: delivery.error || null,
    "data-state": delivery.state }, el("span", { text: label }), retry);
}

function setDelivery(messageId, delivery) {
  const node = document.querySelector(`#messages .msg[data-id="${CSS.escape(String(messageId))}"]`);
  if (!node) return;
  node.querySelector(".msg-delivery")?.remove();
  const label = deliveryNode(delivery, messageId);
  if (label) node.append(label);
}

// Send a "Not delivered" message again; the live "delivery" frame tells how it ends.
async function retryDelivery(messageId) {
  const conversationId = state.currentId;
  const button = document.querySelector(
    `#messages .msg[data-id="${CSS.escape(String(messageId))}"] .msg-retry`);
  if (button) button.disabled = true;
  const data = await act(() => api(
    `/api/inbox/conversations/${conversationId}/messages/${messageId}/retry`, { method: "POST" }));
  if (data?.delivery) setDelivery(messageId, data.delivery);
  else if (button) button.disabled = false;
}

function messageNode(m) {
  const author = m.author || "system";
  const who = m.internal ? `Note · ${m.agent_name || "agent"}`
    : { customer: "Customer", bot: "Assistant", agent: m.agent_name || "Agent", system: "" }[author] ?? author;
  const node = el("div", { class: `msg from-${author}${m.internal ? " internal" : ""}`, "data-id": m.id },
    who ? el("div", { class: "msg-who", text: who }) : null,
    el("div", { class: "msg-text", text: m.text }),
    m.buttons?.length ? el("div", { class: "msg-buttons" }, ...m.buttons.map((b) => el("span", { text: b.title || b.payload }))) : null,
    el("div", { class: "msg-time", text: when(m.created_at) }),
    author !== "customer" ? deliveryNode(m.delivery, m.id) : null);
  return node;
}

function renderMessages(messages) {
  const box = $("messages");
  box.replaceChildren();
  state.messageIds = new Set();
  for (const m of messages) appendMessage(m, false);
  box.scrollTop = box.scrollHeight;
}

function appendMessage(m, scroll = true) {
  if (state.messageIds.has(String(m.id))) return;
  state.messageIds.add(String(m.id));
  const box = $("messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.append(messageNode(m));
  if (m.author === "customer") $("customer-typing").hidden = true;
  if (scroll || nearBottom) box.scrollTop = box.scrollHeight;
}

// ---- customer profile --------------------------------------------------------------------
async function loadProfile(id) {
  const panel = $("profile");
  const data = await act(() => api(`/api/inbox/conversations/${encodeURIComponent(id)}/customer`));
  if (!data || String(state.currentId) !== String(id)) return;
  const c = data.customer;
  const section = (title, ...children) => el("section", { class: "card" }, el("h3", { text: title }), ...children);
  const parts = [];
  if (!c) {
    parts.push(el("div", { class: "who" }, el("div", { class: "big-avatar", text: "?" }),
      el("div", {}, el("div", { class: "who-name", text: "Unverified visitor" }),
        el("div", { class: "who-sub", text: "The customer hasn't verified yet. Ask for the email address and an order number." }))));
  } else {
    parts.push(el("div", { class: "who" },
      el("div", { class: "big-avatar", text: (c.name || "?").slice(0, 1).toUpperCase() }),
      el("div", {}, el("div", { class: "who-name", text: c.name || "Customer" }),
        el("div", { class: "who-sub", text: c.email || "" }),
        el("div", { class: "who-sub mono", text: c.public_id || "" }))));
    const risk = typeof c.churn_risk === "number" ? c.churn_risk : null;
    const level = risk === null ? "" : c.churn_level || "";
    parts.push(el("div", { class: "insights" },
      el("div", { class: "insight" }, el("span", { text: "Segment" }), el("b", { text: c.segment ? human(c.segment) : "—" })),
      el("div", { class: `insight${level ? ` churn-${level}` : ""}` },
        el("span", { text: "Churn risk" }),
        el("b", { text: risk === null ? "—" : `${level ? `${human(level)} · ` : ""}${Math.round(risk * 100)}%` })),
      typeof c.clv === "number" ? el("div", { class: "insight wide", title: "Predicted by the lifetime-value model (BG/NBD + Gamma-Gamma), discounted" },
        el("span", { text: `Expected spend, next ${Math.round((c.clv_weeks || 52) / 52 * 12)} months` }),
        el("b", { text: money(c.clv, c.clv_currency || "EUR") })) : null));
    if (c.churn_reasons?.length) {
      // At a low risk these are still what raises it most, not why the customer is at risk.
      parts.push(section(level === "low" ? "What raises the risk" : "Why at risk",
        el("ul", { class: "plain" }, ...c.churn_reasons.map((r) => el("li", { text: r })))));
    }
    if (c.recommendations?.length) {
      parts.push(section("Recommend", el("ul", { class: "plain recs" }, ...c.recommendations.map((r) =>
        el("li", {}, el("span", { text: r.name || r.code }), el("small", { class: "muted", text: r.reason || "" }))))));
    } else if (c.segment === undefined && c.churn_risk === undefined) {
      parts.push(el("p", { class: "muted small", text: "Segment, churn risk and recommendations appear here once analytics has run." }));
    }
  }
  const orders = data.orders || [];
  parts.push(section(`Orders (${orders.length})`, orders.length ? el("table", { class: "orders" },
    el("thead", {}, el("tr", {}, el("th", { text: "Order" }), el("th", { text: "Status" }), el("th", { text: "Placed" }), el("th", { text: "Total", class: "num" }))),
    el("tbody", {}, ...orders.map((o) => el("tr", {},
      el("td", { class: "mono", text: o.number }),
      el("td", {}, el("span", { class: `pill status status-${String(o.status).toLowerCase()}`, text: human(o.status) })),
      el("td", { text: when(o.placed_at, true) }),
      el("td", { class: "num", text: o.total_cents !== undefined ? money(o.total_cents / 100, o.currency) : money(o.total, o.currency) })))))
    : el("p", { class: "muted small", text: "No orders." })));
  const refunds = data.refunds || [];
  parts.push(section(`Refunds (${refunds.length})`, refunds.length ? el("ul", { class: "plain" }, ...refunds.map((r) => el("li", {},
    el("span", { class: "mono", text: r.order_number || r.number || r.id || "" }), " ",
    el("span", { class: "pill status", text: human(r.status || "") }), " ",
    el("b", { text: r.amount_cents !== undefined ? money(r.amount_cents / 100, r.currency) : money(r.amount ?? r.total, r.currency) }),
    r.reason ? el("div", { class: "muted small", text: r.reason }) : null)))
    : el("p", { class: "muted small", text: "No refunds." })));
  const past = data.past_conversations || [];
  parts.push(section(`Past conversations (${past.length})`, past.length ? el("ul", { class: "plain" }, ...past.map((p) => el("li", {},
    el("div", {}, el("b", { text: when(p.created_at || p.last_message_at, true) }), " ",
      el("span", { class: `pill state-${p.state || p.status}`, text: STATE_NAMES[p.state || p.status] || human(p.state || p.status || "") }),
      p.rating ? el("span", { class: "stars", text: ` ${"★".repeat(p.rating)}` }) : null),
    el("div", { class: "muted small", text: p.summary || p.preview || p.handoff_reason_label || "" }))))
    : el("p", { class: "muted small", text: "First conversation." })));
  panel.replaceChildren(...parts);
}

// ---- actions -----------------------------------------------------------------------------
async function conversationAction(path, body, conflict) {
  const id = state.currentId;
  const result = await act(() => api(`/api/inbox/conversations/${encodeURIComponent(id)}/${path}`, { method: "POST", body }), { conflict });
  if (result) {
    state.conversation = result.conversation || result;
    renderHeader();
    refreshListSoon();
  }
  return result;
}

function setMode(mode) {
  state.mode = mode;
  for (const tab of document.querySelectorAll(".composer-tabs [data-mode]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  }
  $("composer").classList.toggle("note-mode", mode === "note");
  $("reply-text").setAttribute("aria-label", mode === "note" ? "Internal note" : "Reply to the customer");
  $("reply-text").placeholder = mode === "note" ? "Write an internal note for colleagues…" : "Write a reply… (Enter to send, Shift+Enter for a new line)";
  $("send").textContent = mode === "note" ? "Add note" : "Send reply";
  $("composer-hint").textContent = mode === "note" ? "Only agents see internal notes." : "The customer sees this.";
}

async function sendComposer() {
  const text = $("reply-text").value.trim();
  if (!text || !state.currentId) return;
  $("send").disabled = true;
  const result = await conversationAction(state.mode === "note" ? "note" : "reply", { text },
    "You can't reply here: the conversation isn't yours (any more) or it is closed.");
  $("send").disabled = false;
  if (result) {
    $("reply-text").value = "";
    if (result.message) appendMessage(result.message);
  }
}

let lastTyping = 0;
function onComposerInput() {
  const now = Date.now();
  if (state.mode === "reply" && now - lastTyping > 3000 && state.socket?.readyState === WebSocket.OPEN) {
    lastTyping = now;
    state.socket.send(JSON.stringify({ type: "typing", conversation_id: state.currentId }));
  }
}

// ---- live updates ------------------------------------------------------------------------
function setLive(status, label) {
  $("live").dataset.state = status;
  $("live").querySelector("span").textContent = label;
}

function connect() {
  const url = new URL("/ws/inbox", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.addEventListener("open", () => {
    const reconnected = state.attempt > 0;
    state.attempt = 0;
    setLive("online", "Live");
    if (reconnected) {
      loadList();
      if (state.currentId) select(state.currentId);
    }
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    onFrame(frame);
  });
  socket.addEventListener("close", () => {
    if (state.socket !== socket) return;
    state.attempt += 1;
    setLive("offline", "Reconnecting…");
    setTimeout(connect, Math.min(15000, 500 * 2 ** state.attempt));
  });
}

function onFrame(frame) {
  if (frame.type === "queue_changed") {
    refreshListSoon();
  } else if (frame.type === "message") {
    if (String(frame.conversation_id) === String(state.currentId)) appendMessage(frame.message);
    refreshListSoon();
  } else if (frame.type === "delivery") {
    setDelivery(frame.message_id, frame.delivery);
  } else if (frame.type === "conversation") {
    const c = frame.conversation;
    if (c && String(c.id) === String(state.currentId)) {
      state.conversation = c;
      renderHeader();
    }
    refreshListSoon();
  } else if (frame.type === "typing" && String(frame.conversation_id) === String(state.currentId)) {
    $("customer-typing").hidden = !(frame.on ?? true);
    clearTimeout(onFrame.typingTimer);
    onFrame.typingTimer = setTimeout(() => { $("customer-typing").hidden = true; }, 8000);
  }
}

// ---- start -------------------------------------------------------------------------------
async function start() {
  state.me = await api("/api/inbox/me");
  $("me").replaceChildren(el("span", { class: "avatar small", text: (state.me.display_name || "?").slice(0, 1).toUpperCase() }),
    el("span", { text: state.me.display_name || state.me.username }), el("span", { class: "role", text: state.me.role }));

  for (const tab of document.querySelectorAll(".tabs [data-view]")) {
    tab.addEventListener("click", () => {
      state.view = tab.dataset.view;
      for (const t of document.querySelectorAll(".tabs [data-view]")) t.setAttribute("aria-selected", String(t === tab));
      loadList();
    });
  }
  for (const tab of document.querySelectorAll(".composer-tabs [data-mode]")) {
    tab.addEventListener("click", () => { if (!tab.disabled) setMode(tab.dataset.mode); });
  }
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); sendComposer(); });
  $("reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendComposer(); }
  });
  $("reply-text").addEventListener("input", onComposerInput);
  $("claim").addEventListener("click", async () => {
    if (await conversationAction("claim", undefined, "Someone else has already claimed this conversation.")) {
      setMode("reply");
      $("reply-text").focus();
    }
  });
  $("resolve").addEventListener("click", () => conversationAction("resolve"));
  $("handback").addEventListener("click", () => conversationAction("handback"));
  $("transfer").addEventListener("change", async (e) => {
    const agentId = e.target.value;
    e.target.value = "";
    if (!agentId) return;
    const target = state.agents.find((a) => String(a.id) === agentId);
    if (await conversationAction("transfer", { agent_id: Number.isNaN(Number(agentId)) ? agentId : Number(agentId) })) {
      toast(`Transferred to ${target?.display_name || "a colleague"}`);
    }
  });
  $("canned").addEventListener("change", (e) => {
    const reply = state.canned.find((r) => String(r.id) === e.target.value);
    e.target.value = "";
    if (!reply) return;
    const box = $("reply-text");
    box.value = box.value ? `${box.value.trimEnd()}\n${reply.text}` : reply.text;
    box.focus();
  });
  $("logout").addEventListener("click", async () => {
    await act(() => api("/logout", { method: "POST" }));
    location.href = "/login";
  });

  const [canned, agents] = await Promise.all([act(() => api("/api/inbox/canned")), act(() => api("/api/inbox/agents"))]);
  state.canned = canned?.replies || [];
  state.agents = agents?.agents || [];
  $("canned").append(...state.canned.map((r) => el("option", { value: r.id, text: r.title })));
  $("transfer").append(...state.agents.filter((a) => String(a.id) !== String(state.me.id))
    .map((a) => el("option", { value: a.id, text: `${a.display_name} (${a.role})` })));

  await loadList();
  connect();
  setInterval(tickWaiting, 1000);
}

start().catch((error) => {
  if (error.status !== 401) toast(`The inbox could not start: ${error.message}`, "error");
});
