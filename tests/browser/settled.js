// Installed in every frame before its scripts: records (Date.now()) the moment the checkout page shows a
// final state, so a test can measure how long after the decision the page knew of it.
(() => {
  const seen = () => {
    for (const id of ["success-state", "error-state"]) {
      const el = document.querySelector(`[data-test-id="${id}"]`);
      if (el && !el.hidden && window.__settledAt === undefined) window.__settledAt = Date.now();
    }
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["hidden"] });
})();
