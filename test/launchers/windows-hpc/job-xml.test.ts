import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { JobDescription } from '../../../src/core/scheduler.js';
import { buildJobXml, HPC_JOB_NAMESPACE, parseJobXml } from '../../../src/launchers/windows-hpc/job-xml.js';
import { hpcFixture, needsXmllint, tempDir, xmllintValidate } from '../../support/hpc-sim.js';

/** The controller job of the seed's cluster: one task, on a UNC home share. */
const controllerJob: JobDescription = {
  name: 'tsparallel-controller',
  tasks: [
    {
      name: 'controller',
      command: [
        'C:\\Program Files\\nodejs\\node.exe',
        '\\\\blue\\domainusers$\\bgranger\\tsparallel\\dist\\src\\cli\\tscontroller.js',
        '--profile-dir',
        '\\\\blue\\domainusers$\\bgranger\\.tsparallel\\profile_mycluster',
        '--ip',
        '0.0.0.0',
      ],
      workDirectory: '\\\\blue\\domainusers$\\bgranger',
      environment: { TSPARALLEL_DIR: '\\\\blue\\domainusers$\\bgranger\\.tsparallel' },
    },
  ],
  exclusive: false,
  runUntilCanceled: false,
  extra: { priority: 'Normal' },
};

/** The engine set: three engines, with HPC terms a user would set. */
const engineSetJob: JobDescription = {
  name: 'tsparallel-engines',
  tasks: [0, 1, 2].map((i) => ({
    name: `engine-${i}`,
    command: [
      'C:\\Program Files\\nodejs\\node.exe',
      '\\\\blue\\domainusers$\\bgranger\\tsparallel\\dist\\src\\cli\\tsengine.js',
      '--connection-file',
      '\\\\blue\\domainusers$\\bgranger\\.tsparallel\\profile_mycluster\\security\\tsparallel-engine.json',
    ],
    workDirectory: '\\\\blue\\domainusers$\\bgranger',
    stdoutPath: `\\\\blue\\domainusers$\\bgranger\\logs\\engine-${i}.out`,
  })),
  exclusive: true,
  runUntilCanceled: true,
  extra: { priority: 'AboveNormal', project: 'seed demo', jobTemplate: 'Default', runtimeSeconds: 3600, nodeGroups: ['ComputeNodes', 'Big'] },
};

describe('buildJobXml', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.remove());

  test('the controller job matches its golden file', async () => {
    assert.equal(buildJobXml(controllerJob), await readFile(hpcFixture('ipcontroller_job.golden.xml'), 'utf8'));
  });

  test('the engine-set job matches its golden file', async () => {
    assert.equal(buildJobXml(engineSetJob), await readFile(hpcFixture('ipengineset_job.golden.xml'), 'utf8'));
  });

  test('the golden files and built files are valid against the HPC Pack 2008 XSD', { skip: needsXmllint }, async () => {
    for (const name of ['ipcontroller_job.golden.xml', 'ipengineset_job.golden.xml']) {
      const result = xmllintValidate(hpcFixture(name));
      assert.ok(result.ok, `${name}: ${result.output}`);
    }
    const file = path.join(tmp.dir, 'odd.xml');
    await writeFile(
      file,
      buildJobXml({
        name: 'odd <&> "names"',
        tasks: [{ command: ['x'], environment: { 'A&B': 'line1\nline2\ttab <tag>' } }],
        extra: { unitType: 'Node', minNodes: 2, maxNodes: 4, failOnTaskFailure: true },
      }),
    );
    const result = xmllintValidate(file);
    assert.ok(result.ok, result.output);
  });

  test('the XSD refuses what HPC Pack would refuse', { skip: needsXmllint }, async () => {
    const good = buildJobXml(controllerJob);
    const bad: Record<string, string> = {
      'unknown priority': good.replace('Priority="Normal"', 'Priority="Urgent"'),
      'unknown attribute': good.replace('<Job ', '<Job Colour="blue" '),
      'no Dependencies element': good.replace('  <Dependencies />\n', ''),
      'wrong namespace': good.replace(HPC_JOB_NAMESPACE, 'http://example.com/jobs/'),
      'cores not a number': good.replace('MinCores="1"', 'MinCores="one"'),
    };
    for (const [what, xml] of Object.entries(bad)) {
      const file = path.join(tmp.dir, 'bad.xml');
      await writeFile(file, xml);
      const result = xmllintValidate(file);
      assert.equal(result.ok, false, `${what} should fail validation`);
      assert.match(result.output, /fails to validate|validity error/, what);
    }
  });

  test('resources default to what the tasks need', () => {
    const xml = buildJobXml(engineSetJob);
    assert.match(xml, /<Job [^>]*MinCores="3" MaxCores="3"/);
    const two = buildJobXml({ name: 'x', tasks: [{ command: ['a'], cores: 2 }, { command: ['b'], cores: 2 }], extra: { maxCores: 3 } });
    assert.match(two, /<Job [^>]*MinCores="3" MaxCores="3"/);
  });

  test('a value XML cannot carry is refused with the field named', () => {
    assert.throws(
      () => buildJobXml({ name: 'x', tasks: [{ command: ['a\u0001b'] }] }),
      (err: unknown) => err instanceof SchedulerError && /task 1 attribute CommandLine/.test(err.message) && /U\+0001/.test(err.message),
    );
  });

  test('a bad HPC setting or an empty command is a SchedulerError', () => {
    assert.throws(() => buildJobXml({ name: 'x', tasks: [{ command: ['a'] }], extra: { priority: 'Urgent' } }), /priority/);
    assert.throws(() => buildJobXml({ name: 'x', tasks: [{ command: [] }] }), /task 1 of the job has an empty command/);
  });
});

