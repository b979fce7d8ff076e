// Whether a failed write may have been stored after all: the connection was lost around the COMMIT, so its fate is
// unknown (PostgreSQL). A retry of such a write could store it twice; a refused write (a constraint, bad input)
// stored nothing and may be retried piece by piece.
export function mayHaveCommitted(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (typeof e?.code === 'string' && (e.code.startsWith('08') || e.code === '57P01' || e.code === 'ECONNRESET' || e.code === 'EPIPE')) return true;
  return /Connection terminated|connection.*(closed|lost)|ECONNRESET/i.test(e?.message ?? '');
}
