// After a step's id is edited in the properties: once the typing stops, offer (in a bar under
// the banner) to update the references that still name the old id, with one confirm.
import {countReferences, renameReferences} from "./rename.js";

const ID = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `bar`: the offer's element; `workflow()` the model now; `onApplied(text)` after the
 * references were updated (the editor prints, records one undo step and says `text`).
 * Returns {note(step, previousId)} for each edit of a step's id.
 */
export function mountRenameOffer(bar, {workflow, onApplied}) {
  let rename = null;  // {step, from}: the id the step had before this run of edits to its id
  let timer = null;

  function close() {
    bar.hidden = true;
    rename = null;
  }

  function offer() {
    const {step, from} = rename || {};
    const count = step && step.id !== from && ID.test(step.id || "") ? countReferences(workflow(), from) : 0;
    if (!count) { bar.hidden = true; return; }
    const to = step.id;
    const many = count === 1 ? "" : "s";
    bar.replaceChildren(`Step ${from} is now ${to}, but ${count} reference${many} still name${count === 1 ? "s" : ""} ${from}. `);
    const yes = Object.assign(document.createElement("button"), {type: "button", className: "primary",
      textContent: `Update ${count === 1 ? "it" : `all ${count}`} to ${to}`});
    yes.dataset.testid = "rename-apply";
    const no = Object.assign(document.createElement("button"), {type: "button", textContent: "Leave them"});
    yes.addEventListener("click", () => {
      renameReferences(workflow(), from, to);
      close();
      onApplied(`Updated ${count} reference${many} from ${from} to ${to}.`);
    });
    no.addEventListener("click", close);
    bar.append(yes, " ", no);
    bar.hidden = false;
  }

  return {
    note(step, previous) {
      if (!rename || rename.step !== step) rename = {step, from: previous};
      clearTimeout(timer);
      timer = setTimeout(offer, 600);  // once the typing stops
    },
  };
}
