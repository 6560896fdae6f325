import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

// uPlot draws on a canvas, which jsdom lacks: every test gets the recording
// stand-in (src/test/uplotMock.ts). The real charts run in the Go browser
// tests.
vi.mock('uplot', () => import('./uplotMock'));

afterEach(() => {
  cleanup();
});
