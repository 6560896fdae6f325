import { describe, expect, it } from 'vitest';
import { fetchSchema, parseSchema, rangeHint, SCHEMA_URL } from './schema';
import schemaJson from './test/schema.json';

describe('parseSchema', () => {
  it("takes the server's schema whole", () => {
    const schema = parseSchema(schemaJson)!;
    expect(schema.settings).toHaveLength(schemaJson.settings.length);
    expect(schema.maxPatchBytes).toBe(schemaJson.maxPatchBytes);
  });

  it('leaves out malformed settings and refuses what is no schema', () => {
    const good = schemaJson.settings[0]!;
    const parsed = parseSchema({ settings: [good, { name: 'x' }, { ...good, name: 'y', choices: [1] }, null], maxPatchBytes: 10 });
    expect(parsed?.settings.map((s) => s.name)).toEqual([good.name]);
    expect(parseSchema(null)).toBeNull();
    expect(parseSchema({ settings: {} })).toBeNull();
  });
});

describe('rangeHint', () => {
  const spec = { name: 'n', flag: 'n', env: 'N', label: 'N', type: 'number' as const, default: 1, help: '', live: true };
  it('writes the bounds, and what 0 means', () => {
    expect(rangeHint({ ...spec, min: 1, max: 9 })).toBe('1 to 9');
    expect(rangeHint({ ...spec, min: 0, max: 9, zeroMeans: 'off' })).toBe('0 (off) to 9');
    expect(rangeHint({ ...spec, min: 0, zeroMeans: 'no limit' })).toBe('0 (no limit) or more');
    expect(rangeHint(spec)).toBe('');
  });
});

describe('fetchSchema', () => {
  it('GETs the schema, and says what went wrong otherwise', async () => {
    const seen: string[] = [];
    const ok = await fetchSchema({
      fetch: async (url) => {
        seen.push(url);
        return new Response(JSON.stringify(schemaJson));
      },
    });
    expect(seen).toEqual([SCHEMA_URL]);
    expect(ok.settings.length).toBe(schemaJson.settings.length);
    await expect(fetchSchema({ fetch: async () => new Response('', { status: 500 }) })).rejects.toThrow('HTTP 500');
    await expect(fetchSchema({ fetch: async () => new Response('[]') })).rejects.toThrow('no settings schema');
  });
});
