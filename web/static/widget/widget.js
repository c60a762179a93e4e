// crmbot chat widget: an embeddable customer chat (ES module, no framework, no build step).
//
// Embed it declaratively:
//   <script type="module" src="https://support.example.com/static/widget/widget.js"
//           data-allowed-hosts="shop.example.com,*.example.com"
//           data-shop-token="<signed token of the logged-in customer>"></script>
// or from your own module:
//   import { initChatWidget } from "https://support.example.com/static/widget/widget.js";
//   const chat = initChatWidget({ allowedHosts: ["shop.example.com"], shopToken, open: true });
//
// Everything the bot or an agent writes is inserted as text; only links to allow-listed hosts
// become clickable (see render.js).

import { ChatConnection } from "./connection.js";
import { appendSafeText, normaliseAllowList } from "./render.js";

const MODULE_URL = new URL(import.meta.url);
const DEFAULTS = {
  title: "Customer service",
  greeting: "Hi! I'm the shop assistant. Ask me about an order, a refund, a cancellation or a delivery address, or ask for a person at any time.",
  starters: [
    { title: "Where is my order?", payload: "/order_status" },
    { title: "Return or refund", payload: "/request_refund" },
    { title: "Talk to a person", payload: "/human_handoff" },
  ],
  maxLength: 2000,
  open: false,
  position: "right",
};
const STATE_LABELS = {
  bot: "Virtual assistant · replies instantly",
  queued: "Waiting for a colleague to join…",
  agent: "You're chatting with our team",
  closed: "Conversation closed · write to start again",
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
  node.append(...children.filter(Boolean));
  return node;
}

