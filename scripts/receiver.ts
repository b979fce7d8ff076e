// A webhook receiver for trying botgate by hand: prints every delivery and checks its Standard Webhooks
// signature when given the endpoint's secret. Usage: npm run receiver -- [--port 4000] [--secret whsec_…] [--status 200]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';

const USAGE = 'npm run receiver -- [--port 4000] [--secret whsec_…] [--status 200]   (--port 0: any free port, printed)\n';

function fail(message: string): never {
  process.stderr.write(`receiver: ${message}\n${USAGE}`);
  process.exit(2);
}

let values: { port: string; secret?: string; status: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: { port: { type: 'string', default: '4000' }, secret: { type: 'string' }, status: { type: 'string', default: '200' }, help: { type: 'boolean' } },
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535) fail(`--port must be a port number from 0 to 65535 (0: any free port), not ${values.port}`);
const status = Number(values.status);
if (!/^\d{3}$/.test(values.status) || status < 200 || status > 599) fail(`--status must be an HTTP status from 200 to 599, not ${values.status}`);
let verifier: Webhook | null = null;
try {
  verifier = values.secret ? new Webhook(values.secret) : null;
} catch (error) {
  fail(`--secret is not a signing secret (whsec_…): ${(error as Error).message}`);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    // The signature covers the body's bytes as sent, whatever their type (JSON, or form text for form endpoints).
    const raw = Buffer.concat(chunks);
    let check = 'not checked (pass --secret)';
    if (verifier) {
      try {
        verifier.verify(raw, req.headers as Record<string, string>, { jsonParse: false });
        check = 'valid';
      } catch (error) {
        check = `INVALID (${(error as Error).message})`;
      }
    }
    const type = req.headers['content-type'] ?? 'no content-type';
    process.stdout.write(`${new Date().toISOString()} ${req.method} ${req.url} webhook-id=${req.headers['webhook-id']} signature ${check}\n  (${type}) ${raw.toString('utf8')}\n`);
    res.writeHead(status).end('ok');
  });
});
server.on('error', (error: NodeJS.ErrnoException) => fail(error.code === 'EADDRINUSE' ? `port ${port} is taken; choose another, or --port 0` : error.message));
server.listen(port, '127.0.0.1', () => process.stdout.write(`receiver listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/\n`));
