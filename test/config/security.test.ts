/**
 * The `security` section: its default, the environment switch, validation, and the `auto` rule.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { isLoopbackIp, wantsCurve } from '../../src/wire/security.js';
import { parseControllerArgs } from '../../src/controller/main.js';
import { makeConfigWorkspace } from '../support/config-fixtures.js';

describe('config: security', () => {
  test("defaults to curve 'auto' and a five-minute replay window", () => {
    assert.deepEqual(defaultConfig().security, { curve: 'auto', replayWindowMs: 300_000 });
  });

  test('TSPARALLEL_SECURITY_CURVE reads true, false and auto; other text is refused naming the allowed values', async (t) => {
    const ws = await makeConfigWorkspace(t);
    for (const [text, value] of [['true', true], ['false', false], ['auto', 'auto']] as const) {
      const { config, sources } = await loadConfig({ projectDir: ws.project, env: ws.env({ TSPARALLEL_SECURITY_CURVE: text, TSPARALLEL_SECURITY_REPLAY_WINDOW_MS: '60000' }) });
      assert.equal(config.security.curve, value);
      assert.equal(config.security.replayWindowMs, 60_000);
      assert.equal(sources['security.curve']!.label, 'env TSPARALLEL_SECURITY_CURVE');
    }
    await assert.rejects(
      loadConfig({ projectDir: ws.project, env: ws.env({ TSPARALLEL_SECURITY_CURVE: 'yes' }) }),
      (err: unknown) => err instanceof ConfigError && /security\.curve.*'yes'.*true, false or 'auto'/s.test(err.message),
    );
    await assert.rejects(
      loadConfig({ projectDir: ws.project, env: ws.env(), overrides: { security: { replayWindowMs: 10 } } }),
      (err: unknown) => err instanceof ConfigError && /security\.replayWindowMs/.test(err.message),
    );
  });

  test("'auto' encrypts exactly when a role binds beyond loopback", () => {
    assert.equal(wantsCurve('auto', ['127.0.0.1']), false);
    assert.equal(wantsCurve('auto', ['127.0.0.1', '::1']), false);
    assert.equal(wantsCurve('auto', ['127.0.0.1', '10.77.0.2']), true);
    assert.equal(wantsCurve('auto', ['0.0.0.0']), true);
    assert.equal(wantsCurve('auto', ['*']), true);
    assert.equal(wantsCurve(true, ['127.0.0.1']), true);
    assert.equal(wantsCurve(false, ['0.0.0.0']), false);
    assert.equal(isLoopbackIp('[::1]'), true);
    assert.equal(isLoopbackIp('::'), false);
  });

  test('tscontroller takes --curve true|false|auto and --replay-window-ms, and names the flag on a bad value', () => {
    assert.equal(parseControllerArgs([]).curve, 'auto');
    assert.equal(parseControllerArgs(['--curve', 'true']).curve, true);
    assert.equal(parseControllerArgs(['--curve', 'false', '--replay-window-ms', '60000']).replayWindowMs, 60_000);
    assert.throws(() => parseControllerArgs(['--curve', 'on']), (err: unknown) => err instanceof ConfigError && /--curve takes true, false or auto, got 'on'/.test(err.message));
  });
});
