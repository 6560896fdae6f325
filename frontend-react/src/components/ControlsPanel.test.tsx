import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { patchConfig } from '../configApi';
import { parseSchema, rangeHint, SCHEMA_URL } from '../schema';
import { makeSettings } from '../test/fakes';
// The server's schema (go test ./internal/config -run Fixture -update
// writes it): the form's limits and choices come from it, never from here.
import schemaJson from '../test/schema.json';
import type { Settings, SettingsPatch } from '../types';
import { ControlsPanel } from './ControlsPanel';

const schema = parseSchema(schemaJson)!;
const live = schema.settings.filter((s) => s.live);
const spec = (name: string) => schema.settings.find((s) => s.name === name)!;

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/**
 * A fake fetch: it answers GET /api/config/schema with the server's schema
 * at once, and every other request (the PATCHes, in calls) when the test
 * releases it by hand.
 */
function manualFetch() {
  const calls: { url: string; init: RequestInit; resolve: (r: Response) => void }[] = [];
  const fetch = vi.fn((url: string, init?: RequestInit) =>
    url === SCHEMA_URL
      ? Promise.resolve(json(200, schemaJson))
      : new Promise<Response>((resolve) => {
          calls.push({ url, init: init ?? {}, resolve });
        }),
  );
  const patch = (p: SettingsPatch) => patchConfig(p, { fetch });
  const body = (i = 0) => JSON.parse(calls[i]!.init.body as string) as SettingsPatch;
  return { fetch, patch, calls, body };
}

/** Renders the panel and lets the schema arrive. */
async function setup(inForce: Settings | null = makeSettings(), cluster = false) {
  const api = manualFetch();
  const view = render(<ControlsPanel inForce={inForce} cluster={cluster} patch={api.patch} fetch={api.fetch} />);
  await act(async () => {});
  const rerender = (s: Settings | null) => view.rerender(<ControlsPanel inForce={s} cluster={cluster} patch={api.patch} fetch={api.fetch} />);
  return { ...api, rerender };
}

const input = (id: string) => screen.getByTestId(`control-${id}`) as HTMLInputElement;
const submit = () => fireEvent.click(screen.getByTestId('control-submit'));

async function answer(release: () => void) {
  await act(async () => {
    release();
  });
}

