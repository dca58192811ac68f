/**
 * `make test` runs scripts/test.sh: vitest's, pg_prove's and the isolation tester's results must
 * reach its exit code. Proven by running the script on fixtures: one failing at a time, then all passing.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { projectRoot } from '../src/paths.js';
import { adminUrl } from './helpers/db.js';

const run = promisify(execFile);
const fx = 'test/fixtures/exit';

async function testSh(vitestSpec: string, pgtapFile: string, isolationSpec = 'pass'): Promise<{ code: number; out: string }> {
  const env = {
    ...process.env,
    DATABASE_URL: adminUrl(),
    BIRTHGATE_TEST_VITEST_ARGS: `--config ${fx}/vitest.config.ts ${fx}/${vitestSpec}`,
    BIRTHGATE_TEST_PGTAP_FILES: `${fx}/${pgtapFile}`,
    BIRTHGATE_TEST_ISOLATION_DIR: `${fx}/isolation`,
    BIRTHGATE_TEST_ISOLATION_SPECS: isolationSpec,
    // the alert-rule tests have their own result line; these fixtures count vitest, pg_prove and isolation only
    BIRTHGATE_TEST_SKIP_PROMTOOL: '1',
  };
  delete (env as Record<string, string | undefined>).VITEST;
  delete (env as Record<string, string | undefined>).VITEST_WORKER_ID;
  delete (env as Record<string, string | undefined>).VITEST_POOL_ID;
  try {
    const r = await run('scripts/test.sh', [], { cwd: projectRoot, env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

describe('make test exit code', () => {
  it('is 0 when vitest, pg_prove and the isolation tester pass', async () => {
    const r = await testSh('pass.spec.ts', 'pass.pgtap.sql');
    expect(r.out).toMatch(/total: 3 passed, 0 failed/);
    expect(r.code).toBe(0);
  });
  it('is non-zero when only pg_prove fails', async () => {
    const r = await testSh('pass.spec.ts', 'fail.pgtap.sql');
    expect(r.out).toMatch(/pg_prove: 0 passed, 1 failed/);
    expect(r.code).not.toBe(0);
  });
  it('is non-zero when only the isolation tester fails', async () => {
    const r = await testSh('pass.spec.ts', 'pass.pgtap.sql', 'fail');
    expect(r.out).toMatch(/isolation: 0 passed, 1 failed/);
    expect(r.out).toMatch(/total: 2 passed, 1 failed/);
    expect(r.code).not.toBe(0);
  });
  it('is non-zero when only vitest fails', async () => {
    const r = await testSh('fail.spec.ts', 'pass.pgtap.sql');
    expect(r.out).toMatch(/vitest: {3}0 passed, 1 failed/);
    expect(r.code).not.toBe(0);
  });
});
