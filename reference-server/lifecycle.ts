import type { Server } from 'node:http';
import net from 'node:net';
import { ConfigError, PortInUseError } from '../src/errors.js';

/** How long in-flight purchases get to finish after a shutdown signal. */
export const GRACE_PERIOD_MS = 10_000;
/** How long connections idle at shutdown stay open, so a request already sent on one is read. */
const IDLE_LINGER_MS = 100;

/**
 * Connections the kernel may hold for us before we accept them. A stampede
 * opens a thousand at once; with Node's default of 511, a server busy for a
 * moment lets the queue overflow, and each dropped handshake costs its buyer
 * a one-second SYN retransmission. The kernel caps this at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 4096;

/** Listens and resolves with the bound port; a taken port is a one-line PortInUseError. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') reject(new PortInUseError(`port ${port} on ${host} is already in use (try --port 0 for any free port)`));
      else if (error.code === 'EACCES') reject(new ConfigError(`not allowed to listen on ${host}:${port}`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new ConfigError(`cannot listen on ${host}: no such local address`));
      else reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, backlog: LISTEN_BACKLOG });
  });
}

/**
 * Stops accepting, lets in-flight requests finish (their purchases commit or
 * roll back as usual), then resolves. Idle kept-alive connections are closed
 * at once; whatever is still running after the grace period is cut.
 */
export function closeGracefully(server: Server, graceMs = GRACE_PERIOD_MS): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    deadline.unref();
    // Stop accepting, but not through http's close(), which also cuts every
    // connection idle at this instant, including those whose next request is
    // already in the kernel's buffer, unread: that request would end
    // unanswered, an unknown outcome for a purchase never attempted. One turn
    // of the event loop reads such requests (they are then in flight, and
    // answered with Connection: close); only then are the idle ones cut.
    net.Server.prototype.close.call(server, () => {
      clearTimeout(deadline);
      resolve();
    });
    setTimeout(() => server.closeIdleConnections(), IDLE_LINGER_MS).unref();
  });
}

/** Resolves at the first SIGINT or SIGTERM, and stops listening for them. */
export function nextShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
