// A TCP proxy in front of a real server (a broker), on a port of its own, for the tests of
// what a client does while its server is away or slow. It refuses connections until `open()`,
// forwards them while open, can hold back (`holdMs`) or drop (`paused`) what clients send,
// and `shut()` cuts every connection and refuses new ones again.
import { connect, createServer, Server, Socket } from 'node:net';
import { freePort } from './services';

/** Where the proxy forwards to (a `ServiceSpec` from ./services fits). */
export interface ProxyTarget {
  host: string;
  port: number;
}

export class TcpProxy {
  /** Connections accepted since the proxy was created. */
  accepted = 0;
  /**
   * While true, what clients send is dropped: a server that stopped reading and never
   * answers. The connections stay open.
   */
  paused = false;
  /** What a new client sends is held back this long before it is forwarded. */
  holdMs = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<Socket>();
  private readonly holds = new Set<NodeJS.Timeout>();

  private constructor(
    readonly target: ProxyTarget,
    /** The port the proxy listens on (127.0.0.1). */
    readonly port: number,
    private readonly serverUrl: string,
  ) {}

  /**
   * A proxy to `target` on a free port, refusing connections until `open()`. `serverUrl` is
   * the server's own URL: `url` is that URL with the proxy's host and port.
   */
  static async create(target: ProxyTarget, serverUrl: string): Promise<TcpProxy> {
    return new TcpProxy(target, await freePort(), serverUrl);
  }

  /** The server's URL (scheme, credentials, path) pointing at the proxy. */
  get url(): string {
    return withPort(this.serverUrl, this.port);
  }

  /** Client connections open now. */
  get live(): number {
    return this.clients.size;
  }

  /** Accepts connections and forwards them to the target. */
  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.forward(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Cuts every connection and refuses new ones (a server that went away). */
  async shut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const hold of this.holds) clearTimeout(hold);
    this.holds.clear();
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    this.accepted++;
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    const upstream = connect(this.target.port, this.target.host);
    if (this.holdMs > 0) {
      client.pause(); // stays paused when the 'data' listener below is added
      const hold = setTimeout(() => {
        this.holds.delete(hold);
        client.resume();
      }, this.holdMs);
      this.holds.add(hold);
    }
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined); // 'close' follows
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => {
      if (!this.paused) upstream.write(chunk);
    });
    upstream.pipe(client);
  }
}

/** `url` with its host and port replaced by 127.0.0.1:`port` (credentials and path kept). */
export function withPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}
