// A webhook receiver for trying botgate by hand: prints every delivery and checks its Standard Webhooks
// signature when given the endpoint's secret. Usage: npm run receiver -- [--port 4000] [--secret whsec_…] [--status 200]
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '4000' }, secret: { type: 'string' }, status: { type: 'string', default: '200' }, help: { type: 'boolean' } },
});
if (values.help) {
  process.stdout.write('npm run receiver -- [--port 4000] [--secret whsec_…] [--status 200]\n');
  process.exit(0);
}
const verifier = values.secret ? new Webhook(values.secret) : null;

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let check = 'not checked (pass --secret)';
    if (verifier) {
      try {
        verifier.verify(body, req.headers as Record<string, string>);
        check = 'valid';
      } catch (error) {
        check = `INVALID (${(error as Error).message})`;
      }
    }
    process.stdout.write(`${new Date().toISOString()} ${req.method} ${req.url} webhook-id=${req.headers['webhook-id']} signature ${check}\n  ${body}\n`);
    res.writeHead(Number(values.status)).end('ok');
  });
}).listen(Number(values.port), '127.0.0.1', () => process.stdout.write(`receiver listening on http://127.0.0.1:${values.port}/\n`));
