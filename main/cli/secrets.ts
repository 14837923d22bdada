// `ferry secret set|list|delete`: the data dir's encrypted secrets that configs name as ${secret:NAME}.
import type { Command } from 'commander';
import { assertSecretName, SecretError } from '../engine/secrets.ts';
import { err, out, table, UsageError } from './output.ts';
import { configOption, needConfig, secretStoreFor, type Act } from './options.ts';

/** Reads a secret's value: piped stdin (one trailing newline dropped), or a hidden prompt on a terminal. */
async function readSecretValue(name: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  process.stderr.write(`Value for ${name} (not shown): `);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new UsageError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

export function registerSecretCommands(program: Command, act: Act): void {
  const withStore = (opts: { config?: string }) => secretStoreFor(needConfig(opts));
  const secretErrors = (fn: () => number | Promise<number>) => async () => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof SecretError) throw new UsageError(e.message);
      throw e;
    }
  };

  const secret = program.command('secret').description('secrets for ${secret:NAME} in configs (encrypted in the data dir; see docs/secrets.md)');
  secret
    .command('set <name>')
    .description('store a secret; the value is read from stdin or a hidden prompt, never from the command line')
    .addOption(configOption())
    .action(async (name: string, opts: any) =>
      act(secretErrors(async () => {
        assertSecretName(name);
        const store = withStore(opts);
        const value = await readSecretValue(name);
        if (!value) throw new UsageError(`no value given for ${name} (pipe it in: printf %s "$VALUE" | ferry secret set ${name} --config …)`);
        store.set(name, value);
        out(`secret ${name} stored (${store.describeStorage()}); refer to it as \${secret:${name}}; a running Ferry picks it up on its next config change or restart`);
        return 0;
      }))(opts));
  secret
    .command('list')
    .description('list secret names (never values)')
    .addOption(configOption())
    .action(async (opts: any) =>
      act(secretErrors(() => {
        const store = withStore(opts);
        const list = store.list();
        if (list.length === 0) out('no secrets stored');
        else out(table([['NAME', 'UPDATED'], ...list.map((s) => [s.name, new Date(s.updatedAt).toISOString()])]));
        out(`storage: ${store.describeStorage()}`);
        return 0;
      }))(opts));
  secret
    .command('delete <name>')
    .description('delete a secret')
    .addOption(configOption())
    .action(async (name: string, opts: any) =>
      act(secretErrors(() => {
        const store = withStore(opts);
        if (!store.delete(name)) {
          err(`no secret named ${name}`);
          return 1;
        }
        out(`secret ${name} deleted`);
        return 0;
      }))(opts));
}
