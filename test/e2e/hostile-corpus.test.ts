// The hostile-input corpus through a real `ferry run` (folder → parse → map → HTTP on 127.0.0.1, http-poll,
// webhook): every input ends delivered, dead with a reason naming its cause or limit, skipped and reported,
// or refused; none crashes Ferry, is retried, or takes its peak RSS over 200 MB; no file content reaches a
// record through an XML entity. The inputs and the runner are shared with `npm run bench hostile`.
import { describe, expect, it } from 'vitest';
import { runCorpus, type Verdict } from '../helpers/hostile-corpus.ts';
import { tempDir } from '../helpers/tmp.ts';

const expected: Record<string, { verdict: Verdict['verdict']; dead?: RegExp[]; delivered?: number; detail?: RegExp }> = {
  'csv/normal.csv': { verdict: 'delivered', delivered: 10 },
  'csv/big-field.csv': { verdict: 'dead', delivered: 1, dead: [/^big-field\.csv record 2 \(line 3\): the record is larger than 16 MiB \(parse\.maxRecordBytes\)$/] },
  'csv/wide-header.csv': { verdict: 'dead', delivered: 0, dead: [/^wide-header\.csv record 1 \(line 1\): the header row: the row has more than 16384 columns \(parse\.maxColumns\)$/] },
  'csv/wide-row.csv': { verdict: 'dead', delivered: 1, dead: [/^wide-row\.csv record 2 \(line 3\): the row has more than 16384 columns \(parse\.maxColumns\)$/] },
  'csv/invalid-utf8.csv': { verdict: 'dead', delivered: 1, dead: [/^invalid-utf8\.csv record 2 \(line 3\): not valid UTF-8 \(set parse\.encoding/] },
  'csv/nul-bytes.csv': { verdict: 'delivered', delivered: 1 },
  'csv/bom.csv': { verdict: 'delivered', delivered: 1 },
  'csv/utf16-bom.csv': { verdict: 'delivered', delivered: 1 },
  'csv/mixed-eol.csv': { verdict: 'delivered', delivered: 1 },
  'csv/quote-then-text.csv': { verdict: 'dead', delivered: 1, dead: [/^quote-then-text\.csv record 1 \(line 2\): text after a closing quote/] },
  'csv/rejected.csv': { verdict: 'dead', delivered: 0, dead: [/^HTTP 422 from 127\.0\.0\.1:\d+$/] },
  'csv/empty.csv': { verdict: 'skipped', delivered: 0 },
  'json/deep.json': { verdict: 'dead', delivered: 0, dead: [/^deep\.json record 1: nested deeper than 1000 levels \(parse\.maxDepth\)$/] },
  'json/deep-element.json': { verdict: 'dead', delivered: 1, dead: [/^deep-element\.json record 2: nested deeper than 1000 levels \(parse\.maxDepth\)$/] },
  'json/huge-record.json': { verdict: 'dead', delivered: 1, dead: [/^huge-record\.json record 2: the record is larger than 16 MiB \(parse\.maxRecordBytes\)$/] },
  'json/empty.json': { verdict: 'dead', delivered: 0, dead: [/^empty\.json record 1: invalid JSON: the file holds no JSON document$/] },
  'ndjson/huge-line.ndjson': { verdict: 'dead', delivered: 1, dead: [/^huge-line\.ndjson record 2 \(line 2\): the line is larger than 16 MiB \(parse\.maxRecordBytes\)$/] },
  'xml/entity-bomb.xml': { verdict: 'dead', delivered: 0, dead: [/^entity-bomb\.xml record 1 \(line 1\): malformed XML: .*undefined entity/] },
  'xml/xxe.xml': { verdict: 'dead', delivered: 0, dead: [/^xxe\.xml record 1 \(line 1\): malformed XML: .*undefined entity/] },
  'xml/external-dtd.xml': { verdict: 'delivered', delivered: 1 },
  'xml/deep.xml': { verdict: 'dead', delivered: 1, dead: [/^deep\.xml record 2 \(line 1\): elements nested deeper than 1000 levels \(parse\.maxDepth\)$/] },
  'xml/huge-text.xml': { verdict: 'dead', delivered: 1, dead: [/^huge-text\.xml record 2 \(line 1\): a text node, attribute or comment is larger than 16 MiB \(parse\.maxRecordBytes\)$/] },
  'xml/empty.xml': { verdict: 'dead', delivered: 0, dead: [/^empty\.xml record 1 \(line 1\): malformed XML: /] },
  'http-poll: gzip bomb': { verdict: 'reported', detail: /bomb: the reply is larger than 16 MiB once decompressed \(maxReplyBytes\)$/ },
  'http-poll: never-ending reply': { verdict: 'reported', detail: /endless: the reply is larger than 16 MiB \(maxReplyBytes\)$/ },
  'http-poll: trickling reply': { verdict: 'reported', detail: /trickle: the reply was not complete after 3000 ms \(\d+ bytes read\): cut off$/ },
  'webhook: body at the cap': { verdict: 'delivered', delivered: 1, detail: /^HTTP 202 / },
  'webhook: one byte over': { verdict: 'refused', detail: /^HTTP 413 \{"error":"request body too large: 65537 bytes, more than the 65536 bytes allowed \(maxBodyBytes\)"\}$/ },
};

describe('the hostile-input corpus through `ferry run`', () => {
  it('each input ends delivered, dead naming its cause or limit, skipped and reported, or refused; none is retried; peak RSS ≤ 200 MB; no entity reads a file', async () => {
    const run = await runCorpus(tempDir('ferry-hostile-'), { perInputMs: 90_000 });
    const byInput = new Map(run.verdicts.map((v) => [v.input, v]));
    expect([...byInput.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [input, want] of Object.entries(expected)) {
      const got = byInput.get(input)!;
      const label = `${input}: ${JSON.stringify(got)}`;
      expect(got.verdict, label).toBe(want.verdict);
      if (want.delivered !== undefined) expect(got.delivered, label).toBe(want.delivered);
      if (want.dead) {
        expect(got.dead.length, label).toBe(want.dead.length);
        want.dead.forEach((re, i) => expect(got.dead[i], label).toMatch(re));
      }
      if (want.detail) expect(got.detail, label).toMatch(want.detail);
      // a verdict at once: no item of a file was attempted more than once
      if (got.verdict !== 'reported') expect(got.attempts, label).toBeLessThanOrEqual(1);
    }
    // the empty CSV is reported, not silently dropped
    expect(run.output).toMatch(/empty\.csv holds no records: nothing queued/);
    // no input was retried at intake ("cannot take … retrying"), nothing crashed
    expect(run.output).not.toMatch(/retrying in \d+ s/);
    expect(run.output).not.toMatch(/Maximum call stack|out of memory|uncaught/i);
    expect(run.peakRssMb).toBeLessThanOrEqual(200);
    // no content of the file the XXE entities name reached a record, a dead item, the database or a log
    expect(run.secretFoundIn).toEqual([]);
    // what the good rows around each bad one carried arrived intact
    const rows = run.sink.received.filter((r) => r.url === '/csv').flatMap((r) => JSON.parse(r.body.toString()) as Array<Record<string, string>>);
    expect(rows.filter((r) => r.name === 'before' || r.name === 'after').map((r) => r.id)).toEqual(['1', '3']);
    expect(rows.filter((r) => r.name === 'a\u0000b')).toHaveLength(1);
    expect(rows.some((r) => 'id' in r && r.name === 'Zoë' && !Object.keys(r).some((k) => k.startsWith('\ufeff')))).toBe(true);
    expect(rows.filter((r) => ['eol-a', 'eol-b\r\neol-b', 'eol-c', 'eol-d'].includes(r.name)).map((r) => r.id)).toEqual(['1', '2', '3', '4']);
    expect(rows.filter((r) => r.name === 'İzmir')).toHaveLength(1);
  });
});
