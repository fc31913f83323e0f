// The widget on a company's site: one line in its page,
//   <script src="https://ROUTER/ui/widget/embed.js" data-key="WIDGET_KEY" data-title="Chat with us" async></script>
// adds the chat (an iframe of ROUTER/ui/widget/) at the bottom right. The key travels in the
// iframe's fragment, which is never sent to a server; the iframe talks only to ROUTER.
(() => {
  const script = document.currentScript;
  if (!(script instanceof HTMLScriptElement) || !script.dataset.key) return;
  const frame = document.createElement("iframe");
  const page = new URL("./", script.src);
  page.hash = new URLSearchParams({ key: script.dataset.key }).toString();
  frame.src = page.href;
  // The embedding site names the chat in its own language (the widget's strings are inside it).
  frame.title = script.dataset.title || "Chat";
  frame.style.cssText =
    "position:fixed;right:1rem;bottom:1rem;width:24rem;height:34rem;max-width:calc(100vw - 2rem);" +
    "max-height:calc(100vh - 2rem);border:1px solid #d0d7de;border-radius:8px;background:#fff;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.2);z-index:2147483647";
  document.body.append(frame);
})();
