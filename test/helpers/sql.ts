/**
 * Small helpers the multi-session tests share.
 */

/**
 * The SQLSTATE a statement (or any promise of one) fails with, or null when it succeeds; 'unknown'
 * for a failure that carries no SQLSTATE (a broken connection).
 */
export async function sqlstate(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return (e as { code?: string }).code ?? 'unknown';
  }
}
