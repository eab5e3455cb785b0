import { defineConfig } from "vitest/config";

// The front end's rules that need no browser (formatting, the live feed, the board's moves); the browser
// flows are tests/test_web.py's.
export default defineConfig({
  test: { include: ["tests/**/*.test.ts"], environment: "node" },
});
