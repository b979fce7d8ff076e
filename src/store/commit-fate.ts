// Whether a failed write may have been stored after all: the connection was lost around the COMMIT, so its fate is
// unknown (PostgreSQL), or part of a batch was stored before the rest failed. A retry of such a write could store
// it twice; a refused write (a constraint, bad input) stored nothing and may be retried piece by piece.
export function mayHaveCommitted(error: unknown): boolean {
  const e = error as { code?: string; message?: string; partlyStored?: boolean };
  if (e?.partlyStored === true) return true; // a batch whose first part is stored (store/postgres/conversations.ts)
  if (typeof e?.code === 'string' && (e.code.startsWith('08') || e.code === '57P01' || e.code === 'ECONNRESET' || e.code === 'EPIPE')) return true;
  return /Connection terminated|connection.*(closed|lost)|ECONNRESET/i.test(e?.message ?? '');
}
