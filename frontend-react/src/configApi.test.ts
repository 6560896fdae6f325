import { describe, expect, it, vi } from 'vitest';
import { patchConfig } from './configApi';
import { makeSettings } from './test/fakes';

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('patchConfig', () => {
  it('PATCHes JSON to /api/config and returns the new settings', async () => {
    const fetch = vi.fn(async () => json(200, makeSettings({ rate: 5 })));
    const res = await patchConfig({ rate: 5 }, { fetch });
    expect(res).toEqual({ ok: true, settings: makeSettings({ rate: 5 }) });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/config');
    expect(init.method).toBe('PATCH');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body as string)).toEqual({ rate: 5 });
  });

  it('returns the per-field messages of a 400', async () => {
    const body = {
      error: 'invalid settings: rate: out of range, got -5; workers: out of range, got 0',
      fields: { rate: 'out of range, got -5', workers: 'out of range, got 0' },
    };
    const res = await patchConfig({ rate: -5, workers: 0 }, { fetch: async () => json(400, body) });
    expect(res).toEqual({ ok: false, status: 400, error: body.error, fields: body.fields });
  });

  it('gives the whole message of other failures', async () => {
    const unauthorized = await patchConfig({ rate: 1 }, { fetch: async () => json(401, { error: 'missing bearer token' }) });
    expect(unauthorized).toMatchObject({ ok: false, status: 401, fields: {} });
    expect(unauthorized.ok || unauthorized.error).toBe('missing bearer token (HTTP 401, not authorized)');

    const text = await patchConfig({ rate: 1 }, { fetch: async () => new Response('upstream down', { status: 502 }) });
    expect(text.ok || text.error).toBe('upstream down (HTTP 502)');

    const network = await patchConfig({ rate: 1 }, {
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    expect(network).toEqual({ ok: false, status: 0, error: 'Could not reach the server: Failed to fetch', fields: {} });
  });
});

describe('patchConfig with a token', () => {
  it('sends it as a bearer token, and nothing without one', async () => {
    const seen: (string | null)[] = [];
    const fetch = async (_url: string, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get('Authorization'));
      return new Response('{}', { status: 200 });
    };
    await patchConfig({ rate: 5 }, { fetch, token: 's3cret' });
    await patchConfig({ rate: 5 }, { fetch });
    expect(seen).toEqual(['Bearer s3cret', null]);
  });
});
