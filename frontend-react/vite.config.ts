/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The Go server serves the built dashboard under /app/ and embeds
// frontend-react/dist (dist/.gitkeep is committed; only dist/app is rebuilt).
const goServer = 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/app/',
  plugins: [react()],
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
  },
  server: {
    // The project's own files, and the server-rendered page's (public)
    // static files: a test reads static/app.js as text (?raw) to hold the
    // dashboard's offline threshold to the page's.
    fs: {
      allow: ['.', '../static'],
    },
    proxy: {
      '/ws': { target: goServer, ws: true },
      '/api': { target: goServer },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
