// Preloaded into a benchmarked `ferry run` (node --import) to count what its SFTP client sends: requests by type
// (ssh2 announces each one to its debug hook), the round trips each downloaded file waited for, and when the
// first SSH connection was begun. Written as JSON to $SFTP_COUNT_FILE when the process exits, so the bench
// reports requests and round trips per file and a session time from Ferry's first connection.
import { createRequire } from 'node:module';
import fs from 'node:fs';

const out = process.env.SFTP_COUNT_FILE;
if (out) {
  const require = createRequire(import.meta.url);
  const { SFTP } = require('ssh2/lib/protocol/SFTP.js');
  const { Client } = require('ssh2');
  const counts = { firstConnectAt: 0, connections: 0, requests: {}, filesRead: 0, roundTrips: 0, firstOpenAt: 0, lastOpenAt: 0 };
  const countLine = (line) => {
    const m = /^SFTP: Outbound: (?:Sending|Buffered) (\w+)/.exec(line);
    if (m) counts.requests[m[1]] = (counts.requests[m[1]] ?? 0) + 1;
  };
  // the constructor assigns `this._debug` (undefined unless debugging): every instance gets the counter instead
  Object.defineProperty(SFTP.prototype, '_debug', { configurable: true, get: () => countLine, set: () => undefined });

  // A file's round trips: the requests sent while none of that file's was outstanding (a request sent beside
  // others rides in the same round trip). The CLOSE is left out: a reader that does not wait for it pays nothing.
  // handles are per channel (OpenSSH numbers them from 0 on each)
  const handles = new WeakMap();
  const byHandle = (sftp) => handles.get(sftp) ?? handles.set(sftp, new Map()).get(sftp);
  const sent = (file, cb) => {
    if (file.outstanding++ === 0) counts.roundTrips++;
    return (...args) => {
      file.outstanding--;
      return cb?.(...args);
    };
  };
  const { open, read, fstat, close } = SFTP.prototype;
  SFTP.prototype.open = function (path, flags, attrs, cb) {
    if (typeof attrs === 'function') (cb = attrs), (attrs = undefined);
    if (flags !== 'r') return open.call(this, path, flags, attrs, cb);
    counts.filesRead++;
    counts.lastOpenAt = Date.now();
    counts.firstOpenAt ||= counts.lastOpenAt;
    const file = { outstanding: 0 };
    const done = sent(file, cb);
    return open.call(this, path, flags, attrs, (err, handle) => {
      if (!err) byHandle(this).set(handle.toString('hex'), file);
      done(err, handle);
    });
  };
  SFTP.prototype.read = function (handle, buf, off, len, pos, cb) {
    const file = byHandle(this).get(handle.toString('hex'));
    return read.call(this, handle, buf, off, len, pos, file ? sent(file, cb) : cb);
  };
  SFTP.prototype.fstat = function (handle, cb) {
    const file = byHandle(this).get(handle.toString('hex'));
    return fstat.call(this, handle, file ? sent(file, cb) : cb);
  };
  SFTP.prototype.close = function (handle, cb) {
    byHandle(this).delete(handle.toString('hex'));
    return close.call(this, handle, cb);
  };

  const connect = Client.prototype.connect;
  Client.prototype.connect = function (...args) {
    counts.connections++;
    counts.firstConnectAt ||= Date.now();
    return connect.apply(this, args);
  };
  process.on('exit', () => fs.writeFileSync(out, JSON.stringify(counts)));
}
