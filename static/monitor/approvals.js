// Approve or reject a waiting approval step, with a comment, from the monitor. Only the people
// asked see the form: `GET /api/approvals` lists the approvals pending for the user (an approver,
// or the owner when the step names none), and the server decides who may decide
// (builder/approvals_api.py); a late or second decision answers 409 with its reason, shown here.
import {api} from "../common/api.js";
import {mark} from "../common/status.js";

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Mount in `root` (a region above the flow); `refresh()` re-reads what waits for this user. */
export function mountApprovals(root, runId, {onDecided}) {
  let shown = "";

  function form(approval) {
    const box = el("form", {className: "approval-card"});
    box.dataset.testid = "approval";
    box.dataset.path = approval.path;
    const id = `approval-comment-${approval.id}`;
    const who = approval.approvers.length ? `asked of ${approval.approvers.join(", ")}` : "asked of the run's owner";
    const deadline = approval.deadline ? ` · decide by ${new Date(approval.deadline).toLocaleString()}` : "";
    const head = el("p", {className: "approval-head"}, el("strong", {textContent: `${mark("waiting")} ${approval.path}`}),  // ✋ has no glyph in Debian's fonts
      ` waits for a decision (${who}${deadline})`);
    const message = el("p", {className: "approval-message", textContent: approval.message});
    const label = el("label", {htmlFor: id, textContent: "Comment (the run sees it as the step's comment)"});
    const comment = el("textarea", {id, rows: 2, maxLength: 2000});
    comment.dataset.testid = "approval-comment";
    const approve = el("button", {type: "submit", className: "primary", textContent: "Approve"});
    approve.dataset.testid = "approve";
    const reject = el("button", {type: "button", textContent: "Reject"});
    reject.dataset.testid = "reject";
    const error = el("p", {className: "field-error", role: "alert", hidden: true});
    error.dataset.testid = "approval-error";
    const decide = async (yes) => {
      if (!yes && !comment.value.trim() && !confirm("Reject without a comment?")) return;
      approve.disabled = reject.disabled = true;
      error.hidden = true;
      try {
        const done = await api(`approvals/${approval.id}/decide`, {method: "POST",
          body: {approve: yes, comment: comment.value}});
        box.replaceChildren(el("p", {className: "approval-done", role: "status",
          textContent: `${done.decision === "approved" ? "✓ Approved" : "✕ Rejected"} by ${done.by}` +
            `${done.comment ? `: “${done.comment}”` : ""}. The run goes on.`}));
        box.dataset.decision = done.decision;
        onDecided?.(done);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        approve.disabled = reject.disabled = false;
      }
    };
    box.addEventListener("submit", (e) => { e.preventDefault(); decide(true); });
    reject.addEventListener("click", () => decide(false));
    box.append(head, message, label, comment, el("div", {className: "approval-buttons"}, approve, " ", reject), error);
    return box;
  }

  return {
    /** Show the forms of this run's approvals pending for me (nothing when none, or not mine). */
    async refresh() {
      let mine;
      try {
        mine = (await api("approvals")).filter((a) => a.run_id === runId && a.decision === "pending");
      } catch {
        return;
      }
      root.dataset.checked = "true";  // asked the server at least once (tests wait for it)
      const key = mine.map((a) => a.id).join(",");
      if (key === shown) return;
      shown = key;
      // decided forms stay (they say what happened); the pending ones are drawn afresh
      for (const node of root.querySelectorAll("[data-testid=approval]:not([data-decision])")) node.remove();
      root.append(...mine.map(form));
      root.hidden = !root.children.length;
    },
  };
}