describe('parseJobXml', () => {
  test('reads back what buildJobXml wrote, command vectors included', () => {
    const parsed = parseJobXml(buildJobXml(engineSetJob));
    assert.equal(parsed.job.name, 'tsparallel-engines');
    assert.equal(parsed.job.exclusive, true);
    assert.equal(parsed.job.runUntilCanceled, true);
    assert.equal(parsed.job.tasks.length, 3);
    for (const [i, task] of parsed.job.tasks.entries()) {
      assert.deepEqual(task.command, engineSetJob.tasks[i]!.command);
      assert.equal(task.name, `engine-${i}`);
      assert.equal(task.workDirectory, '\\\\blue\\domainusers$\\bgranger');
      assert.equal(task.stdoutPath, engineSetJob.tasks[i]!.stdoutPath);
    }
    assert.deepEqual(parsed.settings.nodeGroups, ['ComputeNodes', 'Big']);
    assert.equal(parsed.settings.priority, 'AboveNormal');
    assert.equal(parsed.settings.runtimeSeconds, 3600);
    assert.equal(parsed.settings.project, 'seed demo');
  });

  test('keeps whitespace and markup in values exactly', () => {
    const env = { 'A&B': 'line1\nline2\ttab <tag> "q"', EMPTY: '' };
    const parsed = parseJobXml(buildJobXml({ name: 'a\tb\nc', tasks: [{ command: ['x', 'y z\t"w"'], environment: env }] }));
    assert.equal(parsed.job.name, 'a\tb\nc');
    assert.deepEqual(parsed.job.tasks[0]!.command, ['x', 'y z\t"w"']);
    assert.deepEqual(parsed.job.tasks[0]!.environment, env);
  });

  test('reads a hand-written file with prefixes, comments, CDATA and CRLF line ends', () => {
    const xml = [
      '<?xml version="1.0"?>',
      '<!-- written by hand -->',
      `<h:Job xmlns:h="${HPC_JOB_NAMESPACE}" Name='hand' IsExclusive="1">`,
      '  <h:Dependencies/>',
      '  <h:Tasks>',
      '    <h:Task CommandLine="cmd /c echo &quot;hi&quot;">',
      '      <h:EnvironmentVariables><h:Variable><h:Name>X</h:Name><h:Value><![CDATA[<raw & text>]]></h:Value></h:Variable></h:EnvironmentVariables>',
      '    </h:Task>',
      '  </h:Tasks>',
      '</h:Job>',
    ].join('\r\n');
    const parsed = parseJobXml(xml);
    assert.equal(parsed.job.name, 'hand');
    assert.equal(parsed.job.exclusive, true);
    assert.deepEqual(parsed.job.tasks[0]!.command, ['cmd', '/c', 'echo', 'hi']);
    assert.deepEqual(parsed.job.tasks[0]!.environment, { X: '<raw & text>' });
  });

  test('refuses what is not an HPC job file, saying why', () => {
    const cases: [string, RegExp][] = [
      ['<Job><Tasks></Job>', /not well-formed.*unexpected <\/Job>/],
      ['<Job xmlns="urn:other"/>', /root element is <Job> in namespace 'urn:other'/],
      ['<!DOCTYPE Job [<!ENTITY x "y">]><Job/>', /document type declarations are not accepted/],
      [`<Job xmlns="${HPC_JOB_NAMESPACE}"><Tasks><Task Name="t"/></Tasks></Job>`, /task 1 has no CommandLine/],
      [`<Job xmlns="${HPC_JOB_NAMESPACE}" IsExclusive="maybe"><Tasks/></Job>`, /IsExclusive='maybe' is not a boolean/],
      [`<Job xmlns="${HPC_JOB_NAMESPACE}" Priority="Urgent"><Tasks/></Job>`, /Priority='Urgent' is not one of Lowest/],
      ['<Job a="&bogus;"/>', /unknown entity '&bogus;'/],
    ];
    for (const [xml, pattern] of cases) {
      assert.throws(() => parseJobXml(xml), (err: unknown) => err instanceof SchedulerError && pattern.test(err.message), xml);
    }
  });
});
