/**
 * True for a failure of the connection rather than of the statement: pg SQLSTATE class 08 (connection exception)
 * or 57 (operator intervention: terminated backend, server shutdown), a refused or reset socket, or a socket that
 * closed with no SQLSTATE. Such an error says nothing about the event being applied, so the runner retries
 * from its checkpoint instead of stalling the projection.
 */
export function isTransientDbError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    return code.startsWith('08') || code.startsWith('57') || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE';
  }
  const msg = e instanceof Error ? e.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(msg);
}
