// The helper must never outlive the Node process that started it, and an instance that is
// never closed must not keep that process running. Both need a separate Node process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { isAlive, waitUntil } from './process-tools.js';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const hostModule = new URL('../../host/index.ts', import.meta.url).href;

describe('helper lifetime across processes', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'strata-lifetime-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs `body` as an ES module in a new Node process (through tsx); resolves its stdout lines as they come. */
  function runScript(name: string, body: string) {
    const script = nodePath.join(dir, `${name}.mts`);
    fs.writeFileSync(script, `import { HostSyscalls, openHost } from ${JSON.stringify(hostModule)};\n${body}\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    return { child, exited, output: () => stdout, errors: () => stderr };
  }

  test('an instance that is never closed does not keep Node running, and its helper goes too', { timeout: 60_000 }, async () => {
    const run = runScript(
      'never-closed',
      `const host = await openHost();
       const [list] = await host.readXattrs([Buffer.from('/')]);
       console.log(JSON.stringify({ pid: host.helperPid, ok: Array.isArray(list) }));`,
    );
    const { code } = await run.exited;
    assert.equal(code, 0, run.errors());
    const report = JSON.parse(run.output().trim()) as { pid: number; ok: boolean };
    assert.equal(report.ok, true);
    await waitUntil(() => !isAlive(report.pid));
  });

  test('the helper exits when its parent is killed', { timeout: 60_000 }, async () => {
    const run = runScript(
      'killed-parent',
      `const host = await openHost();
       console.log(String(host.helperPid));
       setInterval(() => {}, 1000);`,
    );
    await waitUntil(() => run.output().includes('\n'), 30_000);
    const helperPid = Number(run.output().trim());
    assert.ok(isAlive(helperPid));
    run.child.kill('SIGKILL');
    await run.exited;
    await waitUntil(() => !isAlive(helperPid));
  });

  test('a terminal interrupt sent to the helper does not end it', { timeout: 60_000 }, async () => {
    const run = runScript(
      'interrupted',
      `const host = await openHost();
       process.kill(host.helperPid!, 'SIGINT');
       await new Promise((resolve) => setTimeout(resolve, 200));
       const [list] = await host.readXattrs([Buffer.from('/')]);
       console.log(Array.isArray(list) ? 'answered' : 'failed');
       await host.close();`,
    );
    const { code } = await run.exited;
    assert.equal(code, 0, run.errors());
    assert.equal(run.output().trim(), 'answered');
  });
});
