// Plain HTTP only redirects to HTTPS: no API, no page, nothing else on this port.
import { createServer, type Server } from 'node:http';

export function createRedirectServer(httpsPort: number): Server {
  const server = createServer((req, res) => {
    // the host the client asked for, without its port; the path kept as is
    const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
    const safeHost = /^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host) ? host : 'localhost';
    const port = httpsPort === 443 ? '' : `:${httpsPort}`;
    const path = (req.url ?? '/').startsWith('/') ? (req.url ?? '/') : '/';
    res.writeHead(308, {
      location: `https://${safeHost}${port}${path}`,
      'content-length': '0',
      connection: 'close',
    });
    res.end();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return server;
}
