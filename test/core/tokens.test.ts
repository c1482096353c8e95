/**
 * Typed DI tokens: a registration of the wrong type does not compile, and the helpers resolve through parents.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { container } from 'tsyringe';
import { ConfigError } from '../../src/core/errors.js';
import { SCHEDULER, type Scheduler } from '../../src/core/scheduler.js';
import { get, getOptional, provide, provideDefault, token } from '../../src/core/tokens.js';
import { TRANSPORT } from '../../src/core/transport.js';

describe('typed tokens', () => {
  it('provide and get carry the type; a wrong value does not compile', () => {
    const c = container.createChildContainer();
    // @ts-expect-error a number is not a Transport
    provide(c, TRANSPORT, 42);
    const scheduler: Scheduler = { name: 's', submit: async () => '1', status: async (id) => ({ id, state: 'running' }), cancel: async () => {} };
    provide(c, SCHEDULER, scheduler);
    const got: Scheduler = get(c, SCHEDULER);
    assert.equal(got, scheduler);
  });

  it('getOptional resolves through parents and is undefined when nothing is registered; get says what is missing', () => {
    const CLOCK = token<{ now(): number }>('test.Clock');
    const parent = container.createChildContainer();
    const child = parent.createChildContainer();
    assert.equal(getOptional(child, CLOCK), undefined);
    assert.throws(() => get(child, CLOCK), (e: unknown) => e instanceof ConfigError && e.message.includes('test.Clock'));
    const clock = { now: () => 1 };
    provide(parent, CLOCK, clock);
    assert.equal(getOptional(child, CLOCK), clock);
  });

  it('provideDefault keeps what a parent registered', () => {
    const NAME = token<string>('test.Name');
    const parent = container.createChildContainer();
    provide(parent, NAME, 'host');
    const child = provideDefault(parent.createChildContainer(), NAME, () => 'default');
    assert.equal(get(child, NAME), 'host');
    assert.equal(get(provideDefault(container.createChildContainer(), NAME, () => 'default'), NAME), 'default');
  });

  it('the same name gives the same token, so tsyringe registrations by symbol still match', () => {
    assert.equal(token<unknown>('tsparallel.Transport'), TRANSPORT);
  });
});
