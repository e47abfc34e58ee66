/* govcx approval console: vanilla JS, no dependencies.
 *
 * The API key lives in sessionStorage (this tab only) and goes out as a bearer token.
 * All text from the server is rendered with textContent, never as HTML.
 * Live updates: server-sent events from /v1/approvals/stream (read with fetch so that
 * the Authorization header can be sent), falling back to polling every 2 s.
 * The history view lists decided requests (GET /v1/approvals?status=closed&...), newest
 * first, filtered by outcome, customer, approver and tool.
 */
(() => {
  "use strict";

  const KEY = "govcx.console.key";
  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY),
    me: null,
    items: [],          // pending approvals, oldest first
    history: [],        // decided requests matching the filters, newest first
    view: "pending",    // "pending" | "history": which list j/k move in
    historyTimer: null,
    selected: null,     // approval_id
    lastIndex: 0,       // queue position of the selected request
    detail: null,       // the selected ApprovalView
    conversation: null, // its conversation
    outcomes: {},       // approval_id -> {turn, decision}
    mode: null,         // "approve" | "edit" | "reject" while confirming
    busy: false,
    stream: null,
    poller: null,
    failures: 0,
    serverSkew: 0,      // server time - client time, seconds
  };

  // -- helpers ----------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function humanize(name) {
    if (!name) return "";
    const text = String(name).replace(/[_-]+/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function money(value) {
    return typeof value === "number" ? "$" + value.toFixed(2) : String(value);
  }

  const MONEY_KEY = /amount|total|price|credit|refunded|remaining|balance|fee/;

  function fmtValue(key, value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number" && MONEY_KEY.test(key)) return money(value);
    if (Array.isArray(value)) {
      if (!value.length) return "none";
      return value.map((v) => fmtValue(key, v)).join("; ");
    }
    if (typeof value === "object") {
      return Object.entries(value).map(([k, v]) => fmtValue(k, v)).join(" · ");
    }
    return String(value);
  }

  function fmtClock(epoch) {
    const d = new Date((epoch - state.serverSkew) * 1000);
    return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function customerName(item) {
    const facts = item && item.context && item.context.facts;
    const name = facts && typeof facts.customer === "string" ? facts.customer : "";
    return name && !/^<[A-Z_]+>$/.test(name) ? name : "";
  }

  // A reply field only the action's result gives ("[refund_id]") is marked as such.
  function withSlots(text) {
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const m of String(text).matchAll(/\[([a-z_]+)\]/g)) {
      frag.append(text.slice(last, m.index));
      frag.append(el("span", { class: "slot", title: "filled in when the action runs", text: humanize(m[1]).toLowerCase() }));
      last = m.index + m[0].length;
    }
    frag.append(text.slice(last));
    return frag;
  }

  function nowServer() { return Date.now() / 1000 + state.serverSkew; }

  function fmtAge(seconds) {
    if (!(seconds > 0) || seconds < 45) return "just now";
    const m = Math.round(seconds / 60);
    if (m < 60) return m + "m";
    const h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d";
  }

  function fmtIn(seconds) {
    if (seconds <= 0) return "overdue";
    const m = Math.round(seconds / 60);
    if (m < 60) return "in " + m + "m";
    return "in " + Math.floor(m / 60) + "h " + (m % 60) + "m";
  }

  function title(item) {
    if (item.kind === "reply") return "Send drafted reply";
    const args = item.args || {};
    const parts = [humanize(item.tool)];
    if (typeof args.amount === "number") parts.push(money(args.amount));
    if (args.order_id) parts.push("· " + args.order_id);
    return parts.join(" ");
  }

  // The title as a node: the order id never breaks at its hyphen.
  function titleNode(item) {
    const text = title(item);
    const cut = text.lastIndexOf(" · ");
    if (cut < 0) return el("span", { text });
    return el("span", {}, text.slice(0, cut) + " ", el("span", { class: "nowrap", text: text.slice(cut + 1) }));
  }

  function toast(message, kind = "") {
    const node = el("div", { class: "toast " + kind, role: kind === "bad" ? "alert" : "status", text: message });
    $("toasts").append(node);
    setTimeout(() => node.remove(), kind === "bad" ? 7000 : 4000);
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(path, { method = "GET", body, headers = {} } = {}) {
    const init = { method, headers: { Accept: "application/json", Authorization: "Bearer " + state.key, ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      if (res.status === 401) signOut("Your key was not accepted. Sign in again.");
      throw new ApiError(res.status, err.code || "error", err.message || res.statusText);
    }
    return data;
  }

  // -- sign in ----------------------------------------------------------------------
  async function signIn(key) {
    state.key = key;
    const me = await api("/v1/me");
    const roles = me.roles || [];
    const canRead = roles.some((r) => r.startsWith("approver:") || r === "auditor" || r === "admin");
    const works = roles.some((r) => r === "agent" || r === "admin"); // the inbox (inbox.js)
    if (!canRead && !works) {
      throw new ApiError(403, "forbidden", me.principal + " has the roles " + (roles.join(", ") || "none") +
        "; the console needs an approver (or agent, auditor, admin) key");
    }
    state.me = me;
    sessionStorage.setItem(KEY, key);
    $("whoami").textContent = me.principal + " · " + roles.join(", ");
    $("whoami").hidden = false;
    $("signout").hidden = false;
    $("signin").hidden = true;
    $("workspace").hidden = !canRead;
    if (canRead) {
      startLive();
      $("queue").focus();
    }
    document.dispatchEvent(new CustomEvent("govcx:signin", { detail: { me, approvals: canRead, inbox: works } }));
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    stopLive();
    Object.assign(state, { key: null, me: null, items: [], history: [], selected: null, detail: null, conversation: null });
    showView("pending", false);
    $("workspace").hidden = true;
    $("signin").hidden = false;
    $("whoami").hidden = true;
    $("signout").hidden = true;
    setLive("off");
    const error = $("signin-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("api-key").value = "";
    $("api-key").focus();
    document.dispatchEvent(new CustomEvent("govcx:signout"));
  }

  // -- live queue -------------------------------------------------------------------
  function setLive(mode) {
    const node = $("live");
    node.dataset.state = mode;
    node.textContent = { live: "live", polling: "polling every 2 s", off: "offline" }[mode] || mode;
  }

  function stopLive() {
    if (state.stream) state.stream.abort();
    state.stream = null;
    if (state.poller) clearInterval(state.poller);
    state.poller = null;
  }

  function startLive() {
    stopLive();
    state.failures = 0;
    streamQueue();
  }

  async function streamQueue() {
    const ctrl = new AbortController();
    state.stream = ctrl;
    try {
      const res = await fetch("/v1/approvals/stream", {
        headers: { Accept: "text/event-stream", Authorization: "Bearer " + state.key },
        signal: ctrl.signal,
      });
      if (res.status === 401) { signOut("Your key was not accepted. Sign in again."); return; }
      if (!res.ok || !res.body) throw new Error("stream refused: " + res.status);
      setLive("live");
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        state.failures = 0;
        buffer += decoder.decode(value, { stream: true });
        const blocks = buffer.split(/\r?\n\r?\n/);
        buffer = blocks.pop();
        for (const block of blocks) onSseBlock(block);
      }
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    if (ctrl.signal.aborted || state.stream !== ctrl) return;
    state.failures += 1;
    if (state.failures >= 3) { startPolling(); return; }
    setLive("off");
    setTimeout(() => { if (state.stream === ctrl) streamQueue(); }, 500 * state.failures);
  }

  function onSseBlock(block) {
    let event = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (event !== "queue" || !data.length) return;
    try {
      const payload = JSON.parse(data.join("\n"));
      if (payload.at) state.serverSkew = payload.at - Date.now() / 1000;
      if (payload.policy_version) $("policy-version").textContent = payload.policy_version;
      setQueue(payload.approvals || []);
    } catch (err) {
      console.warn("bad queue event", err);
    }
  }

  function startPolling() {
    if (state.stream) state.stream.abort();
    state.stream = null;
    setLive("polling");
    const poll = async () => {
      try { setQueue(await api("/v1/approvals?status=pending&limit=500")); } catch (_) { /* next round */ }
    };
    poll();
    state.poller = setInterval(poll, 2000);
  }

  // -- queue ------------------------------------------------------------------------
  function setQueue(items) {
    const before = new Set(state.items.map((i) => i.approval_id));
    state.items = items.slice().sort((a, b) => a.requested_at - b.requested_at);
    renderQueue(before);
    if (state.view !== "pending") return;
    if (state.selected && !state.items.some((i) => i.approval_id === state.selected)) {
      // decided here (outcome shown) or elsewhere: refresh the detail
      if (!state.outcomes[state.selected]) refreshDetail(true);
    } else if (state.selected) {
      const fresh = state.items.find((i) => i.approval_id === state.selected);
      if (fresh && state.detail && (fresh.decisions.length !== state.detail.decisions.length ||
          fresh.can_decide !== state.detail.can_decide)) {
        state.detail = fresh;
        renderDetail();
      }
    } else if (state.items.length && !state.detail) {
      select(state.items[0].approval_id, false);
    }
  }

  function renderQueue(before = null) {
    const list = $("queue");
    list.replaceChildren();
    $("queue-count").textContent = String(state.items.length);
    $("queue-empty").hidden = state.items.length > 0;
    for (const item of state.items) {
      const needed = item.approvals_needed || 1;
      const approvals = (item.decisions || []).filter((d) => d.decision !== "reject").length;
      const li = el("li", {
        id: "item-" + item.approval_id,
        class: "item" + (item.can_decide === false ? " blocked" : "") +
          (before && before.size && !before.has(item.approval_id) ? " new" : ""),
        role: "option",
        "aria-selected": item.approval_id === state.selected ? "true" : "false",
        "data-id": item.approval_id,
      },
      el("div", { class: "line1" }, titleNode(item),
        (item.decisions || []).some((x) => x.authenticated === false) ? unauthenticatedMark() : null,
        el("span", { class: "badge tier-" + item.tier, text: item.tier })),
      el("div", { class: "line2" },
        el("span", { text: (item.customer_id ? item.customer_id + (customerName(item) ? " · " + customerName(item) : "") + " · " : "") +
          item.conversation_id, title: item.conversation_id }),
        el("span", { class: "age", "data-at": String(item.requested_at),
          text: (needed > 1 ? approvals + "/" + needed + " · " : "") + fmtAge(nowServer() - item.requested_at) })),
      item.can_decide === false ? el("div", { class: "limit", text: "outside your authority" }) : null);
      li.addEventListener("click", () => select(item.approval_id, true));
      list.append(li);
    }
  }

  function pool() { return state.view === "history" ? state.history : state.items; }
  function listNode() { return $(state.view === "history" ? "history" : "queue"); }

  function move(delta) {
    const items = pool();
    if (!items.length) return;
    let index = items.findIndex((i) => i.approval_id === state.selected);
    if (index < 0) {
      // the selected request left the queue (decided): its successor took its place
      const last = state.lastIndex || 0;
      index = delta > 0 ? Math.min(last, items.length - 1) : Math.max(last - 1, 0);
    } else {
      index = Math.min(items.length - 1, Math.max(0, index + delta));
    }
    select(items[index].approval_id, true);
  }

  function select(id, focusQueue) {
    if (state.busy) return;
    const items = pool();
    const list = listNode();
    state.selected = id;
    state.lastIndex = Math.max(0, items.findIndex((i) => i.approval_id === id));
    state.mode = null;
    for (const node of list.children) {
      node.setAttribute("aria-selected", node.dataset.id === id ? "true" : "false");
    }
    const node = list.querySelector('[data-id="' + CSS.escape(id) + '"]');
    if (node) {
      node.scrollIntoView({ block: "nearest" });
      list.setAttribute("aria-activedescendant", node.id);
    }
    if (focusQueue) list.focus();
    state.detail = items.find((i) => i.approval_id === id) || null;
    state.conversation = null;
    renderDetail();
    refreshDetail(false);
  }

  async function refreshDetail(approvalToo) {
    const id = state.selected;
    if (!id) return;
    try {
      const wanted = [state.detail && !approvalToo ? Promise.resolve(state.detail) : api("/v1/approvals/" + encodeURIComponent(id))];
      const detail = await wanted[0];
      if (state.selected !== id) return;
      state.detail = detail;
      const conv = await api("/v1/conversations/" + encodeURIComponent(detail.conversation_id));
      if (state.selected !== id) return;
      state.conversation = conv;
      renderDetail();
    } catch (err) {
      if (err.status !== 401) toast(err.message, "bad");
    }
  }

  // -- history ----------------------------------------------------------------------
  function showView(view, focus = true) {
    state.view = view;
    const history = view === "history";
    $("tab-pending").setAttribute("aria-selected", history ? "false" : "true");
    $("tab-history").setAttribute("aria-selected", history ? "true" : "false");
    $("pending-view").hidden = history;
    $("history-view").hidden = !history;
    if (!state.me) return;
    state.selected = null;
    state.detail = null;
    state.mode = null;
    renderDetail();
    if (history) loadHistory(true);
    else if (state.items.length) select(state.items[0].approval_id, focus);
    if (focus) listNode().focus();
  }

  function historyQuery() {
    const params = new URLSearchParams({ status: $("f-status").value || "closed", limit: "100" });
    for (const name of ["customer_id", "approver", "tool"]) {
      const value = document.querySelector('#history-filters [name="' + name + '"]').value.trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  async function loadHistory(selectFirst) {
    try {
      const items = await api("/v1/approvals?" + historyQuery().toString());
      state.history = items;
      renderHistory();
      if (state.view !== "history") return;
      if (selectFirst || !items.some((i) => i.approval_id === state.selected)) {
        if (items.length) select(items[0].approval_id, false);
        else { state.selected = null; state.detail = null; renderDetail(); }
      }
    } catch (err) {
      if (err.status !== 401) toast(err.message, "bad");
    }
  }

  function outcomeText(item) {
    const who = (item.decisions || []).map((d) => d.principal);
    const by = who.length ? " by " + Array.from(new Set(who)).join(", ") : "";
    return {
      approved: "approved" + by, failed: "approved" + by + " · failed",
      rejected: "rejected" + by, expired: "expired", superseded: "superseded",
    }[item.status] || item.status;
  }

  function renderHistory() {
    const list = $("history");
    list.replaceChildren();
    $("history-empty").hidden = state.history.length > 0;
    for (const item of state.history) {
      const li = el("li", {
        id: "hist-" + item.approval_id,
        class: "item st-row-" + item.status,
        role: "option",
        "aria-selected": item.approval_id === state.selected ? "true" : "false",
        "data-id": item.approval_id,
      },
      el("div", { class: "line1" }, titleNode(item),
        el("span", { class: "badge st-" + item.status, text: item.status })),
      el("div", { class: "line2" },
        el("span", { text: (item.customer_id || "—") + (customerName(item) ? " · " + customerName(item) : "") }),
        el("span", { class: "age", text: fmtAge(nowServer() - item.requested_at) })),
      el("div", { class: "line2" }, el("span", { text: outcomeText(item) })));
      li.addEventListener("click", () => select(item.approval_id, true));
      list.append(li);
    }
  }

  // -- detail -----------------------------------------------------------------------
  function renderDetail() {
    const d = state.detail;
    $("detail-empty").hidden = !!d;
    $("detail-body").hidden = !d;
    if (!d) return;
    $("d-title").textContent = title(d);
    const expires = d.status === "pending" ? " · expires " + fmtIn(d.expires_at - nowServer()) : "";
    const name = customerName(d);
    $("d-sub").textContent = (d.customer_id ? "For " + (name ? name + " (" + d.customer_id + ")" : d.customer_id) + " · " : "") +
      "requested " + fmtAge(nowServer() - d.requested_at) +
      (fmtAge(nowServer() - d.requested_at) === "just now" ? "" : " ago") + expires +
      " · policy " + d.policy_version + " · " + d.approval_id;
    const badges = [
      el("span", { class: "badge tier-" + d.tier, text: "tier " + d.tier }),
      el("span", { class: "badge st-" + d.status, text: d.status }),
    ];
    if (d.approvals_needed > 1) badges.push(el("span", { class: "badge", text: "four-eyes · " + d.approvals_needed + " approvers" }));
    $("d-badges").replaceChildren(...badges);

    const args = $("d-args");
    args.replaceChildren();
    if (d.kind === "action") {
      args.append(el("tr", {}, el("th", { text: "tool" }), el("td", { text: d.tool })));
      for (const [key, value] of Object.entries(d.args || {})) {
        args.append(el("tr", {}, el("th", { text: key }), el("td", { text: fmtValue(key, value) })));
      }
    } else {
      args.append(el("tr", {}, el("th", { text: "action" }), el("td", { text: "send the drafted reply below" })));
    }
    if (d.customer_id) args.append(el("tr", {}, el("th", { text: "customer" }), el("td", { text: d.customer_id + (name ? " · " + name : "") })));

    renderContext(d);
    renderReplies(d);

    $("d-rationale").textContent = d.rationale;
    const conditions = (d.rule_conditions && d.rule_conditions.length)
      ? d.rule_conditions : (d.rules || []).map((r) => ({ rule: r, condition: r }));
    $("d-rules").replaceChildren(...conditions.map((c) => el("li", { title: "rule " + c.rule },
      el("code", { class: "cond", text: c.condition }),
      c.condition !== c.rule ? el("span", { class: "rule-id", text: c.rule }) : null)));
    const facts = $("d-facts");
    facts.replaceChildren();
    const fact = (k, v) => facts.append(el("dt", { text: k }), el("dd", { text: v }));
    fact("intent", d.intent || "—");
    fact("approvals", ((d.decisions || []).filter((x) => x.decision !== "reject").length) + " of " + d.approvals_needed);
    for (const dec of d.decisions || []) {
      const verb = { approve: "approved by", reject: "rejected by", edit: "edited by" }[dec.decision] || dec.decision;
      const dd = el("dd", { text: dec.principal + (dec.comment ? " — “" + dec.comment + "”" : "") });
      if (dec.authenticated === false) dd.append(" ", unauthenticatedMark());
      facts.append(el("dt", { text: verb }), dd);
    }

    const evidence = $("d-evidence");
    evidence.replaceChildren();
    for (const item of d.evidence || []) {
      if (item.citation) {
        const c = item.citation;
        evidence.append(el("li", { class: "cite" }, el("span", { class: "tag", text: "source" }),
          el("strong", { text: c.title || c.doc_id }),
          el("span", { class: "muted", text: " · " + c.doc_id + " v" + c.version })));
      } else {
        const label = item.tool ? humanize(item.tool) + (item.args ? " " + JSON.stringify(item.args) : "") : "evidence";
        const body = item.result !== undefined ? item.result : item.error !== undefined ? { error: item.error } : item;
        evidence.append(el("li", {}, el("span", { class: "tag", text: "tool" }), el("strong", { text: label }),
          el("pre", { text: JSON.stringify(body, null, 2) })));
      }
    }
    if (!evidence.children.length) evidence.append(el("li", { class: "muted", text: "No evidence was attached." }));

    renderDecide();
    renderOutcome();
    renderTranscript();
  }

  function renderContext(d) {
    const card = $("d-context-card");
    const ctx = d.context;
    card.hidden = !ctx;
    if (!ctx) return;
    $("d-context-when").textContent = "· looked up " + fmtClock(ctx.looked_up_at);
    const error = $("d-context-error");
    error.hidden = ctx.status === "ok";
    error.textContent = ctx.status === "ok" ? "" : "Context unavailable — decide without it: " + (ctx.error || "the lookup failed");
    // Each request's context was looked up alone: others waiting for the same customer
    // and tool may spend what it shows as remaining.
    const siblings = d.status !== "pending" ? [] : state.items.filter((i) => i.approval_id !== d.approval_id &&
      i.tool === d.tool && i.customer_id === d.customer_id);
    const note = $("d-siblings");
    note.hidden = !siblings.length;
    note.textContent = siblings.length ? "Also waiting for this customer: " + siblings.map(title).join("; ") +
      ". This context was looked up for this request alone." : "";
    const table = $("d-context");
    table.replaceChildren();
    for (const [key, value] of Object.entries(ctx.facts || {})) {
      let cell;
      if (Array.isArray(value) && value.length && typeof value[0] === "object") {
        cell = el("td", {}, el("ul", { class: "fact-list" },
          ...value.map((v) => el("li", { text: fmtValue(key, v) }))));
      } else {
        cell = el("td", { text: fmtValue(key, value) });
      }
      table.append(el("tr", { "data-fact": key }, el("th", { text: humanize(key).toLowerCase() }), cell));
    }
  }

  function renderReplies(d) {
    const approved = d.reply_if_approved || (d.kind === "reply" ? d.draft_reply : null);
    const ifApproved = $("d-reply-approved");
    ifApproved.replaceChildren(approved ? withSlots(approved) : "—");
    ifApproved.classList.toggle("muted", !approved);
    $("d-reply-rejected").textContent = d.reply_if_rejected || "—";
  }

  function unauthenticatedMark() {
    // A dev-mode decision made by name (--as) without a key: nobody proved who it was.
    return el("span", { class: "badge unauth", text: "unauthenticated",
      title: "Decided in dev mode by name (--as NAME) without an API key" });
  }

  function renderDecide() {
    const d = state.detail;
    const pending = d.status === "pending";
    const blocked = pending && d.can_decide !== true;
    const why = d.can_decide === false ? (d.authority || "outside your authority")
      : "your key is not an approver (read-only)";
    $("decide").hidden = !pending && !state.mode;
    $("d-authority").hidden = !blocked;
    $("d-authority").textContent = blocked ? "You cannot decide this request: " + why : "";
    for (const id of ["btn-approve", "btn-edit", "btn-reject"]) $(id).disabled = !pending || blocked || state.busy;
    $("edit-wrap").hidden = state.mode !== "edit";
    $("confirm").hidden = !state.mode;
    $("actions").hidden = !!state.mode;
    if (state.mode) {
      const what = title(d);
      $("confirm-text").textContent = {
        approve: "Approve “" + what + "”? It runs right away.",
        edit: "Approve “" + humanize(d.tool || "reply") + "” with the edited arguments?",
        reject: "Reject “" + what + "”? The customer is told it could not be done.",
      }[state.mode];
      $("confirm-yes").textContent = { approve: "Approve", edit: "Approve edited", reject: "Reject" }[state.mode];
      $("confirm-yes").className = "btn " + (state.mode === "reject" ? "btn-reject" : "btn-approve");
      $("confirm-yes").disabled = state.busy;
    }
  }

  function renderOutcome() {
    const box = $("outcome");
    const outcome = state.outcomes[state.selected];
    const d = state.detail;
    box.replaceChildren();
    box.className = "outcome";
    if (!outcome && (d.status === "pending")) { box.hidden = true; return; }
    box.hidden = false;
    if (!outcome) {
      box.classList.add(d.status === "approved" ? "ok" : "bad");
      const who = (d.decisions || []).map((x) => x.principal + (x.authenticated === false ? " (unauthenticated)" : "")).join(", ");
      if (d.status === "failed") {
        box.append(el("h3", { text: "Failed after approval" }),
          el("p", { class: "failure", text: d.failure || "The approved action did not happen." }),
          el("p", { text: "Approved by " + (who || "—") + "; the action did not happen." }));
        return;
      }
      box.append(el("h3", { text: (d.status === "pending" ? "" : "Already ") + d.status }),
        el("p", { text: who ? "Decided by " + who + "." : "Nobody decided it in time." }));
      return;
    }
    const { turn, decision } = outcome;
    const executed = (turn.actions || []).filter((a) => a.status === "executed");
    const failed = turn.approval_status === "failed";
    const ok = !failed && decision !== "reject" && (executed.length > 0 || turn.status === "answered" || turn.status === "pending_approval");
    box.classList.add(ok ? "ok" : "bad");
    const heading = { approve: "Approved", edit: "Approved with edits", reject: "Rejected" }[decision];
    box.append(el("h3", { text: failed ? heading + " · the action failed"
      : heading + " · conversation " + turn.status.replace("_", " ") }));
    for (const action of turn.actions || []) {
      box.append(el("p", { class: "action-result" + (action.error ? " failure" : ""), text: humanize(action.tool) + " " + action.status +
        (action.args && Object.keys(action.args).length ? " — " + Object.entries(action.args).map(([k, v]) => k + " " + fmtValue(k, v)).join(", ") : "") +
        (action.error ? " (" + action.error + ")" : "") }));
    }
    if (turn.status === "pending_approval") box.append(el("p", { text: "Recorded; it still needs another approver." }));
    if (turn.reply) box.append(el("p", {}, el("strong", { text: "Customer sees: " }), turn.reply.text));
  }

  function renderTranscript() {
    const list = $("d-transcript");
    list.replaceChildren();
    const conv = state.conversation;
    $("d-conv").textContent = conv ? "· " + conv.conversation_id + " · " + conv.status.replace("_", " ") : "";
    if (!conv) { list.append(el("li", { class: "muted", text: "Loading…" })); return; }
    for (const m of conv.transcript || []) {
      list.append(el("li", { class: "msg " + m.role }, el("span", { class: "who", text: m.role }), m.text));
    }
    if (!list.children.length) list.append(el("li", { class: "muted", text: "No messages yet." }));
  }

  // -- deciding ---------------------------------------------------------------------
  function begin(mode) {
    const d = state.detail;
    if (!d || d.status !== "pending" || d.can_decide !== true || state.busy) return;
    state.mode = mode;
    if (mode === "edit") {
      const args = d.kind === "reply" ? { reply: d.draft_reply || "" } : (d.args || {});
      $("edit-args").value = JSON.stringify(args, null, 2);
    }
    renderDecide();
    if (mode === "edit") $("edit-args").focus();
    else if (mode === "reject") $("comment").focus();
    else $("confirm-yes").focus();
  }

  function cancel() {
    state.mode = null;
    renderDecide();
    $("queue").focus();
  }

  async function confirmDecision() {
    const d = state.detail;
    const mode = state.mode;
    if (!d || !mode || state.busy) return;
    const body = { decision: mode };
    const comment = $("comment").value.trim();
    if (comment) body.comment = comment;
    if (mode === "edit") {
      try {
        body.args = JSON.parse($("edit-args").value);
      } catch (err) {
        toast("The arguments are not valid JSON: " + err.message, "bad");
        $("edit-args").focus();
        return;
      }
      if (!body.args || typeof body.args !== "object" || Array.isArray(body.args)) {
        toast("The arguments must be a JSON object", "bad");
        return;
      }
    }
    state.busy = true;
    renderDecide();
    try {
      const turn = await api("/v1/approvals/" + encodeURIComponent(d.approval_id) + "/decision", {
        method: "POST", body, headers: { "Idempotency-Key": uuid() },
      });
      state.outcomes[d.approval_id] = { turn, decision: mode };
      state.mode = null;
      $("comment").value = "";
      if (turn.approval_status === "failed") {
        const error = (turn.actions || []).map((a) => a.error).filter(Boolean).join("; ");
        toast("Approved, but the action failed: " + (error || "see the outcome"), "bad");
      } else {
        toast({ approve: "Approved", edit: "Approved with edits", reject: "Rejected" }[mode] + ": " + title(d), "ok");
      }
      state.busy = false;
      await refreshDetail(true);
    } catch (err) {
      state.busy = false;
      state.mode = null;
      if (err.status === 409) toast("Not applied: " + err.message, "bad");
      else if (err.status !== 401) toast(err.message, "bad");
      await refreshDetail(true);
    }
    renderDetail();
  }

  // -- wiring -----------------------------------------------------------------------
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
  }

  document.addEventListener("keydown", (ev) => {
    if (!state.me || ev.altKey || ev.metaKey) return;
    if ($("workspace").hidden) return; // another view (the inbox) has the keyboard
    if (ev.key === "Escape") {
      if ($("help").open) return;
      if (state.mode) { ev.preventDefault(); cancel(); }
      else if (ev.target && ev.target.closest && ev.target.closest("#history-filters")) {
        ev.preventDefault();
        $("history").focus();
      }
      return;
    }
    if (state.mode && ev.key === "Enter" && (ev.ctrlKey || !typing(ev.target)) &&
        !(ev.target && ev.target.tagName === "BUTTON")) {
      ev.preventDefault();
      confirmDecision();
      return;
    }
    if (typing(ev.target) || ev.ctrlKey) return;
    const actions = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      a: () => begin("approve"), e: () => begin("edit"), r: () => begin("reject"),
      p: () => showView("pending"), h: () => showView("history"),
      "/": () => { if (state.view !== "history") showView("history", false); $("f-customer").focus(); },
      "?": () => $("help").showModal(),
    };
    const action = actions[ev.key];
    if (action) { ev.preventDefault(); action(); }
  });

  function init() {
    $("signin-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) return;
      $("signin-error").hidden = true;
      try {
        await signIn(key);
      } catch (err) {
        state.key = null;
        $("signin-error").hidden = false;
        $("signin-error").textContent = err.status === 401 ? "That key is not known to this server." : err.message;
      }
    });
    $("signout").addEventListener("click", () => signOut(""));
    $("btn-approve").addEventListener("click", () => begin("approve"));
    $("btn-edit").addEventListener("click", () => begin("edit"));
    $("btn-reject").addEventListener("click", () => begin("reject"));
    $("confirm-yes").addEventListener("click", confirmDecision);
    $("confirm-no").addEventListener("click", cancel);
    $("tab-pending").addEventListener("click", () => showView("pending"));
    $("tab-history").addEventListener("click", () => showView("history"));
    const filters = $("history-filters");
    filters.addEventListener("submit", (ev) => { ev.preventDefault(); loadHistory(true); $("history").focus(); });
    filters.addEventListener("input", () => {
      clearTimeout(state.historyTimer);
      state.historyTimer = setTimeout(() => loadHistory(true), 300);
    });
    setInterval(() => {
      for (const node of document.querySelectorAll(".item .age")) {
        const at = Number(node.dataset.at);
        const item = state.items.find((i) => String(i.requested_at) === node.dataset.at);
        const needed = item ? item.approvals_needed || 1 : 1;
        const approvals = item ? (item.decisions || []).filter((d) => d.decision !== "reject").length : 0;
        node.textContent = (needed > 1 ? approvals + "/" + needed + " · " : "") + fmtAge(nowServer() - at);
      }
    }, 15000);
    if (state.key) {
      signIn(state.key).catch(() => signOut("Your saved key was not accepted. Sign in again."));
    } else {
      $("api-key").focus();
    }
  }

  // The helpers the inbox (inbox.js) shares; it learns of sign-in and sign-out from the
  // govcx:signin / govcx:signout events.
  window.govcxConsole = Object.freeze({ api, el, toast, humanize, fmtValue, fmtAge, signOut });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
