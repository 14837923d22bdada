// Counts a process's SQLite commits on ferry.db and the WAL frames each wrote, by the JavaScript that ran the
// transaction. Load it into a measured `ferry run`:
//   COMMIT_PROBE_OUT=/tmp/commits.txt BENCH_NODE_ARGS="--require ./test/bench/commit-probe.cjs" BENCH_ENGINE_FILES=10000 npm run bench engine
// (each process appends its table to the file at exit). Frames are read from the WAL index's header (mxFrame);
// a commit that restarted the WAL counts the frames after the restart only.
const fs = require('node:fs');
const Database = require('better-sqlite3');

const out = process.env.COMMIT_PROBE_OUT ?? `/tmp/ferry-commits.${process.pid}.txt`;
const stats = new Map();
const shm = new Map();
let depth = 0;

function walFrames(db) {
  let fd = shm.get(db.name);
  if (fd === undefined) {
    try {
      fd = fs.openSync(`${db.name}-shm`, 'r');
    } catch {
      return 0;
    }
    shm.set(db.name, fd);
  }
  const b = Buffer.alloc(4);
  fs.readSync(fd, b, 0, 4, 16); // WalIndexHdr.mxFrame, native byte order
  return b.readUInt32LE(0);
}

const transaction = Database.prototype.transaction;
Database.prototype.transaction = function (fn) {
  const db = this;
  const where = (new Error().stack ?? '').split('\n').slice(2, 4).map((l) => l.trim().replace(/^at /, '').replace(/ \(.*\)$/, '')).join(' < ');
  const t = transaction.call(this, fn);
  const measured = (run) => {
    if (depth > 0 || !db.name.endsWith('ferry.db')) return run();
    depth++;
    const before = walFrames(db);
    try {
      return run();
    } finally {
      depth--;
      const after = walFrames(db);
      const s = stats.get(where) ?? { commits: 0, frames: 0 };
      s.commits++;
      s.frames += after >= before ? after - before : after;
      stats.set(where, s);
    }
  };
  const wrapped = function (...args) {
    return measured(() => t.apply(this, args));
  };
  for (const mode of ['deferred', 'immediate', 'exclusive']) {
    const f = t[mode];
    Object.defineProperty(wrapped, mode, { value: (...args) => measured(() => f.apply(undefined, args)) });
  }
  return wrapped;
};

process.on('exit', () => {
  if (stats.size === 0) return;
  const lines = [...stats].map(([where, s]) => `${String(s.commits).padStart(6)} commits ${String(s.frames).padStart(7)} frames ${(s.frames / s.commits).toFixed(1).padStart(6)}/commit  ${where}`);
  fs.appendFileSync(out, `pid ${process.pid}\n${lines.join('\n')}\n`);
});
