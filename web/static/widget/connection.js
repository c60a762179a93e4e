// The widget's link to the gateway: a chat session over HTTP, then a WebSocket that is
// re-opened with backoff whenever it drops. Customer messages wait in an outbox (kept in
// localStorage) until the server acknowledges them, and are re-sent after a reconnect with the
// same client_id, so the gateway stores each one once.

const MAX_BACKOFF_MS = 15000;

function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

class Store {
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
  }

  load() {
    try {
      return JSON.parse(this.storage?.getItem(this.key) || "{}") || {};
    } catch {
      return {};
    }
  }

  update(changes) {
    const next = { ...this.load(), ...changes };
    try {
      this.storage?.setItem(this.key, JSON.stringify(next));
    } catch {
      // Private mode or a full quota: the chat still works, it just won't survive a reload.
    }
    return next;
  }
}

export class ChatConnection extends EventTarget {
  constructor({ baseUrl, shopToken = null, storage = globalThis.localStorage, storageKey }) {
    super();
    this.baseUrl = baseUrl;
    this.shopToken = shopToken || null;
    this.store = new Store(storage, storageKey);
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.status = "idle";
    this.outbox = this.store.load().outbox || [];
  }

  get conversationToken() {
    return this.store.load().conversation_token || null;
  }

  get conversationId() {
    return this.store.load().conversation_id || null;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, "closed by the page");
    this.socket = null;
  }

  setStatus(status, detail = {}) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, ...detail } }));
  }

  emit(frame) {
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  async createSession() {
    const body = {};
    if (this.shopToken) body.shop_token = this.shopToken;
    if (this.conversationToken) body.conversation_token = this.conversationToken;
    const response = await fetch(new URL("/api/chat/sessions", this.baseUrl), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (response.status >= 400 && response.status < 500 && (body.shop_token || body.conversation_token)) {
      // A stale conversation or an expired shop login must not lock the customer out:
      // start over without them (an anonymous visitor verifies in the chat).
      console.warn("chat widget: session refused (%s), starting a new conversation", response.status);
      this.shopToken = null;
      this.store.update({ conversation_token: null, conversation_id: null });
      return this.createSession();
    }
    if (!response.ok) throw new Error(`session request failed with HTTP ${response.status}`);
    const session = await response.json();
    const previous = this.conversationId;
    this.store.update({
      conversation_token: session.conversation_token,
      conversation_id: session.conversation_id,
    });
    if (Array.isArray(session.allowed_link_hosts)) {
      this.dispatchEvent(new CustomEvent("allowed-hosts", { detail: session.allowed_link_hosts }));
    }
    if (previous && previous !== session.conversation_id) {
      this.dispatchEvent(new CustomEvent("conversation-changed", { detail: session }));
    }
    return session;
  }

  async open() {
    if (this.stopped) return;
    this.setStatus(this.attempt ? "reconnecting" : "connecting");
    let session;
    try {
      session = await this.createSession();
    } catch (error) {
      console.warn("chat widget: %s", error.message);
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const url = new URL(session.ws_url || "/ws/chat", this.baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", session.conversation_token);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.setStatus("online");
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.setStatus("reconnecting", { inMs: delay });
    this.timer = setTimeout(() => this.open(), delay);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn("chat widget: ignored a frame that is not JSON");
      return;
    }
    if (frame.type === "history") {
      // Whatever the server already stored is done; the rest is sent again (same client_id).
      const stored = new Set((frame.messages || []).map((m) => m.client_id).filter(Boolean));
      this.setOutbox(this.outbox.filter((item) => !stored.has(item.client_id)));
      this.emit(frame);
      for (const item of this.outbox) this.transmit(item);
      return;
    }
    if (frame.type === "ack" || (frame.type === "error" && frame.client_id)) {
      // Stored, or refused for good (too long, empty): either way it must not be sent again.
      this.setOutbox(this.outbox.filter((item) => item.client_id !== frame.client_id));
    }
    this.emit(frame);
  }

  setOutbox(items) {
    this.outbox = items;
    this.store.update({ outbox: items });
  }

  transmit(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Queue a customer message; returns the pending entry (shown until the server acks it). */
  sendMessage(text, payload = null) {
    const item = { type: "message", text, client_id: uuid() };
    if (payload) item.payload = payload;
    this.setOutbox([...this.outbox, item]);
    this.transmit(item);
    return item;
  }

  sendRating(score, comment) {
    const frame = { type: "rating", score };
    if (comment) frame.comment = comment;
    return this.transmit(frame);
  }

  sendTyping() {
    return this.transmit({ type: "typing" });
  }

  /** Rating prompts survive a reload: remembered per conversation until the rating is saved. */
  rememberRatingRequest(pending) {
    this.store.update({ rating_pending_for: pending ? this.conversationId : null });
  }

  ratingPending() {
    const id = this.conversationId;
    return Boolean(id && this.store.load().rating_pending_for === id);
  }
}
