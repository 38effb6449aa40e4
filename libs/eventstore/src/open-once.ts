/**
 * A handle opened on first use and kept (a JetStream manager, a KV bucket, an object store): the first
 * call opens it, later calls share that promise, and a failed open is forgotten so the next call tries
 * again instead of failing for good.
 */
export function openOnce<T>(open: () => Promise<T>): () => Promise<T> {
  let opened: Promise<T> | undefined;
  return () => {
    opened ??= open().catch((e: unknown) => {
      opened = undefined;
      throw e;
    });
    return opened;
  };
}
