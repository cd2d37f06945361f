// Forms marked data-confirm ask before they are sent (deleting a workflow, say).
document.addEventListener("submit", (e) => {
  const form = e.target.closest?.("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
});
