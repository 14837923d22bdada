// `ferry preview`: the first records after every step, each bad record, the items it would queue —
// without touching the queue.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, writeConfig, repoRoot } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

function config(dir: string, onRecordError = 'dead') {
  return writeConfig(dir, {
    dataDir: './data',
    integrations: [{
      name: 'crm',
      flows: [{
        name: 'invoices',
        source: { type: 'folder', path: './in' },
        destination: { type: 'http', url: 'http://127.0.0.1:9/never' },
        onRecordError,
        process: [
          { parse: { format: 'csv', delimiter: ';', header: true, encoding: 'windows-1252', decimalComma: true, types: { Betrag: 'number' } } },
          { filter: 'Status = "OFFEN"' },
          { map: '{ "id": Rechnungsnr, "total": Betrag, "customer": Kunde }' },
          { batch: { size: 500 } },
          { format: { format: 'json' } },
        ],
      }, { name: 'plain', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }],
    }],
  });
}

describe('ferry preview', () => {
  it('prints the records after each step and the output item; queues nothing', async () => {
    const dir = tempDir();
    const file = config(dir);
    const sample = path.join(repoRoot, 'test/fixtures/records/invoices-windows-1252.csv');
    const r = await runCli(['preview', '--config', file, '--flow', 'invoices', '--file', sample]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`Preview of flow invoices on ${sample} (first 5 per step; nothing is queued)`);
    expect(out).toContain('== after parse (csv): 3 records ==\n  #1 {"Rechnungsnr":"2024-001","Betrag":1234.56,"Kunde":"Müller GmbH","Straße":"Hauptstraße 1\\r\\nHinterhaus","Status":"OFFEN"}');
    expect(out).toContain('== after filter (step 2): 2 records ==');
    expect(out).toContain('== after map (step 3): 2 records ==\n  #1 {"id":"2024-001","total":1234.56,"customer":"Müller GmbH"}\n  #3 {"id":"2024-003","total":0.99,"customer":"Ærø ApS"}');
    expect(out).toMatch(/== output: 1 item ==\n {2}item 1: invoices-windows-1252-00001\.json \(\d+ bytes, 2 records, application\/json\)\n {4}\[\{"id":"2024-001"/);
    expect(out).toContain('== errors: 0 ==');
    expect(fs.existsSync(path.join(dir, 'data', 'ferry.db'))).toBe(false);
  });

  it('shows each bad record with its number, line and field, exits 1; --limit; fail-file says nothing would be queued', async () => {
    const dir = tempDir();
    const sample = path.join(dir, 'bad.csv');
    fs.writeFileSync(sample, Buffer.from('Rechnungsnr;Betrag;Kunde;Status\n1;1,00;A;OFFEN\n2;zwei;B;OFFEN\n3;3,00;C\n4;4,00;D;OFFEN\n5;5,00;E;OFFEN\n', 'latin1'));
    const r = await runCli(['preview', '--config', config(dir), '--flow', 'invoices', '--file', sample, '--limit', '1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('== after parse (csv): 3 records ==\n  #1 {"Rechnungsnr":"1","Betrag":1,"Kunde":"A","Status":"OFFEN"}\n  … 2 more');
    expect(r.stdout).toContain('== errors: 2 ==\n  bad.csv record 2 (line 3): field Betrag: expected a number (decimal comma), got "zwei"\n  bad.csv record 3 (line 4): field Status: expected 4 fields, got 3');
    const failFile = await runCli(['preview', '--config', config(dir, 'fail-file'), '--flow', 'invoices', '--file', sample]);
    expect(failFile.stdout).toContain('file failed: bad.csv record 2 (line 3): field Betrag: expected a number (decimal comma), got "zwei" (onRecordError: fail-file: nothing of this file would be queued)');
  });

  it('clear usage errors', async () => {
    const dir = tempDir();
    const file = config(dir);
    const noFlow = await runCli(['preview', '--config', file, '--flow', 'nope', '--file', 'x.csv']);
    expect(noFlow).toMatchObject({ code: 2, stderr: 'ferry: --flow: no flow named "nope" (flows: invoices, plain)\n' });
    const noProcess = await runCli(['preview', '--config', file, '--flow', 'plain', '--file', 'x.csv']);
    expect(noProcess).toMatchObject({ code: 2, stderr: 'ferry: flow plain has no process: steps to preview\n' });
    const noFile = await runCli(['preview', '--config', file, '--flow', 'invoices', '--file', path.join(dir, 'missing.csv')]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toBe(`ferry: --file: ${path.join(dir, 'missing.csv')} not found\n`);
  });
});
