// The Tokens page: copy the new token (shown once) to the clipboard, and select it on focus.

/**
 * Copy the text of the input a button names in `data-copy`; say so next to the button.
 * @param {HTMLButtonElement} button
 */
async function copy(button) {
  const input = /** @type {HTMLInputElement|null} */ (document.querySelector(button.dataset.copy));
  const note = button.parentElement?.querySelector("[data-copied]");
  if (!input) return;
  input.select();
  let done = false;
  try {
    await navigator.clipboard.writeText(input.value);
    done = true;
  } catch (error) {
    // no clipboard API (an insecure origin): the older command, on the selection
    done = document.execCommand?.("copy") ?? false;
  }
  if (note) note.textContent = done ? "Copied." : "Select the token and copy it (Ctrl+C).";
  button.dispatchEvent(new CustomEvent("wf:token-copied", {bubbles: true, detail: {done}}));
}

document.addEventListener("click", (e) => {
  const button = /** @type {HTMLElement} */ (e.target).closest?.("button[data-copy]");
  if (button) copy(/** @type {HTMLButtonElement} */ (button));
});

document.addEventListener("focusin", (e) => {
  const input = /** @type {HTMLElement} */ (e.target);
  if (input.matches?.(".token-value")) /** @type {HTMLInputElement} */ (input).select();
});
