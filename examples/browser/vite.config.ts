import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  // Relative asset paths: dist/ works from any folder it is served from.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The 10,000 MNIST digits alone are a 20 MB chunk (2.4 MB gzipped); that is expected here.
    chunkSizeWarningLimit: 25_000,
  },
  preview: { host: '127.0.0.1', port: 4173 },
  server: { host: '127.0.0.1' },
});
