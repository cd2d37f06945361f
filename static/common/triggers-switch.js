// The workflow list's "triggers on/off" switches: each saves its workflow's setting at once.
import {api} from "./api.js";

/** Show `on` on the switch and its word. */
function show(input, on) {
  input.checked = on;
  input.nextElementSibling.textContent = on ? "on" : "off";
}

document.addEventListener("change", async (e) => {
  const input = e.target.closest?.("input[data-triggers-switch]");
  if (!input) return;
  const wanted = input.checked;
  input.disabled = true;
  try {
    const answer = await api(`workflows/${input.dataset.triggersSwitch}/triggers/enabled`, {method: "POST", body: {enabled: wanted}});
    show(input, answer.triggers_enabled);
  } catch (err) {
    show(input, !wanted);
    input.nextElementSibling.textContent += ` (not changed: ${err.message})`;
  } finally {
    input.disabled = false;
  }
});