describe('ControlsPanel', () => {
  it('shows what is in force, with a label on every control', async () => {
    await setup(makeSettings({ rate: 250, policy: 'lifo', workers: 12 }));
    expect(screen.getByTestId('config-rate').textContent).toBe('250');
    expect(screen.getByTestId('config-policy').textContent).toBe('lifo');
    expect(screen.getByTestId('config-workers').textContent).toBe('12');
    expect(input('rate').value).toBe('250');
    expect(input('policy').value).toBe('lifo');
    expect(screen.getByLabelText(/^Rate/)).toBe(input('rate'));
    for (const { name } of live) {
      const el = input(name);
      expect(el.labels?.length, name).toBe(1);
      expect(el.getAttribute('aria-describedby'), name).toContain(el.id);
    }
  });

  it('follows the settings in force while a field is not being edited', async () => {
    const { rerender } = await setup(makeSettings({ rate: 20, workers: 4 }));
    fireEvent.change(input('workers'), { target: { value: '9' } });
    rerender(makeSettings({ rate: 30, workers: 5 }));
    expect(input('rate').value).toBe('30');
    expect(input('workers').value).toBe('9'); // the user's edit stays
    expect(screen.getByTestId('config-workers').textContent).toBe('5');
  });

  it('drops an edit once the settings in force catch up with it, then follows them again', async () => {
    const { rerender } = await setup(makeSettings({ workers: 4 }));
    fireEvent.change(input('workers'), { target: { value: '9' } });
    rerender(makeSettings({ workers: 4, rate: 30 })); // another field changed: the edit stays
    expect(input('workers').value).toBe('9');
    rerender(makeSettings({ workers: 9, rate: 30 })); // caught up: the edit is done
    expect(input('workers').value).toBe('9');
    rerender(makeSettings({ workers: 12, rate: 30 }));
    expect(input('workers').value).toBe('12');
  });

  it('PATCHes only the changed fields and is disabled while submitting', async () => {
    const api = await setup();
    fireEvent.change(input('rate'), { target: { value: '5' } });
    fireEvent.change(input('policy'), { target: { value: 'fifo' } });
    fireEvent.change(input('deadlineMs'), { target: { value: '100' } }); // same as in force
    expect(screen.getByTestId('control-submit').textContent).toBe('Apply 2 changes');
    submit();
    expect(api.calls).toHaveLength(1);
    expect(api.calls[0]!.url).toBe('/api/config');
    expect(api.calls[0]!.init.method).toBe('PATCH');
    expect(api.body()).toEqual({ rate: 5, policy: 'fifo' });

    const fieldset = screen.getByTestId('control-submit').closest('fieldset')!;
    expect(fieldset.disabled).toBe(true);
    expect(screen.getByTestId('control-submit').textContent).toBe('Applying…');
    submit(); // ignored while busy
    expect(api.calls).toHaveLength(1);

    await answer(() => api.calls[0]!.resolve(json(200, makeSettings({ rate: 5, policy: 'fifo' }))));
    expect(fieldset.disabled).toBe(false);
    expect(screen.getByTestId('control-status').textContent).toBe('Applied: rate 5, policy fifo.');
    // The values stay until the stream says they are in force.
    expect(input('rate').value).toBe('5');
    expect(screen.getByTestId('config-rate').textContent).toBe('20');
    api.rerender(makeSettings({ rate: 5, policy: 'fifo' }));
    expect(screen.getByTestId('config-rate').textContent).toBe('5');
    expect(input('rate').value).toBe('5');
    expect(input('rate').className).not.toContain('changed');
  });

  it('sends nothing when no field differs from what is in force', async () => {
    const api = await setup();
    fireEvent.change(input('rate'), { target: { value: '20' } });
    submit();
    expect(api.calls).toHaveLength(0);
    expect(screen.getByTestId('control-status').textContent).toMatch(/Nothing to apply/);
  });

  it("shows the server's message next to each invalid field", async () => {
    const api = await setup();
    fireEvent.change(input('rate'), { target: { value: '-5' } });
    fireEvent.change(input('workers'), { target: { value: '0' } });
    submit();
    expect(api.body()).toEqual({ rate: -5, workers: 0 });
    await answer(() =>
      api.calls[0]!.resolve(
        json(400, {
          error: 'invalid settings: rate: out of range, got -5; workers: out of range, got 0',
          fields: { rate: 'out of range, got -5', workers: 'out of range, got 0' },
        }),
      ),
    );
    const rateErr = screen.getByTestId('control-error-rate');
    expect(rateErr.textContent).toBe('out of range, got -5');
    expect(input('rate').getAttribute('aria-describedby')).toContain(rateErr.id);
    expect(input('rate').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('control-error-workers').textContent).toBe('out of range, got 0');
    expect(screen.queryByTestId('control-error')).toBeNull(); // no whole-form error
    expect(input('deadlineMs').getAttribute('aria-invalid')).toBeNull();

    // Editing the field clears its message.
    fireEvent.change(input('rate'), { target: { value: '7' } });
    expect(screen.queryByTestId('control-error-rate')).toBeNull();
    expect(screen.getByTestId('control-error-workers')).toBeTruthy();
  });

  it('shows the whole error when no field is named (401, 415, network)', async () => {
    const api = await setup();
    fireEvent.change(input('rate'), { target: { value: '5' } });
    submit();
    await answer(() => api.calls[0]!.resolve(json(401, { error: 'missing bearer token' })));
    const alert = screen.getByRole('alert');
    expect(alert).toBe(screen.getByTestId('control-error'));
    expect(alert.textContent).toBe('missing bearer token (HTTP 401, not authorized)');
    expect(screen.queryByTestId('control-error-rate')).toBeNull();
    // The form is usable again, the edit kept.
    expect(input('rate').value).toBe('5');
    expect(input('rate').disabled).toBe(false);
  });

  it('checks that numbers are numbers before sending', async () => {
    const api = await setup();
    fireEvent.change(input('rate'), { target: { value: '' } });
    submit();
    expect(api.calls).toHaveLength(0);
    expect(screen.getByTestId('control-error-rate').textContent).toBe('Enter a number.');
  });

  it('works before the server reports its settings', async () => {
    const api = await setup(null);
    expect(screen.getByTestId('config-rate').textContent).toBe('—');
    expect(input('rate').value).toBe('');
    fireEvent.change(input('rate'), { target: { value: '3' } });
    submit();
    expect(api.body()).toEqual({ rate: 3 });
    const form = screen.getByTestId('control-submit').closest('form')!;
    expect(within(form).getAllByRole('combobox')).toHaveLength(live.filter((s) => s.choices?.length).length);
  });

  it('sends the worker URL as text with processor http, and shows its error next to it', async () => {
    const api = await setup(makeSettings());
    expect(screen.getByTestId('config-workerUrl').textContent).toBe('—');
    expect(screen.getByTestId('config-concurrency').textContent).toBe('fixed');
    expect([...(input('processor') as unknown as HTMLSelectElement).options].map((o) => o.value)).toEqual(spec('processor').choices);
    fireEvent.change(input('processor'), { target: { value: 'http' } });
    fireEvent.change(input('workerUrl'), { target: { value: '  ftp://worker.example/work ' } });
    fireEvent.change(input('concurrency'), { target: { value: 'adaptive' } });
    submit();
    expect(api.body()).toEqual({ processor: 'http', workerUrl: 'ftp://worker.example/work', concurrency: 'adaptive' });
    const msg = 'want an http:// or https:// URL, like http://127.0.0.1:8090/work';
    await answer(() => api.calls[0]!.resolve(json(400, { error: `workerUrl: ${msg}`, fields: { workerUrl: msg } })));
    const err = screen.getByTestId('control-error-workerUrl');
    expect(err.textContent).toBe(msg);
    expect(input('workerUrl').getAttribute('aria-describedby')).toContain(err.id);
    expect(input('workerUrl').getAttribute('aria-invalid')).toBe('true');
    expect(input('workerUrl').value).toBe('  ftp://worker.example/work ');

    // Once in force, the URL shows as the value and the edit is done.
    fireEvent.change(input('workerUrl'), { target: { value: 'http://w.example:8090/work' } });
    api.rerender(makeSettings({ processor: 'http', workerUrl: 'http://w.example:8090/work', concurrency: 'adaptive' }));
    expect(screen.getByTestId('config-workerUrl').textContent).toBe('http://w.example:8090/work');
    expect(input('workerUrl').className).not.toContain('changed');
  });

  it('offers nats with its worker subject, and shows the server errors next to each field', async () => {
    const api = await setup(makeSettings());
    expect(screen.getByTestId('config-workerSubject').textContent).toBe('ontime.work');
    expect(input('workerSubject').value).toBe('ontime.work');
    expect(screen.getByLabelText(/^Worker subject/)).toBe(input('workerSubject'));
    expect(input('workerSubject').getAttribute('inputmode')).toBe('text');
    fireEvent.change(input('processor'), { target: { value: 'nats' } });
    fireEvent.change(input('workerSubject'), { target: { value: ' jobs.* ' } });
    submit();
    expect(api.body()).toEqual({ processor: 'nats', workerSubject: 'jobs.*' });
    // A node outside a cluster refuses nats; the subject has its own error.
    const notCluster = 'processor nats needs cluster mode (--nats)';
    const wildcard = 'has a wildcard';
    await answer(() =>
      api.calls[0]!.resolve(
        json(400, { error: `processor: ${notCluster}; workerSubject: ${wildcard}`, fields: { processor: notCluster, workerSubject: wildcard } }),
      ),
    );
    expect(screen.getByTestId('control-error-processor').textContent).toBe(notCluster);
    expect(screen.getByTestId('control-error-workerSubject').textContent).toBe(wildcard);
    expect(input('workerSubject').getAttribute('aria-invalid')).toBe('true');
    expect(input('workerSubject').getAttribute('aria-describedby')).toContain(screen.getByTestId('control-error-workerSubject').id);
    expect(screen.getByTestId('control-status').textContent).toBe('Not applied: 2 fields are invalid.');

    // In force on a cluster node: nats and its subject show as the values.
    fireEvent.change(input('workerSubject'), { target: { value: 'jobs.resize' } });
    api.rerender(makeSettings({ processor: 'nats', workerSubject: 'jobs.resize', concurrency: 'adaptive' }));
    expect(screen.getByTestId('config-processor').textContent).toBe('nats');
    expect(screen.getByTestId('config-workerSubject').textContent).toBe('jobs.resize');
    expect(input('workerSubject').className).not.toContain('changed');
  });

  it("builds every live setting from the server's schema: label, unit, choices, range", async () => {
    await setup();
    const form = screen.getByTestId('control-submit').closest('form')!;
    for (const sp of live) {
      const el = input(sp.name);
      const label = el.labels![0]!.textContent!;
      expect(label, sp.name).toContain(sp.label);
      if (sp.unit && (sp.type === 'number' || sp.type === 'integer')) expect(label, sp.name).toContain(`(${sp.unit})`);
      const now = document.getElementById(`${el.id}-now`)!.textContent!;
      if (sp.choices?.length) {
        expect([...(el as unknown as HTMLSelectElement).options].map((o) => o.value), sp.name).toEqual(sp.choices);
      } else if (sp.type === 'number' || sp.type === 'integer') {
        expect(now, sp.name).toContain(`allowed ${rangeHint(sp)}`);
      } else {
        expect(el.placeholder, sp.name).toBe(sp.example);
      }
    }
    // Nothing but the schema's live settings (and the token).
    const names = [...form.querySelectorAll('[data-testid^="control-"]')]
      .map((e) => e.getAttribute('name'))
      .filter((n): n is string => n !== null);
    expect(names).toEqual(live.map((s) => s.name));
  });

  it("in a cluster marks the schema's per-node settings and leaves out those fixed in a cluster", async () => {
    await setup(makeSettings(), true);
    for (const sp of live) {
      if (sp.fixedInCluster) {
        expect(screen.queryByTestId(`control-${sp.name}`), sp.name).toBeNull();
        continue;
      }
      expect(input(sp.name), sp.name).toBeTruthy();
      expect(screen.queryByTestId(`per-node-${sp.name}`) !== null, sp.name).toBe(sp.perNode === true);
    }
    expect(live.some((s) => s.fixedInCluster) && live.some((s) => s.perNode)).toBe(true);
  });

  it('says so while the schema loads, and offers to retry when it cannot be loaded', async () => {
    let fail = true;
    const resolvers: ((r: Response) => void)[] = [];
    const fetch = vi.fn(
      (_url: string) =>
        new Promise<Response>((resolve) => {
          resolvers.push(resolve);
        }),
    );
    render(<ControlsPanel inForce={makeSettings()} fetch={fetch} />);
    expect(screen.getByTestId('controls-loading')).toBeTruthy();
    expect(screen.queryByTestId('control-submit')).toBeNull();
    await act(async () => resolvers[0]!(fail ? new Response('down', { status: 503 }) : json(200, schemaJson)));
    expect(screen.getByTestId('controls-schema-error').textContent).toContain('HTTP 503');
    expect(fetch.mock.calls[0]![0]).toBe(SCHEMA_URL);
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await act(async () => resolvers[1]!(json(200, schemaJson)));
    expect(screen.queryByTestId('controls-schema-error')).toBeNull();
    expect(input('rate').value).toBe('20');
  });
});
