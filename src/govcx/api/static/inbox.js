/* govcx console: the Inbox, for people with the role agent (and admins).
 *
 * Cases are escalated conversations in team queues, the most urgent first, each counting
 * down to its next SLA deadline against the server's clock. A person claims a case (from
 * then on the AI does not answer the customer), replies, writes internal notes, hands
 * the conversation back to the AI or resolves it; the buttons a person may not use are
 * disabled, and a refusal (409: someone else claimed it first) is shown on the case.
 *
 * Live updates: server-sent events from /v1/cases/stream (read with fetch so that the
 * Authorization header can be sent), falling back to polling every 3 s. All text from
 * the server is rendered with textContent, never as HTML. The helpers (api, el, toast)
 * are console.js's, shared as window.govcxConsole; sign-in and sign-out arrive as the
 * govcx:signin / govcx:signout events.
 */
(() => {
  "use strict";

  const { api, el, toast, humanize, fmtValue, fmtAge, signOut } = window.govcxConsole;
  const $ = (id) => document.getElementById(id);
  const KEY = "govcx.console.key";
  const VIEW = "govcx.console.view";
  const POLL_MS = 3000;
  const OPEN = ["waiting", "human"];
  const ACTION_PATH = { claim: "claim", reply: "reply", note: "notes", hand_back: "handback", resolve: "resolve" };

  const box = {
    me: null,           // {principal, roles}
    approvals: false,   // the approval queue is this person's too
    works: false,       // the inbox is (role agent or admin)
    view: "approvals",
    cases: [],          // as the server orders them: the nearest deadline first
    teams: [],
    filter: { status: "open", team: "" },
    selected: null,     // case_id
    lastIndex: 0,
    detail: null,       // the selected case with transcript, events, pending approvals
    mode: "reply",      // the composer writes a "reply" or a "note"
    suggested: null,    // what the hint says after "Suggest a reply" filled the box
    confirm: null,      // "hand_back" | "resolve" while confirming
    busy: false,
    error: null,        // {case_id, message}: the last refused action, shown on its case
    stream: null,
    poller: null,
    failures: 0,
    skew: 0,            // server clock - this browser's clock, seconds
  };

  // -- time -------------------------------------------------------------------------
  function now() { return Date.now() / 1000 + box.skew; }

  function span(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 3600) return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    const m = Math.floor(s / 60);
    if (m < 48 * 60) return Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m";
    return Math.floor(m / 1440) + "d " + Math.floor((m % 1440) / 60) + "h";
  }

  function ago(at) {
    const text = fmtAge(now() - at);
    return text === "just now" ? text : text + " ago";
  }

  function timeOf(at) {
    return new Date(at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /** The countdown of a case: its next deadline (the first reply while nobody has
   * answered, then the resolution), or how it closed. */
  function deadline(c) {
    if (!OPEN.includes(c.status)) {
      return { state: "closed", text: c.status === "resolved" ? "resolved" : "handed back",
        what: c.closed_at ? ago(c.closed_at) : "" };
    }
    const due = c.next_due;
    if (due === null || due === undefined) return { state: "none", text: "no SLA", what: "" };
    const target = c.first_response_at === null && c.first_response_due === due ? "first reply" : "resolution";
    const left = due - now();
    if (left <= 0) return { state: "breached", text: "breached", what: target + " overdue by " + span(-left) };
    const soon = left < Math.min(300, (due - c.created_at) * 0.2);
    return { state: soon ? "soon" : "ok", text: span(left), what: "left for the " + target };
  }

  // -- helpers ----------------------------------------------------------------------
  const isOpen = (c) => OPEN.includes(c.status);
  const mine = (c) => c.status === "human" && c.assignee === box.me.principal;

  function title(c) {
    const s = c.summary || {};
    const finding = (s.findings || [])[0];
    return humanize(s.intent || (finding ? String(finding).toLowerCase() : "") || c.reason) || "Escalated conversation";
  }

  function clip(text, n) {
    const t = String(text || "").replace(/\s+/g, " ").trim();
    return t.length > n ? t.slice(0, n - 1) + "…" : t;
  }

  function holder(c) {
    if (c.status === "waiting") return "Waiting in the " + (c.team || "") + " queue · unclaimed";
    if (c.status === "human") return mine(c) ? "You have it" : c.assignee + " has it";
    return (c.status === "resolved" ? "Resolved" : "Handed back to the AI") + (c.closed_at ? " " + ago(c.closed_at) : "");
  }

  /** What the signed-in person may do on the case now (the API decides; this mirrors
   * it so that only the allowed buttons are enabled). */
  function allowed(c) {
    const work = c.can_work === true;
    const admin = box.me.roles.includes("admin");
    return {
      claim: work && c.status === "waiting",
      reply: work && mine(c),
      note: work,
      hand_back: work && mine(c),
      resolve: work && isOpen(c) && (!c.assignee || c.assignee === box.me.principal || admin),
    };
  }

  function whyNot(c, action) {
    if (c.can_work !== true) return "You can read this case but not work it";
    if (!isOpen(c)) return "The case is closed";
    if (c.status === "waiting") return { reply: "Claim the case to reply to the customer", hand_back: "Claim the case first" }[action] || "";
    if (!mine(c)) return c.assignee + " has this case";
    return "";
  }

  // -- views ------------------------------------------------------------------------
  function show(view) {
    if (view === "inbox" && !box.works) view = "approvals";
    if (view === "approvals" && !box.approvals) view = "inbox";
    box.view = view;
    sessionStorage.setItem(VIEW, view);
    const inbox = view === "inbox";
    $("workspace").hidden = inbox;
    $("inbox").hidden = !inbox;
    $("view-approvals").setAttribute("aria-pressed", String(!inbox));
    $("view-inbox").setAttribute("aria-pressed", String(inbox));
    document.querySelector(".brand .title").textContent = inbox ? "Inbox" : "Approval console";
    document.title = (inbox ? "Inbox" : "Approvals") + " · govcx · " + document.body.dataset.pack;
    const skip = document.querySelector(".skip");
    skip.setAttribute("href", inbox ? "#cases" : "#queue");
    skip.textContent = inbox ? "Skip to the cases" : "Skip to the queue";
    window.scrollTo(0, 0);
    (inbox ? $("cases") : $("queue")).focus({ preventScroll: true });
  }

  function onSignIn(ev) {
    const { me, approvals, inbox } = ev.detail;
    Object.assign(box, { me, approvals, works: inbox });
    if (!inbox) return;
    $("views").hidden = !approvals;
    $("live").hidden = !approvals; // the approval queue's stream; the inbox has its own
    startLive();
    show(approvals ? sessionStorage.getItem(VIEW) || "approvals" : "inbox");
  }

  function onSignOut() {
    stopLive();
    Object.assign(box, { me: null, cases: [], selected: null, detail: null, confirm: null, error: null });
    $("inbox").hidden = true;
    $("views").hidden = true;
    $("live").hidden = false;
    document.querySelector(".brand .title").textContent = "Approval console";
    document.title = "Approvals · govcx · " + document.body.dataset.pack;
  }

  // -- live cases -------------------------------------------------------------------
  function setLive(mode) {
    const node = $("inbox-live");
    node.dataset.state = mode;
    node.textContent = { live: "live", polling: "polling every 3 s", off: "offline" }[mode] || mode;
  }

  function stopLive() {
    if (box.stream) box.stream.abort();
    box.stream = null;
    if (box.poller) clearInterval(box.poller);
    box.poller = null;
  }

  function startLive() {
    stopLive();
    box.failures = 0;
    streamCases();
  }

  function query() {
    const team = box.filter.team ? "&team=" + encodeURIComponent(box.filter.team) : "";
    return "status=" + encodeURIComponent(box.filter.status) + team;
  }

  async function streamCases() {
    const ctrl = new AbortController();
    box.stream = ctrl;
    try {
      const res = await fetch("/v1/cases/stream?" + query(), {
        headers: { Accept: "text/event-stream", Authorization: "Bearer " + sessionStorage.getItem(KEY) },
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
        box.failures = 0;
        buffer += decoder.decode(value, { stream: true });
        const blocks = buffer.split(/\r?\n\r?\n/);
        buffer = blocks.pop();
        for (const block of blocks) onBlock(block);
      }
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    if (ctrl.signal.aborted || box.stream !== ctrl) return;
    box.failures += 1;
    if (box.failures >= 3) { startPolling(); return; }
    setLive("off");
    setTimeout(() => { if (box.stream === ctrl) streamCases(); }, 500 * box.failures);
  }

  function onBlock(block) {
    let event = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (event !== "cases" || !data.length) return;
    try {
      const payload = JSON.parse(data.join("\n"));
      if (typeof payload.at === "number") box.skew = payload.at - Date.now() / 1000;
      if (payload.teams) setTeams(payload.teams);
      setCases(payload.cases || []);
    } catch (err) {
      console.warn("bad cases event", err);
    }
  }

  function startPolling() {
    if (box.stream) box.stream.abort();
    box.stream = null;
    setLive("polling");
    const poll = async () => {
      try { setCases(await api("/v1/cases?" + query() + "&limit=500")); } catch (_) { /* next round */ }
    };
    poll();
    box.poller = setInterval(poll, POLL_MS);
  }

  function setTeams(teams) {
    const select = $("cases-team");
    const wanted = [...new Set([...teams, ...(box.filter.team ? [box.filter.team] : [])])].sort();
    if (wanted.join("\n") === box.teams.join("\n")) return;
    box.teams = wanted;
    select.replaceChildren(el("option", { value: "", text: box.me.roles.includes("admin") ? "All teams" : "All my teams" }),
      ...wanted.map((t) => el("option", { value: t, text: t })));
    select.value = box.filter.team;
  }

  // -- the list ---------------------------------------------------------------------
  function setCases(cases) {
    const before = new Set(box.cases.map((c) => c.case_id));
    box.cases = cases;
    renderList(before);
    const open = cases.filter(isOpen).length;
    $("inbox-tab-count").textContent = String(open);
    $("inbox-tab-count").hidden = open === 0 || box.filter.status !== "open";
    if (box.selected) refreshCase();
    else if (cases.length) select(cases[0].case_id, false);
  }

  function renderList(before = null) {
    const list = $("cases");
    list.replaceChildren();
    $("cases-count").textContent = String(box.cases.length);
    $("cases-empty").hidden = box.cases.length > 0;
    for (const c of box.cases) {
      const sla = deadline(c);
      const wants = c.summary && c.summary.customer_wants;
      const li = el("li", {
        id: "case-" + c.case_id,
        class: "item case-item" + (before && before.size && !before.has(c.case_id) ? " new" : ""),
        role: "option",
        "aria-selected": c.case_id === box.selected ? "true" : "false",
        "data-id": c.case_id,
      },
      el("div", { class: "line1" },
        el("span", { class: "case-title" }, el("span", { class: "badge prio-" + c.priority, text: c.priority }), " " + title(c)),
        el("span", { class: "sla sla-" + sla.state, "data-case": c.case_id, text: sla.text })),
      el("div", { class: "line2" },
        el("span", { text: [c.team ? "team " + c.team : "no team", c.customer_id].filter(Boolean).join(" · ") }),
        el("span", { class: "sla-what", "data-case": c.case_id, text: sla.what })),
      wants ? el("div", { class: "snippet", text: "“" + clip(wants, 90) + "”" }) : null,
      el("div", { class: "line3" },
        el("span", { class: "who" + (mine(c) ? " mine" : ""), text: holder(c) }),
        el("span", { class: "tags" }, ...(c.tags || []).map((t) => el("span", { class: "tag", text: "#" + t })))));
      li.addEventListener("click", () => select(c.case_id, true));
      list.append(li);
    }
  }

  let ticks = 0;
  function tick() {
    if (!box.me || box.view !== "inbox") return;
    // The stream speaks for open cases; a closed one on screen (handed back: the AI
    // answers again) is re-read every few seconds.
    ticks += 1;
    if (box.detail && !isOpen(box.detail) && ticks % 4 === 0) refreshCase();
    const byId = new Map(box.cases.map((c) => [c.case_id, c]));
    if (box.detail) byId.set(box.detail.case_id, byId.get(box.detail.case_id) || box.detail);
    for (const node of document.querySelectorAll("#cases .sla[data-case], #cases .sla-what[data-case]")) {
      const c = byId.get(node.dataset.case);
      if (!c) continue;
      const sla = deadline(c);
      if (node.classList.contains("sla")) {
        node.textContent = sla.text;
        node.className = "sla sla-" + sla.state;
      } else {
        node.textContent = sla.what;
      }
    }
    if (box.detail) renderClock(box.detail);
  }

  function move(delta) {
    if (!box.cases.length) return;
    let index = box.cases.findIndex((c) => c.case_id === box.selected);
    if (index < 0) {
      const last = box.lastIndex || 0;
      index = delta > 0 ? Math.min(last, box.cases.length - 1) : Math.max(last - 1, 0);
    } else {
      index = Math.min(box.cases.length - 1, Math.max(0, index + delta));
    }
    select(box.cases[index].case_id, true);
  }

  function select(id, focusList) {
    if (box.busy) return;
    const changed = box.selected !== id;
    box.selected = id;
    box.lastIndex = Math.max(0, box.cases.findIndex((c) => c.case_id === id));
    if (changed) {
      box.confirm = null;
      box.detail = null;
      box.mode = "reply";
      box.suggested = null;
      $("c-text").value = "";
    }
    for (const node of $("cases").children) {
      node.setAttribute("aria-selected", node.dataset.id === id ? "true" : "false");
    }
    const node = $("case-" + id);
    if (node) {
      node.scrollIntoView({ block: "nearest" });
      $("cases").setAttribute("aria-activedescendant", node.id);
    }
    if (focusList) $("cases").focus();
    renderCase();
    refreshCase();
  }

  async function refreshCase() {
    const id = box.selected;
    if (!id) return;
    try {
      const detail = await api("/v1/cases/" + encodeURIComponent(id));
      if (box.selected !== id) return;
      box.detail = detail;
      renderCase();
    } catch (err) {
      if (err.status !== 401 && box.selected === id) toast(err.message, "bad");
    }
  }

  // -- the case ---------------------------------------------------------------------
  function renderCase() {
    const c = box.detail;
    $("case-empty").hidden = !!(c || box.selected);
    $("case-body").hidden = !c;
    if (!c) return;
    const s = c.summary || {};
    $("c-title").textContent = title(c) + (c.customer_id ? " · " + c.customer_id : "");
    $("c-sub").textContent = "Escalated " + ago(c.created_at) + " · " + c.case_id +
      (c.policy_version ? " · policy " + c.policy_version : "");
    const badges = [
      el("span", { class: "badge prio-" + c.priority, text: c.priority }),
      el("span", { class: "badge", text: "team " + (c.team || "none") }),
      el("span", { class: "badge cs-" + c.status, text: { human: "claimed", handed_back: "handed back" }[c.status] || c.status }),
      ...(c.tags || []).map((t) => el("span", { class: "badge tag", text: "#" + t })),
      ...(c.breached || []).map((t) => el("span", { class: "badge sla-missed", text: "missed " + (t === "first_response" ? "first reply" : t) })),
    ];
    $("c-badges").replaceChildren(...badges);
    renderClock(c);
    renderActions();

    $("c-wants").textContent = s.customer_wants || "—";
    $("c-why").textContent = s.why || c.reason || "—";
    $("c-rules").replaceChildren(...(s.rules || []).map((r) => el("li", { text: r })));
    const facts = $("c-facts");
    facts.replaceChildren();
    const fact = (k, v) => facts.append(el("dt", { text: k }), el("dd", { text: v }));
    fact("intent", s.intent || "—");
    if (s.intent && typeof s.confidence === "number") fact("confidence", Math.round(s.confidence * 100) + "%");
    if (s.findings && s.findings.length) fact("guard findings", s.findings.map((f) => humanize(String(f).toLowerCase())).join(", "));
    if (s.routed_by) fact("routed by", s.routed_by + " → " + (c.team || "no team") + ", " + c.priority);
    if (s.routing_errors && s.routing_errors.length) fact("routing errors", s.routing_errors.join("; "));

    const action = s.recommended_action;
    $("c-recommended").textContent = action && action.tool
      ? humanize(action.tool) + (action.args && Object.keys(action.args).length
        ? " — " + Object.entries(action.args).map(([k, v]) => k + " " + fmtValue(k, v)).join(", ") : "")
      : "None: the AI proposed no action.";
    list("c-approvals", c.pending_approvals || [], (a) => humanize(a.tool || a.kind) +
      (a.args && Object.keys(a.args).length ? " — " + Object.entries(a.args).map(([k, v]) => k + " " + fmtValue(k, v)).join(", ") : "") +
      " · " + a.status + " · " + a.approval_id, "None waiting.");
    list("c-knowledge", s.knowledge || [], (k) => (k.title || k.doc_id) + " · " + k.doc_id +
      (typeof k.score === "number" ? " · match " + k.score.toFixed(2) : ""), "None cited.");
    list("c-did", s.ai_did || [], (a) => humanize(a.tool) + " " + a.status + (a.error ? " (" + a.error + ")" : ""),
      "Nothing: no tool ran.");

    renderTranscript(c);
    renderCompose(c);
    renderEvents(c);
  }

  function list(id, items, text, empty) {
    const node = $(id);
    node.replaceChildren(...items.map((item) => el("li", { text: text(item) })));
    if (!items.length) node.append(el("li", { class: "muted", text: empty }));
  }

  function renderClock(c) {
    const sla = deadline(c);
    $("c-sla").textContent = sla.text;
    $("c-sla").className = "sla big sla-" + sla.state;
    $("c-sla-what").textContent = sla.what;
  }

  function renderActions() {
    const c = box.detail;
    if (!c) return;
    const may = allowed(c);
    $("c-holder").textContent = c.status === "waiting"
      ? "Waiting in the " + (c.team || "") + " queue. Claim it to answer the customer: the AI stays silent while you have it."
      : c.status === "human"
        ? (mine(c) ? "You have this case: the AI is not answering the customer." : c.assignee + " has this case.")
        : holder(c) + ". The AI answers this customer's next message.";
    const error = box.error && box.error.case_id === c.case_id ? box.error.message : "";
    $("c-error").hidden = !error;
    $("c-error").textContent = error;
    const buttons = { "c-claim": "claim", "c-handback": "hand_back", "c-resolve": "resolve" };
    for (const [id, action] of Object.entries(buttons)) {
      $(id).disabled = !may[action] || box.busy;
      $(id).title = may[action] ? "" : whyNot(c, action) || "";
    }
    $("c-actions").hidden = !!box.confirm;
    $("c-confirm").hidden = !box.confirm;
    if (box.confirm) {
      $("c-confirm-text").textContent = box.confirm === "hand_back"
        ? "Hand the conversation back to the AI? It answers the customer's next message."
        : "Resolve the case? If the customer writes again, the AI answers.";
      $("c-confirm-yes").firstChild.textContent = (box.confirm === "hand_back" ? "Hand back" : "Resolve") + " ";
      $("c-confirm-yes").disabled = box.busy;
    }
  }

  function renderTranscript(c) {
    const node = $("c-transcript");
    node.replaceChildren();
    $("c-conv").textContent = "· " + c.conversation_id;
    const lines = c.transcript || [];
    let divider = -1;
    lines.forEach((m, i) => { if (m.turn_id === c.turn_id) divider = i; });
    // Where the AI took over again: the turn of its first reply after the hand-off (the
    // AI is silent in between), found by turn rather than by time.
    let back = -1;
    if (!isOpen(c) && divider >= 0) {
      const ai = lines.findIndex((m, i) => i > divider && m.role === "assistant");
      back = ai < 0 ? lines.length : lines.findIndex((m) => m.turn_id === lines[ai].turn_id);
    }
    const closer = (c.events || []).filter((e) => e.kind === "handed_back" || e.kind === "resolved").pop();
    const closedLine = () => el("li", { class: "handoff-line back", text: (closer ? closer.actor + " " : "") +
      (c.status === "resolved" ? "resolved the case" : "handed the conversation back") + " — from here the AI answers" });
    lines.forEach((m, i) => {
      if (i === back) node.append(closedLine());
      const who = { customer: "customer", assistant: "AI", agent: (m.author || "agent") + " · person", system: "notice" }[m.role] || m.role;
      node.append(el("li", { class: "msg " + m.role },
        el("span", { class: "who" }, who, el("span", { class: "at", text: " · " + timeOf(m.at) })), m.text));
      if (i === divider) {
        node.append(el("li", { class: "handoff-line", text: "Escalated to " + (c.team ? "team " + c.team : "a person") +
          " · " + c.priority + " — from here the AI does not reply while the case is open" }));
      }
    });
    if (back === lines.length) node.append(closedLine());
    if (!lines.length) node.append(el("li", { class: "muted", text: "No messages yet." }));
  }

  function renderCompose(c) {
    const may = allowed(c);
    const reply = box.mode === "reply";
    const form = $("c-compose");
    form.dataset.mode = box.mode;
    form.hidden = c.can_work !== true;
    $("c-mode-reply").setAttribute("aria-pressed", String(reply));
    $("c-mode-note").setAttribute("aria-pressed", String(!reply));
    $("c-mode-reply").disabled = !may.reply;
    const can = reply ? may.reply : may.note;
    $("c-text").disabled = !can;
    $("c-text").placeholder = reply
      ? (may.reply ? "Write to " + (c.customer_id || "the customer") + " — sent to their channel at once" : whyNot(c, "reply"))
      : "A note for the people on this case — never shown to the customer";
    $("c-text-label").textContent = reply ? "Reply to the customer" : "Internal note";
    $("c-send").firstChild.textContent = (reply ? "Send reply" : "Add note") + " ";
    $("c-send").disabled = !can || box.busy;
    $("c-compose-hint").textContent = reply && !may.reply ? whyNot(c, "reply") : (box.suggested || "");
    $("c-suggest").hidden = !reply;
    $("c-suggest").disabled = !may.reply || box.busy;
  }

  /** Ask the AI for a draft of the reply: it fills the box, the person edits and sends it
   * (or not). Audited on the server as case.suggestion; never sent by itself. */
  async function suggestReply() {
    const c = box.detail;
    if (!c || box.busy || !allowed(c).reply) return;
    box.busy = true;
    renderCompose(c);
    try {
      const s = await api("/v1/cases/" + encodeURIComponent(c.case_id) + "/suggestion", { method: "POST" });
      if (!s.text) {
        box.suggested = "The AI has nothing to suggest for the customer's last message: no approved knowledge covers it.";
        box.busy = false;
        renderCompose(c);
        $("c-text").focus();
        return;
      }
      $("c-text").value = s.text;
      const sources = (s.citations || []).map((x) => x.title || x.doc_id).join(", ");
      box.suggested = "Suggested by the AI" + (sources ? " from " + sources : "") +
        (s.problems && s.problems.length ? " (checked: " + s.problems.join("; ") + ")" : "") +
        " — edit it; nothing is sent until you press Send.";
    } catch (err) {
      if (err.status !== 401) toast(err.message, "bad");
    }
    box.busy = false;
    renderCompose(c);
    $("c-text").focus();
  }

  function renderEvents(c) {
    const node = $("c-events");
    node.replaceChildren();
    for (const e of (c.events || []).slice().reverse()) {
      const d = e.data || {};
      const text = {
        opened: "Escalated to " + (d.team ? "team " + d.team : "no team") + " · " + (d.priority || "") + (d.rule ? " (" + d.rule + ")" : ""),
        claimed: e.actor + " claimed the case",
        assigned: e.actor + " assigned the case to " + d.assignee,
        reply: e.actor + " replied to the customer" + (d.first_response ? " (first reply)" : ""),
        note: "Internal note by " + e.actor,
        handed_back: e.actor + " handed the conversation back to the AI",
        resolved: e.actor + " resolved the case",
        sla_breached: "SLA missed: " + (d.target === "first_response" ? "first reply" : d.target || "deadline"),
        escalated_again: "Escalated again: " + (d.reason || ""),
      }[e.kind] || humanize(e.kind) + " by " + e.actor;
      node.append(el("li", { class: "ev ev-" + e.kind },
        el("div", { class: "ev-head" }, el("span", { text: text }), el("span", { class: "muted small", text: ago(e.at) })),
        e.text && e.kind !== "reply" ? el("p", { class: "ev-text", text: e.text }) : null));
    }
    if (!node.children.length) node.append(el("li", { class: "muted", text: "Nothing yet." }));
  }

  // -- acting -----------------------------------------------------------------------
  async function act(action, body) {
    const c = box.detail;
    if (!c || box.busy) return false;
    box.busy = true;
    box.error = null;
    renderActions();
    let ok = false;
    try {
      await api("/v1/cases/" + encodeURIComponent(c.case_id) + "/" + ACTION_PATH[action], { method: "POST", body });
      ok = true; // the case itself shows the result (holder, transcript, activity)
    } catch (err) {
      if (err.status !== 401) {
        box.error = { case_id: c.case_id, message: (err.status === 409 ? "Not done: " : "") + err.message };
        toast(box.error.message, "bad");
      }
    }
    box.busy = false;
    box.confirm = null;
    await refreshCase();
    renderActions();
    return ok;
  }

  function begin(action) {
    const c = box.detail;
    if (!c || box.busy || !allowed(c)[action]) return;
    box.confirm = action;
    $("c-confirm-note").value = "";
    renderActions();
    $("c-confirm-yes").focus();
  }

  function cancel() {
    box.confirm = null;
    renderActions();
    $("cases").focus();
  }

  async function confirmAction() {
    const action = box.confirm;
    if (!action) return;
    const note = $("c-confirm-note").value.trim();
    await act(action, note ? { note } : undefined);
    $("cases").focus();
  }

  function compose(mode) {
    const c = box.detail;
    if (!c || c.can_work !== true) return;
    box.mode = mode === "reply" && !allowed(c).reply ? "note" : mode;
    renderCompose(c);
    if (mode === "reply" && box.mode !== "reply") toast(whyNot(c, "reply"), "bad");
    $("c-text").focus();
  }

  async function send() {
    const text = $("c-text").value.trim();
    if (!text) { $("c-text").focus(); return; }
    if (await act(box.mode, { text })) {
      $("c-text").value = "";
      box.suggested = null;
    }
  }

  // -- wiring -----------------------------------------------------------------------
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
      target.tagName === "SELECT" || target.isContentEditable);
  }

  document.addEventListener("keydown", (ev) => {
    if (!box.me || !box.works || ev.altKey || ev.metaKey || document.querySelector("dialog[open]")) return;
    if (!typing(ev.target) && !ev.ctrlKey && box.approvals && (ev.key === "1" || ev.key === "2")) {
      ev.preventDefault();
      show(ev.key === "1" ? "approvals" : "inbox");
      return;
    }
    if (box.view !== "inbox") return;
    if (ev.key === "Escape") {
      if (box.confirm) { ev.preventDefault(); cancel(); } else if (typing(ev.target)) { ev.target.blur(); $("cases").focus(); }
      return;
    }
    if (box.confirm && ev.key === "Enter" && !(ev.target && ev.target.tagName === "BUTTON")) {
      ev.preventDefault();
      confirmAction();
      return;
    }
    if (ev.target === $("c-text") && ev.key === "Enter" && ev.ctrlKey) {
      ev.preventDefault();
      send();
      return;
    }
    if (typing(ev.target) || ev.ctrlKey) return;
    const actions = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      c: () => { if (box.detail && allowed(box.detail).claim) act("claim"); },
      r: () => compose("reply"), n: () => compose("note"), g: () => suggestReply(),
      h: () => begin("hand_back"), x: () => begin("resolve"),
      f: () => $("cases-status").focus(),
      "?": () => $("inbox-help").showModal(),
    };
    const action = actions[ev.key];
    if (action) { ev.preventDefault(); action(); }
  });

  function init() {
    document.addEventListener("govcx:signin", onSignIn);
    document.addEventListener("govcx:signout", onSignOut);
    $("view-approvals").addEventListener("click", () => show("approvals"));
    $("view-inbox").addEventListener("click", () => show("inbox"));
    $("c-claim").addEventListener("click", () => act("claim"));
    $("c-handback").addEventListener("click", () => begin("hand_back"));
    $("c-resolve").addEventListener("click", () => begin("resolve"));
    $("c-confirm-yes").addEventListener("click", confirmAction);
    $("c-confirm-no").addEventListener("click", cancel);
    $("c-mode-reply").addEventListener("click", () => compose("reply"));
    $("c-mode-note").addEventListener("click", () => compose("note"));
    $("c-compose").addEventListener("submit", (ev) => { ev.preventDefault(); send(); });
    $("c-suggest").addEventListener("click", () => suggestReply());
    for (const [id, key] of [["cases-status", "status"], ["cases-team", "team"]]) {
      $(id).addEventListener("change", () => {
        box.filter[key] = $(id).value;
        box.cases = [];
        renderList();
        startLive();
      });
    }
    setInterval(tick, 1000);
  }

  init();
})();
