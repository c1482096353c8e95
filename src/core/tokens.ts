/**
 * Typed DI tokens: a token carries the type of what is registered under it, so a wrong registration or a wrong
 * cast does not compile. Each contract declares its token beside it
 * (`export const TRANSPORT = token<Transport>('tsparallel.Transport')`); code resolves it with {@link get} or
 * {@link getOptional} and registers with {@link provide}. A token is still a plain symbol, so tsyringe's
 * `@inject(TOKEN)` and `container.register(TOKEN, …)` accept it unchanged.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import { ConfigError } from './errors.js';

declare const tokenType: unique symbol;

/** A DI token for a value of type `T`: a symbol that remembers `T` at compile time. */
export type Token<T> = symbol & {
  /** Never set: it only carries `T` for the compiler. */
  readonly [tokenType]?: T;
};

/**
 * Make a token. The name is global (`Symbol.for`), so two copies of the library loaded side by side share it.
 * @example
 * ```ts
 * export const CLOCK = token<Clock>('myapp.Clock');
 * provide(container, CLOCK, new SystemClock());
 * const clock = get(container, CLOCK); // typed Clock
 * ```
 */
export function token<T>(name: string): Token<T> {
  return Symbol.for(name) as Token<T>;
}

/**
 * What is registered under `token` in `container` or its parents.
 * @throws ConfigError naming the token when nothing is registered under it.
 */
export function get<T>(container: DependencyContainer, token: Token<T>): T {
  if (!container.isRegistered(token, true)) {
    throw new ConfigError(
      `nothing is registered under ${token.description ?? 'this token'}; register an implementation with provide(container, token, value) (importing 'tsparallel' registers the defaults)`,
    );
  }
  return container.resolve<T>(token);
}

/** What is registered under `token` in `container` or its parents, or `undefined` when nothing is. */
export function getOptional<T>(container: DependencyContainer, token: Token<T>): T | undefined {
  return container.isRegistered(token, true) ? container.resolve<T>(token) : undefined;
}

/** Register `value` under `token` in `container` (replacing what the container itself had). Returns the container. */
export function provide<T>(container: DependencyContainer, token: Token<T>, value: T): DependencyContainer {
  container.register<T>(token, { useValue: value });
  return container;
}

/**
 * Register the value `make()` returns under `token`, unless `container` or a parent already has one. Returns the
 * container.
 */
export function provideDefault<T>(container: DependencyContainer, token: Token<T>, make: () => T): DependencyContainer {
  if (!container.isRegistered(token, true)) container.register<T>(token, { useValue: make() });
  return container;
}
