/* govcx operations dashboard: the figures of GET /v1/report as charts (Chart.js, served
 * by this server). Sign-in shares the console's key (session storage of this tab). Every
 * string from the server goes into the page as textContent, never as HTML. */
(() => {
  "use strict";

  const KEY = "govcx.console.key";
  const $ = (id) => document.getElementById(id);
  const COLORS = {
    contained: "#137a4b", escalated: "#b42318", approval: "#2563eb", other: "#98a2b3",
    approved: "#137a4b", edited: "#f59e0b", rejected: "#b42318", expired: "#98a2b3",
    line: "#1f3a5f", met: "#137a4b", missed: "#b42318",
  };
  const PALETTE = ["#2563eb", "#b42318", "#f59e0b", "#137a4b", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475467"];
  const state = { key: sessionStorage.getItem(KEY), since: "7d", workflow: "", charts: {}, report: null };

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  const pct = (v) => (v == null ? "–" : (v * 100).toFixed(1) + "%");

  async function api(path, { method = "GET", body } = {}) {
    const init = { method, headers: { Accept: "application/json", Authorization: "Bearer " + state.key } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      const error = new Error(err.message || res.statusText);
      error.status = res.status;
      throw error;
    }
    return data;
  }

  // -- sign in ------------------------------------------------------------------------
  async function signIn(key) {
    state.key = key;
    const me = await api("/v1/me");
    const roles = me.roles || [];
    if (!roles.some((r) => r === "auditor" || r === "admin" || r === "risk")) {
      throw new Error(me.principal + " has the roles " + (roles.join(", ") || "none") +
        "; the dashboard needs an auditor, risk or admin key");
    }
    sessionStorage.setItem(KEY, key);
    $("whoami").textContent = me.principal + " · " + roles.join(", ");
    $("whoami").hidden = false;
    $("signout").hidden = false;
    $("signin").hidden = true;
    $("dash").hidden = false;
    await load();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    state.key = null;
    $("dash").hidden = true;
    $("signin").hidden = false;
    $("whoami").hidden = true;
    $("signout").hidden = true;
    $("signin-error").hidden = !message;
    $("signin-error").textContent = message || "";
    $("api-key").focus();
  }

  // -- data ---------------------------------------------------------------------------
  async function load() {
    const q = "?since=" + encodeURIComponent(state.since) +
      (state.workflow ? "&workflow=" + encodeURIComponent(state.workflow) : "");
    try {
      state.report = await api("/v1/report" + q);
      $("dash-error").hidden = true;
    } catch (err) {
      if (err.status === 401) return signOut("Your key was not accepted. Sign in again.");
      $("dash-error").textContent = "Could not load the report: " + err.message;
      $("dash-error").hidden = false;
      return;
    }
    render(state.report);
  }

  function render(r) {
    const w = r.window;
    const fmt = (ts) => new Date(ts * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    $("dash-window").textContent = fmt(w.since) + " → " + fmt(w.until) +
      (state.workflow ? " · workflow " + state.workflow : " · all workflows");
    $("policy-version").textContent = r.policy_version;
    workflows(r);
    kpis(r);
    daily(r);
    reasons(r);
    approvals(r);
    perWorkflow(r);
    perVersion(r);
    sla(r);
    findings(r);
    suggestions(r);
    loadProposals();
  }

  // -- policy changes -----------------------------------------------------------------
  async function loadProposals() {
    try {
      const [listed, rollout] = await Promise.all([api("/v1/policy/proposals"), api("/v1/policy/rollout")]);
      // The list leaves the reports out; a reviewer needs those of the pending proposals.
      const items = await Promise.all(listed.map((p) => p.status === "pending" && p.impact_status === "done"
        ? api("/v1/policy/proposals/" + encodeURIComponent(p.proposal_id)) : p));
      $("p-error").hidden = true;
      proposals(items, rollout);
    } catch (err) {
      $("p-error").textContent = "Could not load the proposals: " + err.message;
      $("p-error").hidden = false;
    }
  }

  let proposalsTimer = null;

  function proposals(items, rollout) {
    $("p-rollout").textContent = "active policy " + rollout.active_version +
      (rollout.proposal_id ? " · " + rollout.mode + " of " + rollout.candidate_version +
        (rollout.mode === "rollout" ? " on " + rollout.share + "% of new conversations" : "") : "");
    const list = $("proposals");
    list.replaceChildren();
    $("p-empty").hidden = items.length > 0;
    for (const p of items) list.append(proposalItem(p));
    // A report still being computed: look again until it is there.
    clearTimeout(proposalsTimer);
    if (items.some((p) => p.impact_status === "pending" || p.impact_status === "running")) {
      proposalsTimer = setTimeout(loadProposals, 5000);
    }
  }

  function impactLine(impact, status, error) {
    // The server computes the report after the proposal is stored (minutes on a large pack).
    if (status === "pending" || status === "running") return "impact report running…";
    if (status === "failed") return "impact report failed: " + (error || "unknown error");
    if (!impact) return "no impact report";
    const changes = Object.entries(impact.decisions || {}).map(([k, v]) => k + " " + v).join(" · ") || "no decision changes";
    const c = impact.compliance || {};
    return "impact: " + (impact.conversations || 0) + " conversations replayed · " + changes +
      (c.checked ? " · compliance violations " + c.violations : "");
  }

  function proposalItem(p) {
    const approvals = p.reviews.filter((r) => r.decision === "approve").length;
    const item = el("li", { class: "proposal", id: "proposal-" + p.proposal_id, "data-status": p.status },
      el("p", { class: "p-head" },
        el("strong", { text: p.version }),
        el("span", { class: "badge", text: p.status }),
        el("span", { class: "muted small", text: "by " + p.author + " · from " + p.base_version + " · " +
          approvals + " of " + p.approvals_needed + " approvals (" + p.reviewer_roles.join(", ") + ")" })),
      p.comment ? el("p", { class: "small", text: p.comment }) : null,
      el("ul", { class: "diff small" }, ...p.diff.map((d) => el("li", { text: d.path + ": " + JSON.stringify(d.old) + " → " + JSON.stringify(d.new) }))),
      el("p", { class: "muted small", text: impactLine(p.impact, p.impact_status, p.impact_error) }),
      p.reviews.length ? el("p", { class: "muted small", text: "reviews: " + p.reviews.map((r) => r.principal + " " + r.decision + (r.comment ? " (" + r.comment + ")" : "")).join("; ") }) : null);
    const out = el("span", { class: "muted small p-out", role: "status" });
    const row = el("div", { class: "row" });
    const comment = el("input", { type: "text", class: "p-comment", placeholder: "comment (recorded)", "aria-label": "Review comment" });
    const act = (label, path, body, primary) => {
      const b = el("button", { class: "btn" + (primary ? " btn-primary" : ""), type: "button", text: label });
      b.addEventListener("click", async () => {
        b.disabled = true;
        out.textContent = label.toLowerCase() + "…";
        try {
          await api(path, { method: "POST", body: typeof body === "function" ? body() : body });
          out.textContent = "";
          await loadProposals();
        } catch (err) {
          out.textContent = err.message;
          b.disabled = false;
        }
      });
      return b;
    };
    const base = "/v1/policy/proposals/" + encodeURIComponent(p.proposal_id);
    if (p.status === "pending") {
      // Approving waits for the impact report (the server refuses it before); rejecting does not.
      const ready = p.impact_status !== "pending" && p.impact_status !== "running" && p.impact_status !== "failed";
      row.append(...[comment,
        ready ? act("Approve", base + "/review", () => ({ decision: "approve", comment: comment.value || null }), true) : null,
        act("Reject", base + "/review", () => ({ decision: "reject", comment: comment.value || null })),
        p.impact_status === "failed" ? act("Re-run impact report", base + "/impact", {}) : null].filter(Boolean));
    }
    if (p.status === "approved") {
      row.append(act("Run in shadow", base + "/shadow", {}),
        act("Roll out to 20%", base + "/rollout", { share: 20 }),
        act("Activate", base + "/activate", {}, true));
    }
    if (p.status === "shadow" || p.status === "rollout") {
      if (p.status === "rollout") row.append(act("Roll out to 50%", base + "/rollout", { share: 50 }));
      row.append(act("Activate", base + "/activate", {}, true), act("Stop (roll back)", "/v1/policy/rollback", {}));
    }
    if (p.status === "active") row.append(act("Roll back", "/v1/policy/rollback", {}));
    if (row.childNodes.length) item.append(row, out);
    return item;
  }

  function workflows(r) {
    const select = $("workflow");
    const known = new Set([...select.options].map((o) => o.value));
    for (const name of r.workflows || Object.keys(r.by_workflow)) {
      if (!known.has(name)) select.append(el("option", { value: name, text: name }));
    }
  }

  function kpi(label, value, detail, tone) {
    return el("div", { class: "kpi" + (tone ? " " + tone : "") },
      el("span", { class: "kpi-label", text: label }),
      el("strong", { class: "kpi-value", text: value }),
      el("span", { class: "kpi-detail muted small", text: detail }));
  }

  function kpis(r) {
    const t = r.turns, a = r.approvals, s = r.sla;
    const findingsTotal = Object.values(r.guard_findings).reduce((x, y) => x + y, 0);
    $("kpis").replaceChildren(
      kpi("Containment", pct(t.containment), t.contained + " of " + t.turns + " turns with no person", "good"),
      kpi("Escalation rate", pct(r.escalations.rate), r.escalations.total + " escalated", "bad"),
      kpi("Approvals", String(a.requested), "approve " + pct(a.approve_rate) + " · edit " + pct(a.edit_rate) + " · reject " + pct(a.reject_rate)),
      kpi("Time to decision", a.minutes_to_decision_median == null ? "–" : a.minutes_to_decision_median + " min",
        "median; p90 " + (a.minutes_to_decision_p90 == null ? "–" : a.minutes_to_decision_p90 + " min")),
      kpi("SLA first response", pct(s.first_response.attainment), s.first_response.met + " met · " + s.first_response.missed + " missed · " + s.first_response.open + " open"),
      kpi("SLA resolution", pct(s.resolution.attainment), s.resolution.met + " met · " + s.resolution.missed + " missed · " + s.resolution.open + " open"),
      kpi("Guard findings", String(findingsTotal), Object.entries(r.guard_findings).slice(0, 3).map(([k, v]) => k + " " + v).join(" · ") || "none"),
    );
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    state.charts[id] = new Chart($(id), config);
  }

  /** Dashed vertical lines at the days a policy version was activated. */
  const markers = {
    id: "activations",
    afterDatasetsDraw(c, _args, opts) {
      const x = c.scales.x;
      if (!opts.marks || !x) return;
      const ctx = c.ctx;
      ctx.save();
      for (const m of opts.marks) {
        const px = x.getPixelForValue(m.index);
        if (!Number.isFinite(px)) continue;
        ctx.strokeStyle = "#1f3a5f";
        ctx.setLineDash([5, 4]);
        ctx.beginPath();
        ctx.moveTo(px, c.chartArea.top);
        ctx.lineTo(px, c.chartArea.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#1f3a5f";
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillText(m.label, px + 4, c.chartArea.top + 11);
      }
      ctx.restore();
    },
  };

  function daily(r) {
    const days = r.by_day.map((d) => d.day);
    const marks = r.activations.map((a) => ({
      index: days.indexOf(new Date(a.at * 1000).toISOString().slice(0, 10)),
      label: a.version,
    })).filter((m) => m.index >= 0);
    chart("chart-daily", {
      type: "bar",
      data: {
        labels: days,
        datasets: [
          { label: "Contained", data: r.by_day.map((d) => d.contained), backgroundColor: COLORS.contained, stack: "t" },
          { label: "With approval", data: r.by_day.map((d) => d.with_approval), backgroundColor: COLORS.approval, stack: "t" },
          { label: "Escalated", data: r.by_day.map((d) => d.escalated), backgroundColor: COLORS.escalated, stack: "t" },
          { label: "Other", data: r.by_day.map((d) => Math.max(0, d.turns - d.contained - d.with_approval - d.escalated)), backgroundColor: COLORS.other, stack: "t" },
          { label: "Containment %", type: "line", yAxisID: "rate", data: r.by_day.map((d) => d.containment == null ? null : d.containment * 100), borderColor: COLORS.line, backgroundColor: COLORS.line, spanGaps: true, tension: 0.2 },
        ],
      },
      options: {
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "turns" } },
          rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "containment %" } },
        },
        plugins: { activations: { marks } },
      },
      plugins: [markers],
    });
  }

  function hbar(id, labels, datasets, stacked) {
    chart(id, {
      type: "bar",
      data: { labels, datasets },
      options: { indexAxis: "y", scales: { x: { stacked, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked } } },
    });
  }

  function reasons(r) {
    const top = r.escalations.top_reasons;
    hbar("chart-reasons", top.map((x) => x.rule), [{ label: "Escalations", data: top.map((x) => x.count), backgroundColor: COLORS.escalated }], false);
  }

  function approvals(r) {
    const rows = Object.entries(r.approvals.by_rule);
    const kinds = ["approved", "edited", "rejected", "expired"];
    hbar("chart-approvals", rows.map(([rule]) => rule),
      kinds.map((k) => ({ label: k, data: rows.map(([, v]) => v[k]), backgroundColor: COLORS[k] })), true);
    const table = $("t-approvals");
    table.replaceChildren(el("tr", {}, ...["rule", "requested", "approve", "edit", "reject", "median min"].map((h) => el("th", { text: h }))));
    for (const [rule, v] of rows) {
      table.append(el("tr", {}, el("td", { text: rule }), el("td", { text: String(v.requested) }),
        el("td", { text: pct(v.approve_rate) }), el("td", { text: pct(v.edit_rate) }), el("td", { text: pct(v.reject_rate) }),
        el("td", { text: v.minutes_to_decision_median == null ? "–" : String(v.minutes_to_decision_median) })));
    }
  }

  function rates(id, entries) {
    hbar(id, entries.map(([k]) => k), [
      { label: "Containment %", data: entries.map(([, v]) => (v.containment || 0) * 100), backgroundColor: COLORS.contained },
      { label: "With approval %", data: entries.map(([, v]) => (v.turns ? v.with_approval / v.turns : 0) * 100), backgroundColor: COLORS.approval },
      { label: "Escalation %", data: entries.map(([, v]) => (v.escalation_rate || 0) * 100), backgroundColor: COLORS.escalated },
    ], false);
  }

  function perWorkflow(r) { rates("chart-workflows", Object.entries(r.by_workflow)); }
  function perVersion(r) { rates("chart-versions", Object.entries(r.by_policy_version)); }

  function sla(r) {
    const teams = Object.entries(r.sla.by_team);
    hbar("chart-sla", teams.map(([t]) => t), [
      { label: "First response met", data: teams.map(([, v]) => v.first_response.met), backgroundColor: COLORS.met, stack: "fr" },
      { label: "First response missed", data: teams.map(([, v]) => v.first_response.missed), backgroundColor: COLORS.missed, stack: "fr" },
      { label: "Resolution met", data: teams.map(([, v]) => v.resolution.met), backgroundColor: "#5fb38a", stack: "rs" },
      { label: "Resolution missed", data: teams.map(([, v]) => v.resolution.missed), backgroundColor: "#e0776d", stack: "rs" },
    ], true);
  }

  function findings(r) {
    const kinds = Object.keys(r.guard_findings);
    chart("chart-findings", {
      type: "bar",
      data: {
        labels: r.by_day.map((d) => d.day),
        datasets: kinds.map((k, i) => ({ label: k, data: r.by_day.map((d) => d.guard_findings[k] || 0), backgroundColor: PALETTE[i % PALETTE.length], stack: "f" })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  function suggestions(r) {
    const list = $("suggestions");
    list.replaceChildren();
    $("s-empty").hidden = r.suggestions.length > 0;
    for (const s of r.suggestions) {
      const item = el("li", { class: "suggestion" },
        el("p", { class: "s-text", text: s.text }),
        el("p", { class: "muted small", text: "evidence: " + Object.entries(s.evidence).filter(([, v]) => v != null).map(([k, v]) => k + " " + v).join(" · ") }));
      if (s.proposable) {
        const button = el("button", { class: "btn btn-primary", type: "button", text: "Propose this change" });
        const out = el("span", { class: "muted small s-out", role: "status" });
        button.addEventListener("click", () => propose(s, button, out));
        item.append(el("div", { class: "row" }, button, out));
      } else {
        item.append(el("p", { class: "muted small", text: "A person writes this change (customer text is never copied into the policy)." }));
      }
      list.append(item);
    }
  }

  async function propose(s, button, out) {
    button.disabled = true;
    out.textContent = "proposing…";
    try {
      const made = await api("/v1/report/suggestions/" + encodeURIComponent(s.suggestion_id) + "/propose" +
        "?since=" + encodeURIComponent(state.since), { method: "POST", body: {} });
      out.textContent = "proposal " + made.proposal_id + " created: it now needs its reviewers";
      await loadProposals();
    } catch (err) {
      out.textContent = err.message;
      button.disabled = false;
    }
  }

  function init() {
    $("signin-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try { await signIn($("api-key").value.trim()); } catch (err) { signOut(err.message); }
    });
    $("signout").addEventListener("click", () => signOut());
    for (const button of document.querySelectorAll("#window button[data-since]")) {
      button.addEventListener("click", () => {
        state.since = button.dataset.since;
        for (const b of document.querySelectorAll("#window button[data-since]")) b.setAttribute("aria-pressed", String(b === button));
        load();
      });
    }
    $("workflow").addEventListener("change", () => { state.workflow = $("workflow").value; load(); });
    if (state.key) signIn(state.key).catch((err) => signOut(err.message));
    else signOut();
  }

  init();
})();
