/**
 * The controller's command line: the cluster builds it with toControllerArgs and the controller parses it back, with
 * the configuration's defaults as the only defaults.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { parseControllerArgs, toControllerArgs, CONTROLLER_USAGE } from '../../src/controller/main.js';

describe('the controller command line', () => {
  it('parses back what toControllerArgs wrote', () => {
    const controller = { ...defaultConfig().controller, ip: '0.0.0.0', transport: 'in-process', heartbeatMs: 250, heartbeatTimeoutMs: 3000, taskPolicy: 'lru' as const, hwm: 0 };
    const parsed = parseControllerArgs(toControllerArgs({ profileDir: '/tmp/profile_x', clusterId: 'c1', controller, security: { curve: true, replayWindowMs: 1234 }, parentPid: 4242 }));
    assert.equal(parsed.profile.dir, '/tmp/profile_x');
    assert.equal(parsed.clusterId, 'c1');
    assert.deepEqual(
      { ip: parsed.ip, transport: parsed.transport, heartbeatMs: parsed.heartbeatMs, heartbeatTimeoutMs: parsed.heartbeatTimeoutMs, taskPolicy: parsed.taskPolicy, hwm: parsed.hwm },
      { ip: '0.0.0.0', transport: 'in-process', heartbeatMs: 250, heartbeatTimeoutMs: 3000, taskPolicy: 'lru', hwm: 0 },
    );
    assert.equal(parsed.parentPid, 4242);
    assert.equal(parsed.curve, true);
    assert.equal(parsed.replayWindowMs, 1234);
  });

  it('defaults to the configuration defaults, and says so in its usage', () => {
    const d = defaultConfig().controller;
    const parsed = parseControllerArgs([]);
    assert.deepEqual(
      { ip: parsed.ip, transport: parsed.transport, heartbeatMs: parsed.heartbeatMs, heartbeatTimeoutMs: parsed.heartbeatTimeoutMs, taskPolicy: parsed.taskPolicy, hwm: parsed.hwm },
      { ip: d.ip, transport: d.transport, heartbeatMs: d.heartbeatMs, heartbeatTimeoutMs: d.heartbeatTimeoutMs, taskPolicy: d.taskPolicy, hwm: d.hwm },
    );
    assert.equal(parsed.parentPid, undefined);
    assert.match(CONTROLLER_USAGE, new RegExp(`default ${d.hwm};`));
  });

  it('leaves out --parent-pid for a detached controller', () => {
    assert.ok(!toControllerArgs({ profileDir: '/p', clusterId: '', controller: defaultConfig().controller, security: defaultConfig().security }).includes('--parent-pid'));
  });
});
