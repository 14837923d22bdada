// Opens the SQLite database: WAL with synchronous=FULL (a committed item survives a power cut), a busy
// timeout for the CLI reading while `ferry run` writes, and ordered schema migrations.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** A number from an idempotency key's first 52 bits: indexed instead of the 40-character key (see migration 2). */
export function keyPrefix(idemKey: string): number {
  const hex = /^[0-9a-f]{13}/.test(idemKey) ? idemKey.slice(0, 13) : crypto.createHash('sha256').update(idemKey).digest('hex').slice(0, 13);
  return parseInt(hex, 16);
}

/** Each entry runs once, in order, inside a transaction; user_version records how many ran. */
export const migrations: Array<string | ((db: Db) => void)> = [
  `
  CREATE TABLE items (
    id            INTEGER PRIMARY KEY,
    flow          TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued','inflight','retrying','delivered','dead','discarded')),
    idem_key      TEXT NOT NULL,
    source_key    TEXT NOT NULL,
    name          TEXT NOT NULL,
    attrs         TEXT NOT NULL DEFAULT '{}',
    body_file     TEXT,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    grp           TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL DEFAULT 0,
    lease_until   INTEGER,
    last_error    TEXT,
    last_status   INTEGER,
    last_response TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    settled_at    INTEGER,
    after_pending INTEGER NOT NULL DEFAULT 0
  );
  CREATE UNIQUE INDEX items_flow_key ON items (flow, idem_key);
  -- one index serves leasing (queued items in arrival order), status counts and bytes (covering), back pressure
  -- and the queue pages; every other index is partial, so a state change touches as few b-trees as possible
  CREATE INDEX items_flow_state ON items (flow, state, id, size);
  CREATE INDEX items_settled ON items (settled_at) WHERE state IN ('delivered','discarded');
  CREATE INDEX items_after ON items (after_pending) WHERE after_pending = 1;

  -- small bodies, apart from items so state updates do not rewrite them (large ones: content store files)
  CREATE TABLE bodies (
    item_id INTEGER PRIMARY KEY,
    body    BLOB NOT NULL
  );

  -- failed attempts, for "show an item with its attempts and errors"
  CREATE TABLE attempts (
    item_id  INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    outcome  TEXT NOT NULL,
    error    TEXT,
    status   INTEGER
  );
  CREATE INDEX attempts_item ON attempts (item_id);

  -- idempotency keys of pruned items, so a pruned delivery is still never sent again
  CREATE TABLE fingerprints (
    flow       TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    settled_at INTEGER NOT NULL,
    PRIMARY KEY (flow, idem_key)
  ) WITHOUT ROWID;

  -- per-flow source memory (checkpoints, cursors, files taken in keep mode)
  CREATE TABLE source_state (
    flow  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flow, key)
  ) WITHOUT ROWID;

  -- what the running engine knows about each flow, readable by other processes (ferry status)
  CREATE TABLE flow_state (
    flow               TEXT PRIMARY KEY,
    first_seen_at      INTEGER NOT NULL,
    last_run_at        INTEGER,
    next_run_at        INTEGER,
    last_delivery_at   INTEGER,
    last_error         TEXT,
    last_error_at      INTEGER,
    unreachable_since  INTEGER,
    intake_blocked     TEXT,
    paused             INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL
  );

  -- activity log / event stream; id is the resumable cursor
  CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    type    TEXT NOT NULL,
    flow    TEXT,
    item_id INTEGER,
    data    TEXT
  );

  -- the reply a destination gave a synchronous caller (fetched later by ticket)
  CREATE TABLE replies (
    item_id      INTEGER PRIMARY KEY,
    status       INTEGER NOT NULL,
    content_type TEXT,
    body         BLOB NOT NULL
  );
  -- FIFO by group: an earlier unfinished item of the same group
  CREATE INDEX items_fifo ON items (flow, grp, id) WHERE grp IS NOT NULL AND state IN ('queued','inflight','retrying');
  -- unfinished parts ("<file key>#<part>") of a processed file, before its original is moved
  CREATE INDEX items_parts ON items (flow, source_key) WHERE instr(source_key, '#') > 0 AND state IN ('queued','inflight','retrying');
  `,
  // 2: dedupe looks items up by a 52-bit number from the idempotency key (then compares the whole key) instead
  // of a unique index on (flow, 40-character key). Keys are random, so every batch of inserts touched most
  // pages of that wide index; the narrow one has a third of the pages (queue bench: enqueue ~45% faster).
  (db) => {
    db.exec('ALTER TABLE items ADD COLUMN key_prefix INTEGER NOT NULL DEFAULT 0');
    const set = db.prepare('UPDATE items SET key_prefix = ? WHERE id = ?');
    for (const r of db.prepare('SELECT id, idem_key FROM items').all() as Array<{ id: number; idem_key: string }>) set.run(keyPrefix(r.idem_key), r.id);
    db.exec('DROP INDEX items_flow_key; CREATE INDEX items_key_prefix ON items (key_prefix)');
  },
  // 3: a scheduled source whose scans report problems (its server down) is "failing" until a clean scan
  (db) => {
    db.exec('ALTER TABLE flow_state ADD COLUMN source_failing_since INTEGER; ALTER TABLE flow_state ADD COLUMN source_problem TEXT');
  },
  // 4: OAuth connections: their health, readable by other processes (ferry status), and their encrypted tokens
  `
  CREATE TABLE connection_state (
    key                TEXT PRIMARY KEY,
    state              TEXT NOT NULL CHECK (state IN ('connected','refresh_failing','consent_needed')),
    reason             TEXT,
    since              INTEGER NOT NULL,
    connected_at       INTEGER,
    refreshed_at       INTEGER,
    access_expires_at  INTEGER,
    refresh_expires_at INTEGER,
    refreshes          INTEGER NOT NULL DEFAULT 0,
    details            TEXT,
    updated_at         INTEGER NOT NULL
  );
  -- OAuth tokens, each connection's an AES-256-GCM envelope (oauth/token-store.ts): never in plain text
  CREATE TABLE oauth_tokens (
    key        TEXT PRIMARY KEY,
    envelope   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
  // 5: long queues stay fast. Counting items per flow and state scanned every item (a million items: a tenth of
  // a second per status call); item_counts holds the counts and bytes, kept by every write of the queue in the
  // same transaction (store/item-counts.ts). Due retries are found through their own small index instead of
  // reading every retrying row.
  `
  CREATE TABLE item_counts (
    flow  TEXT NOT NULL,
    state TEXT NOT NULL,
    n     INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (flow, state)
  ) WITHOUT ROWID;
  INSERT INTO item_counts (flow, state, n, bytes) SELECT flow, state, COUNT(*), COALESCE(SUM(size), 0) FROM items GROUP BY flow, state;
  CREATE INDEX items_retry ON items (flow, next_at, id) WHERE state = 'retrying';
  -- the content store's clean-up asks whether a body file is still used: one index step, not a scan of every item
  CREATE INDEX items_body_file ON items (body_file) WHERE body_file IS NOT NULL;
  `,
  // 6: the items' CHECK on state, written as comparisons instead of an IN list. SQLite evaluated the IN list by
  // building a temporary b-tree of the six states for every row an INSERT or a state-changing UPDATE wrote: about
  // a fifth of the queue's CPU per item. The constraint allows the same values, so the stored rows need nothing;
  // the table's definition is edited in place, SQLite's documented way to change a CHECK constraint without
  // copying the table (https://www.sqlite.org/lang_altertable.html#otheralter), instant on a million items.
  (db) => replaceInTableSql(db, 'items', ITEMS_STATE_CHECK_IN, ITEMS_STATE_CHECK),
  // 7: the dedupe index in two levels (store/dedupe-keys.ts). The random index on items' key prefixes made each
  // new item write a page of its own once the queue was long, and the fingerprints' (flow, key) primary key made
  // each pruned item write another. Now: item_keys, (prefix, id) of everything up to key_merge.merged_upto,
  // filled by sorted merges; newer ids are the small level (in memory, rebuilt from the rows). A fingerprint
  // takes its item's id, so pruning leaves the item's entry as it is. Existing fingerprints get ids above every
  // item's; everything present is merged here, in key order.
  (db) => {
    db.function('ferry_key_prefix', { deterministic: true }, (key) => keyPrefix(String(key)));
    db.exec(`
      CREATE TABLE fingerprints_by_id (
        id         INTEGER PRIMARY KEY,
        flow       TEXT NOT NULL,
        idem_key   TEXT NOT NULL,
        settled_at INTEGER NOT NULL
      );
      INSERT INTO fingerprints_by_id (id, flow, idem_key, settled_at)
        SELECT (SELECT COALESCE(max(id), 0) FROM items) + row_number() OVER (ORDER BY settled_at, flow, idem_key), flow, idem_key, settled_at FROM fingerprints;
      DROP TABLE fingerprints;
      ALTER TABLE fingerprints_by_id RENAME TO fingerprints;
      CREATE TABLE item_keys (
        key_prefix INTEGER NOT NULL,
        id         INTEGER NOT NULL,
        PRIMARY KEY (key_prefix, id)
      ) WITHOUT ROWID;
      INSERT INTO item_keys (key_prefix, id)
        SELECT key_prefix, id FROM items UNION ALL SELECT ferry_key_prefix(idem_key), id FROM fingerprints ORDER BY 1, 2;
      DROP INDEX items_key_prefix;
      CREATE TABLE key_merge (merged_upto INTEGER NOT NULL);
      INSERT INTO key_merge (merged_upto) SELECT max(COALESCE((SELECT max(id) FROM items), 0), COALESCE((SELECT max(id) FROM fingerprints), 0));
    `);
  },
];

const ITEMS_STATE_CHECK_IN = "CHECK (state IN ('queued','inflight','retrying','delivered','dead','discarded'))";
export const ITEMS_STATE_CHECK = `CHECK (${['queued', 'inflight', 'retrying', 'delivered', 'dead', 'discarded'].map((s) => `state = '${s}'`).join(' OR ')})`;

/**
 * Replaces `from` by `to` in a table's CREATE statement, for a change that leaves the stored rows valid as they
 * are (a CHECK constraint rewritten): schema text edited under writable_schema, schema version bumped so every
 * connection reads it again. A definition without `from` (already changed) is left alone. Runs inside the
 * migration's transaction.
 */
function replaceInTableSql(db: Db, table: string, from: string, to: string): void {
  const sql = db.prepare<[string], string>("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").pluck().get(table);
  if (sql === undefined || !sql.includes(from)) return;
  const version = db.pragma('schema_version', { simple: true }) as number;
  // better-sqlite3 opens connections in SQLite's defensive mode, which refuses writes to sqlite_schema
  db.unsafeMode(true);
  db.pragma('writable_schema = ON');
  try {
    db.prepare("UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?").run(sql.replace(from, to), table);
    db.pragma(`schema_version = ${version + 1}`);
  } finally {
    db.pragma('writable_schema = OFF');
    db.unsafeMode(false);
  }
}

export const SCHEMA_VERSION = migrations.length;

export interface OpenOptions {
  readonly?: boolean;
  /** Another database's migrations (the relay's store); default: the queue's. */
  migrations?: Array<string | ((db: Db) => void)>;
}

export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { fileMustExist: opts.readonly === true });
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  // better-sqlite3 leaves WAL at NORMAL, which can lose the last commits on power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // better-sqlite3 builds SQLite with a 16 MB page cache; inline bodies fill it fast and it stays resident. The
  // queue's hot pages (indexes, recent rows) fit in 4 MB; colder pages come from the OS file cache.
  db.pragma('cache_size = -4000');
  // A statement that writes many rows (a lease's or a batch's UPDATE, a block of new items) keeps the original of
  // each page it changes in a statement journal, to undo itself alone on an error. SQLite spills that journal to
  // a temporary file past 64 KB: a queue of small items wrote and read ~1 KB of it per item. In memory it is a
  // page copy (the largest a few hundred KB, freed at the statement's end); durability does not depend on it.
  db.pragma('temp_store = MEMORY');
  // Checkpoint (copy the WAL back into the database, fsyncing it) every ~40 MB of WAL instead of SQLite's ~4 MB:
  // a page an item touches three times (queued, leased, delivered) is then mostly copied back once, and the
  // engine's thread pays a tenth of the checkpoint stalls. (A checkpoint thread did this in parallel, but its
  // own isolate cost 16 MB of RSS.) The WAL file is cut back to 64 MB after a checkpoint. The engine's own
  // connection turns this off and checkpoints with its fsyncs off the thread (store/checkpointer.ts).
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('journal_size_limit = 67108864');
  migrate(db, opts.migrations ?? migrations);
  return db;
}

function migrate(db: Db, migrations: Array<string | ((db: Db) => void)>): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`the database was written by a newer Ferry (schema ${current}, this one knows ${migrations.length}); upgrade Ferry`);
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      const step = migrations[v];
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