function svg(path, size = 20) {
  const ns = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(ns, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", String(size));
  icon.setAttribute("height", String(size));
  icon.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", path);
  p.setAttribute("fill", "currentColor");
  icon.append(p);
  return icon;
}

const ICONS = {
  chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
  close: "M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z",
  send: "M3 20.5 21 12 3 3.5v6.6L15 12 3 13.9z",
  bot: "M12 2a2 2 0 0 1 2 2c0 .7-.4 1.4-1 1.7V7h4a3 3 0 0 1 3 3v8a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3v-8a3 3 0 0 1 3-3h4V5.7A2 2 0 0 1 12 2zM9 12a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm6 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z",
  person: "M12 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10zm0 2c-4.4 0-8 2.2-8 5v3h16v-3c0-2.8-3.6-5-8-5z",
};

function formatTime(iso) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export class ChatWidget {
  constructor(options = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.baseUrl = new URL(this.options.baseUrl || MODULE_URL.origin, location.href).href;
    this.allowList = normaliseAllowList(this.options.allowedHosts ?? [location.hostname]);
    this.state = "bot";
    this.agentName = null;
    this.messages = new Map();
    this.pending = new Map();
    this.typingTimers = {};
    this.lastTypingSent = 0;
    this.unread = 0;
    this.connection = new ChatConnection({
      baseUrl: this.baseUrl,
      shopToken: this.options.shopToken,
      storageKey: this.options.storageKey || `crmbot-chat:${new URL(this.baseUrl).host}`,
    });
  }

  mount(container = document.body) {
    this.host = el("div", { class: "crmbot-chat-host", "data-crmbot-chat": "" });
    this.host.chatWidget = this;
    const shadow = this.host.attachShadow({ mode: "open" });
    const style = el("link", { rel: "stylesheet", href: new URL("widget.css", MODULE_URL).href });
    this.root = el("div", { class: `crm-root crm-${this.options.position}`, hidden: true });
    style.addEventListener("load", () => { this.root.hidden = false; });
    style.addEventListener("error", () => { this.root.hidden = false; });
    if (this.options.accent) this.root.style.setProperty("--crm-accent", this.options.accent);
    shadow.append(style, this.root);
    this.build();
    container.append(this.host);
    this.connection.addEventListener("frame", (event) => this.onFrame(event.detail));
    this.connection.addEventListener("status", (event) => this.onStatus(event.detail));
    this.connection.addEventListener("conversation-changed", () => this.resetConversation());
    // The gateway may name more hosts it vouches for; the page's own list always stays.
    this.connection.addEventListener("allowed-hosts", (event) => {
      this.allowList = [...new Set([...this.allowList, ...normaliseAllowList(event.detail)])];
    });
    this.connection.start();
    if (this.options.open) this.open();
    return this;
  }

  build() {
    this.launcher = el("button", {
      class: "crm-launcher", type: "button", "aria-label": "Open chat", onclick: () => this.toggle(),
    }, svg(ICONS.chat, 26));
    this.badge = el("span", { class: "crm-badge", hidden: true });
    this.launcher.append(this.badge);

    this.statusText = el("div", { class: "crm-subtitle", text: STATE_LABELS.bot });
    this.avatar = el("div", { class: "crm-avatar" }, svg(ICONS.bot, 22));
    const header = el("header", { class: "crm-header" },
      this.avatar,
      el("div", { class: "crm-heading" }, el("div", { class: "crm-title", text: this.options.title }), this.statusText),
      el("button", { class: "crm-icon-button", type: "button", "aria-label": "Minimise chat", onclick: () => this.close() },
        svg(ICONS.close, 18)));

    this.banner = el("div", { class: "crm-banner", role: "status", hidden: true });
    this.list = el("div", { class: "crm-messages", role: "log", "aria-live": "polite", "aria-label": "Chat messages" });
    this.typing = el("div", { class: "crm-typing", hidden: true, "aria-live": "polite" },
      el("span", { class: "crm-dots" }, el("i"), el("i"), el("i")),
      el("span", { class: "crm-typing-label" }));
    this.quickReplies = el("div", { class: "crm-quick-replies", role: "group", "aria-label": "Suggested replies" });

    this.input = el("textarea", {
      class: "crm-input", rows: 1, placeholder: "Write a message…", "aria-label": "Your message",
      maxlength: this.options.maxLength,
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.onInput());
    this.sendButton = el("button", { class: "crm-send", type: "submit", "aria-label": "Send" }, svg(ICONS.send, 20));
    const form = el("form", { class: "crm-composer", onsubmit: (event) => { event.preventDefault(); this.submit(); } },
      this.input, this.sendButton);

    this.panel = el("section", { class: "crm-panel", role: "dialog", "aria-label": this.options.title, hidden: true },
      header, this.banner, this.list, this.typing, this.quickReplies, form,
      el("div", { class: "crm-footer", text: "Powered by crmbot" }));
    this.root.append(this.panel, this.launcher);
    this.showGreeting();
  }

  // ---- opening and closing ---------------------------------------------------------------
  open() {
    this.panel.hidden = false;
    this.root.classList.add("crm-open");
    this.launcher.setAttribute("aria-label", "Close chat");
    this.unread = 0;
    this.badge.hidden = true;
    this.scrollToEnd();
    setTimeout(() => this.input.focus(), 50);
  }

  close() {
    this.panel.hidden = true;
    this.root.classList.remove("crm-open");
    this.launcher.setAttribute("aria-label", "Open chat");
  }

  toggle() {
    if (this.panel.hidden) this.open();
    else this.close();
  }

  // ---- connection events -----------------------------------------------------------------
  onStatus({ status }) {
    if (status === "online") {
      this.banner.hidden = true;
    } else if (status === "reconnecting") {
      this.banner.textContent = "Connection lost. Reconnecting… your messages are kept.";
      this.banner.hidden = false;
    }
    this.root.dataset.connection = status;
  }

  onFrame(frame) {
    switch (frame.type) {
      case "history": return this.onHistory(frame);
      case "ack": return this.onAck(frame);
      case "message": return this.addMessage(frame.message);
      case "typing": return this.setTyping(frame.author, frame.on);
      case "state": return this.setState(frame.state);
      case "rating_request":
        this.connection.rememberRatingRequest(true);
        return this.showRatingPrompt();
      case "rating_saved":
        this.connection.rememberRatingRequest(false);
        return this.showRatingThanks();
      case "error": return this.showError(frame);
      default: return undefined;
    }
  }

  onHistory(frame) {
    this.resetConversation();
    for (const message of frame.messages || []) this.addMessage(message, { quiet: true });
    for (const item of this.connection.outbox) this.addPending(item);
    this.setState(frame.state || "bot");
    if (this.state === "closed" && this.connection.ratingPending()) this.showRatingPrompt();
    this.scrollToEnd();
  }

  resetConversation() {
    this.messages.clear();
    this.pending.clear();
    this.list.replaceChildren();
    this.ratingCard = null;
    this.renderQuickReplies();
    this.showGreeting();
  }

  onAck(frame) {
    const row = this.pending.get(frame.client_id);
    if (!row) return;
    row.classList.remove("crm-pending");
    row.dataset.messageId = String(frame.id);
    this.pending.delete(frame.client_id);
    this.messages.set(frame.id, { id: frame.id, author: "customer", client_id: frame.client_id });
  }

  // ---- rendering -------------------------------------------------------------------------
  showGreeting() {
    if (!this.options.greeting) return;
    const row = this.messageRow({ author: "bot", text: this.options.greeting, created_at: null }, { greeting: true });
    this.list.append(row);
    if (!this.messages.size) this.renderQuickReplies(this.options.starters);
  }

  messageRow(message, { greeting = false } = {}) {
    const author = ["customer", "bot", "agent", "system"].includes(message.author) ? message.author : "system";
    const row = el("div", { class: `crm-row crm-from-${author}${greeting ? " crm-greeting" : ""}` });
    if (message.id !== undefined && message.id !== null) row.dataset.messageId = String(message.id);
    if (author === "system") {
      row.append(appendSafeText(el("div", { class: "crm-system" }), message.text, this.allowList));
      return row;
    }
    if (author !== "customer") {
      const who = author === "agent" ? (message.agent_name || "Support agent") : "Assistant";
      row.append(el("div", { class: "crm-author", text: who }));
    }
    const bubble = appendSafeText(el("div", { class: "crm-bubble" }), message.text, this.allowList);
    row.append(bubble);
    const time = formatTime(message.created_at);
    if (time && !greeting) row.append(el("div", { class: "crm-time", text: time }));
    return row;
  }

  addMessage(message, { quiet = false } = {}) {
    if (!message) return;
    if (message.id !== undefined && this.messages.has(message.id)) return;
    if (message.client_id && this.pending.has(message.client_id)) {
      // Our own message coming back from the server: the pending bubble becomes the real one.
      this.pending.get(message.client_id).remove();
      this.pending.delete(message.client_id);
    }
    this.messages.set(message.id, message);
    this.list.querySelector(".crm-greeting")?.classList.add("crm-greeting-seen");
    const row = this.messageRow(message);
    this.list.append(row);
    if (message.author === "agent" && message.agent_name) this.agentName = message.agent_name;
    if (message.author !== "customer") {
      this.setTyping(message.author, false);
      this.renderQuickReplies(message.buttons || []);
      if (!quiet && this.panel.hidden) {
        this.unread += 1;
        this.badge.textContent = String(this.unread);
        this.badge.hidden = false;
      }
    } else {
      this.renderQuickReplies([]);
    }
    if (this.state === "agent") this.updateHeader();
    this.scrollToEnd();
  }

  addPending(item) {
    if (this.pending.has(item.client_id)) return;
    const row = this.messageRow({ author: "customer", text: item.text, created_at: new Date().toISOString() });
    row.classList.add("crm-pending");
    row.dataset.clientId = item.client_id;
    this.pending.set(item.client_id, row);
    this.list.append(row);
    this.scrollToEnd();
  }

  renderQuickReplies(buttons = []) {
    this.quickReplies.replaceChildren();
    const usable = (buttons || []).filter((b) => b && (b.title || b.payload));
    for (const button of usable) {
      this.quickReplies.append(el("button", {
        class: "crm-chip", type: "button", text: button.title || button.payload,
        onclick: () => this.send(button.title || button.payload, button.payload || null),
      }));
    }
    this.quickReplies.hidden = usable.length === 0;
  }

  setTyping(author, on) {
    clearTimeout(this.typingTimers[author]);
    if (on) {
      const who = author === "agent" ? (this.agentName || "The agent") : "The assistant";
      this.typing.querySelector(".crm-typing-label").textContent = `${who} is typing…`;
      this.typing.hidden = false;
      this.typing.dataset.author = author;
      // A lost "typing off" frame must not leave the dots forever.
      this.typingTimers[author] = setTimeout(() => this.setTyping(author, false), 15000);
      this.scrollToEnd();
    } else if (this.typing.dataset.author === author || !author) {
      this.typing.hidden = true;
    }
  }

  setState(state) {
    if (!STATE_LABELS[state]) return;
    this.state = state;
    this.root.dataset.state = state;
    if (state !== "agent") this.agentName = state === "closed" ? this.agentName : null;
    this.updateHeader();
  }

  updateHeader() {
    let label = STATE_LABELS[this.state];
    if (this.state === "agent" && this.agentName) label = `You're chatting with ${this.agentName}`;
    this.statusText.textContent = label;
    this.avatar.replaceChildren(svg(this.state === "agent" ? ICONS.person : ICONS.bot, 22));
  }

  showRatingPrompt() {
    if (this.ratingCard?.isConnected) return;
    let score = 0;
    const stars = [];
    const comment = el("textarea", {
      class: "crm-rating-comment", rows: 2, maxlength: 1000,
      placeholder: "Anything we could do better? (optional)", "aria-label": "Comment (optional)",
    });
    const submit = el("button", { class: "crm-rating-submit", type: "button", text: "Send rating", disabled: true });
    const paint = (upTo) => stars.forEach((star, i) => star.classList.toggle("crm-on", i < upTo));
    for (let i = 1; i <= 5; i += 1) {
      const star = el("button", {
        class: "crm-star", type: "button", "aria-label": `${i} star${i > 1 ? "s" : ""}`, text: "★",
        "data-score": i,
        onclick: () => { score = i; paint(i); submit.disabled = false; star.setAttribute("aria-pressed", "true"); },
        onmouseenter: () => paint(i), onmouseleave: () => paint(score),
      });
      stars.push(star);
    }
    submit.addEventListener("click", () => {
      if (!score) return;
      if (this.connection.sendRating(score, comment.value.trim())) {
        submit.disabled = true;
        submit.textContent = "Sending…";
      } else {
        this.showError({ message: "You're offline. Please try again in a moment." });
      }
    });
    this.ratingCard = el("div", { class: "crm-rating", role: "group", "aria-label": "Rate this conversation" },
      el("div", { class: "crm-rating-title", text: "How did we do?" }),
      el("div", { class: "crm-rating-sub", text: "Rate your conversation with our team." }),
      el("div", { class: "crm-stars" }, ...stars), comment, submit);
    this.list.append(this.ratingCard);
    this.scrollToEnd();
  }

  showRatingThanks() {
    const thanks = el("div", { class: "crm-rating crm-rating-done", role: "status" },
      el("div", { class: "crm-rating-title", text: "Thank you for your feedback!" }),
      el("div", { class: "crm-rating-sub", text: "Write again any time if you need anything else." }));
    if (this.ratingCard?.isConnected) this.ratingCard.replaceWith(thanks);
    else this.list.append(thanks);
    this.ratingCard = thanks;
    this.scrollToEnd();
  }

  showError(frame) {
    const failed = frame.client_id && this.pending.get(frame.client_id);
    if (failed) {
      failed.classList.remove("crm-pending");
      failed.classList.add("crm-failed");
      this.pending.delete(frame.client_id);
    }
    const text = frame.message || "Something went wrong. Please try again.";
    this.list.append(el("div", { class: "crm-row crm-from-system crm-error" }, el("div", { class: "crm-system", text })));
    this.scrollToEnd();
  }

  scrollToEnd() {
    requestAnimationFrame(() => { this.list.scrollTop = this.list.scrollHeight; });
  }

  // ---- customer input --------------------------------------------------------------------
  onInput() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
    const now = Date.now();
    if (this.input.value && now - this.lastTypingSent > 3000) {
      this.lastTypingSent = now;
      this.connection.sendTyping();
    }
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > this.options.maxLength) {
      this.showError({ message: `Messages can be at most ${this.options.maxLength} characters.` });
      return;
    }
    this.input.value = "";
    this.onInput();
    this.send(text);
  }

  send(text, payload = null) {
    const item = this.connection.sendMessage(text, payload);
    this.addPending(item);
    this.renderQuickReplies([]);
  }

  destroy() {
    this.connection.stop();
    this.host?.remove();
  }
}

/** Create the widget and put it on the page. Options: baseUrl, shopToken, allowedHosts
 *  (array or comma-separated; default: this page's host), title, greeting, starters, accent,
 *  position ("right" | "left"), open, storageKey, container. */
export function initChatWidget(options = {}) {
  return new ChatWidget(options).mount(options.container || document.body);
}

function optionsFromScript(script) {
  const data = script.dataset;
  const options = {};
  if (data.baseUrl) options.baseUrl = data.baseUrl;
  if (data.shopToken) options.shopToken = data.shopToken;
  if (data.allowedHosts !== undefined) options.allowedHosts = data.allowedHosts;
  if (data.title) options.title = data.title;
  if (data.greeting) options.greeting = data.greeting;
  if (data.accent) options.accent = data.accent;
  if (data.position) options.position = data.position;
  if (data.open !== undefined) options.open = data.open !== "false";
  return options;
}

// Declarative embedding: a <script type="module" src=".../widget.js"> without data-manual.
const ownScript = [...document.querySelectorAll("script[src]")]
  .find((s) => new URL(s.src, location.href).href === MODULE_URL.href);
if (ownScript && !("manual" in ownScript.dataset)) {
  const start = () => initChatWidget(optionsFromScript(ownScript));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
