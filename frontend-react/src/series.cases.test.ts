import { describe, expect, it } from 'vitest';
// Shared with the server-rendered page's charts (internal/web,
// TestSeriesCases): both UIs must draw the same per-tick values from the
// same batches. The file's "about" says how the expected values were made.
import fixture from '../../internal/web/testdata/series-cases.json';
import { parseBatch } from './batch';
import { SeriesModel, type Column } from './series';

type Want = Record<'onTime' | 'late' | 'dropped' | 'miss' | 'p50' | 'p99' | 'deadline', number | null>;

interface Case {
  name: string;
  how: string;
  batches: unknown[];
  want: Want[];
}

const cases = fixture.cases as Case[];
const COLUMNS = ['onTime', 'late', 'dropped', 'miss', 'p50', 'p99', 'deadline'] as const satisfies readonly Column[];

/** Both gaps, or both numbers within 1e-9 × max(1, |want|), the fixture's tolerance. */
function sameValue(got: number | null | undefined, want: number | null): boolean {
  if (got === null || got === undefined || want === null) return got === want;
  return Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want));
}

describe('series-cases.json', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(c.batches.length, 'one row per batch').toBe(c.want.length);
    const m = new SeriesModel();
    // The dashboard's real path: the wire JSON through parseBatch.
    for (const [i, raw] of c.batches.entries()) {
      const b = parseBatch(JSON.stringify(raw));
      expect(b, `batch ${i}`).not.toBeNull();
      expect(m.push(b!), `batch ${i} accepted`).toBe(true);
    }
    m.flush();
    const d = m.getData();
    expect(d.length).toBe(c.want.length);
    const mismatches: string[] = [];
    c.want.forEach((want, i) => {
      for (const col of COLUMNS) {
        const got = d[col][i];
        if (!sameValue(got, want[col])) mismatches.push(`point ${i} ${col} = ${got}, want ${want[col]}`);
      }
    });
    expect(mismatches, c.how).toEqual([]);
  });
});
