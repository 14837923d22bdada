// Libraries only some configs use (JSONata, cron, character sets, MIME types) are loaded on first use, not at
// start: a `ferry run` whose flows need none of them holds none of them; one whose flows use them loads them.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeConfig } from '../helpers/cli.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { cleanUpAfterEach, ferry, sink } from '../helpers/flows.ts';

cleanUpAfterEach();

const OPTIONAL = ['jsonata', 'cron-parser', 'node-cron', 'iconv-lite', 'mime-types'];

/** A preload that writes, at exit, which of the optional packages the process had loaded. */
function loadedPackagesProbe(dir: string): { env: NodeJS.ProcessEnv; read(): string[] } {
  const out = path.join(dir, 'loaded.json');
  const probe = path.join(dir, 'probe.cjs');
  fs.writeFileSync(
    probe,
    `const names = ${JSON.stringify(OPTIONAL)};
process.on('exit', () => {
  const files = Object.keys(require.cache);
  require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(names.filter((n) => files.some((f) => f.includes('/node_modules/' + n + '/')))));
});
`,
  );
  return {
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${probe}`.trim() },
    read: () => JSON.parse(fs.readFileSync(out, 'utf8')) as string[],
  };
}

describe('optional libraries', () => {
  it('a folder → folder flow loads none of them; a scheduled, mapped, re-encoded flow to HTTP loads each', async () => {
    const plain = tempDir();
    fs.mkdirSync(path.join(plain, 'in'));
    const plainProbe = loadedPackagesProbe(plain);
    const plainCfg = writeConfig(plain, {
      dataDir: './data',
      integrations: [{ name: 'files', flows: [{ name: 'copy', source: { type: 'folder', path: './in', settleMs: 50 }, destination: { type: 'folder', path: './out' } }] }],
    });
    const a = await ferry(plainCfg, { env: plainProbe.env });
    fs.writeFileSync(path.join(plain, 'in', 'a.txt'), 'hello');
    await waitFor(() => fs.existsSync(path.join(plain, 'out', 'a.txt')), 'the file delivered to ./out');
    expect(await a.stop()).toBe(0);
    expect(plainProbe.read()).toEqual([]);

    // the same check sees each of them when a config uses them (it is not blind)
    const s = await sink();
    const used = tempDir();
    fs.mkdirSync(path.join(used, 'in'));
    const usedProbe = loadedPackagesProbe(used);
    const usedCfg = writeConfig(used, {
      dataDir: './data',
      integrations: [
        {
          name: 'crm',
          flows: [
            {
              name: 'invoices',
              source: { type: 'folder', path: './in', settleMs: 50 },
              trigger: { schedule: '* * * * * *' },
              destination: { type: 'http', url: `${s.url}/invoices` },
              process: [{ parse: { format: 'csv', header: true, encoding: 'windows-1252' } }, { map: '{ "id": No, "name": Name }' }, { format: { format: 'json' } }],
            },
          ],
        },
      ],
    });
    const b = await ferry(usedCfg, { env: usedProbe.env });
    fs.writeFileSync(path.join(used, 'in', 'orders.csv'), Buffer.from('No,Name\n1,Caf\xe9\n', 'latin1'));
    await waitFor(() => s.received.length > 0, 'the mapped record at the sink');
    expect(JSON.parse(s.received[0].body.toString('utf8'))).toEqual([{ id: '1', name: 'Caf\u00e9' }]); // decoded from windows-1252
    expect(await b.stop()).toBe(0);
    expect(usedProbe.read().sort()).toEqual([...OPTIONAL].sort());
  });
});
