// Child-side IPC helpers for the benchmark's helper processes: typed commands in, reports out, exit with the parent.
export type Command = { cmd: string; [key: string]: unknown };
export type Report = { type: string; [key: string]: unknown };

export function report(msg: Report): void {
  process.send?.(msg);
}

/** Runs `handler` for every command from the parent; a failing handler is reported as {type:'error'}. */
export function onCommand(handler: (msg: Command) => Promise<void> | void): void {
  if (!process.send) {
    process.stderr.write('this script is a helper of bench/delivery.ts and runs only as its child\n');
    process.exit(2);
  }
  process.on('message', (msg: Command) => {
    Promise.resolve()
      .then(() => handler(msg))
      .catch((error: unknown) => report({ type: 'error', cmd: msg.cmd, message: (error as Error)?.stack ?? String(error) }));
  });
  // The parent went away (crash, SIGKILL): do not linger.
  process.on('disconnect', () => process.exit(0));
}
