// The line between a desktop process under test and the test: the process reports what it did (JSON lines of
// calls it made on Electron's API) and answers the test's commands (click a tray item, send a power event…).
// Used by the Electron double (electron.cjs) and by the probe loaded into a real Electron (probe.cjs).
'use strict';
const net = require('node:net');

const address = process.env.FERRY_DESKTOP_PROBE;
const queue = [];
let socket;
let connected = false;
const commands = new Map();
let seq = 0;

/** JSON-safe copy: functions and cycles become markers. */
function plain(value, seen = new Set()) {
  if (typeof value === 'function') return '[function]';
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => plain(v, seen));
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = plain(v, seen);
  return out;
}

function send(msg) {
  const line = `${JSON.stringify(msg)}\n`;
  if (connected) socket.write(line);
  else queue.push(line);
}

/** Reports one call on the Electron API (what the test checks). */
function record(api, args = []) {
  send({ type: 'call', seq: ++seq, api, args: plain(args), at: Date.now() });
}

/** Handles a command from the test: fn(args) returns (or resolves to) the reply. */
function onCommand(name, fn) {
  commands.set(name, fn);
}

async function run(msg) {
  const fn = commands.get(msg.cmd);
  try {
    if (!fn) throw new Error(`unknown command ${msg.cmd}`);
    const result = await fn(msg.args ?? {});
    send({ type: 'reply', id: msg.id, ok: true, result: plain(result) });
  } catch (err) {
    send({ type: 'reply', id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

if (address) {
  const [host, port] = address.split(':');
  socket = net.connect({ host, port: Number(port) }, () => {
    connected = true;
    socket.write(`${JSON.stringify({ type: 'hello', pid: process.pid })}\n`);
    for (const line of queue.splice(0)) socket.write(line);
  });
  socket.unref(); // the app's own work decides when it exits, never this line
  let buffer = '';
  socket.on('data', (d) => {
    buffer += d.toString('utf8');
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) void run(JSON.parse(line));
    }
  });
  socket.on('error', () => undefined);
}

/** Sends what is queued and ends the line (before the process exits). */
function flush() {
  return new Promise((resolve) => {
    if (!socket) return resolve();
    const done = () => resolve();
    const end = () => socket.end(done);
    if (connected) end();
    else socket.once('connect', () => setImmediate(end));
    setTimeout(done, 2000).unref();
  });
}

module.exports = { record, onCommand, flush, plain };
