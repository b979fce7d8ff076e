export function createPostgresStore(_o: unknown): never { throw new Error('not yet'); }
