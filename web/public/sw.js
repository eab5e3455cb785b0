// Offline shell: the app's own files are served from the cache when the network is gone; the API
// (/api/...) is never cached, so no figure is ever shown stale as if it were current.
const CACHE = "mercator-shell-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(["/", "/manifest.webmanifest", "/icon.svg"])));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
  );
  self.clients.claim();
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) {
    return;
  }
  const isPage = event.request.mode === "navigate";
  event.respondWith(
    fetch(event.request)
      .then((answer) => {
        if (answer.ok) {
          const copy = answer.clone();
          caches.open(CACHE).then((c) => c.put(isPage ? "/" : event.request, copy));
        }
        return answer;
      })
      .catch(() => caches.match(isPage ? "/" : event.request).then((hit) => hit || Response.error()))
  );
});
