// Types of bin/node-version.js (JavaScript, so that any Node reads it).
/** Why this Node cannot run botgate, or null. */
export function nodeVersionProblem(version?: string): string | null;
/** Stops the process (exit 1) on a Node too old for botgate. */
export function requireNodeVersion(): void;
