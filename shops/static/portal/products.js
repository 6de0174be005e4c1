// Progressive enhancement of the products table: without this file the filters still work.
// Empty filter fields are left out of htmx requests, so the address bar (and a shared link)
// reads ?status=WARNING rather than ?q=&status=WARNING&reason=&category=&shop=.
document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("#product-filters");
  if (!form || !event.detail.formData) return;
  for (const [name, value] of Array.from(event.detail.formData.entries())) {
    if (value === "") event.detail.formData.delete(name);
  }
});
