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
