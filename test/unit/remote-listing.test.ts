// Recorded directory listings of real servers (IIS, vsftpd, ProFTPD LIST and MLSD, a legacy DOS-style
// server) parse into the entries the FTP source works with; remote paths never escape their folder.
import fs from 'node:fs';
import path from 'node:path';
import { parseList } from 'basic-ftp';
import { describe, expect, it } from 'vitest';
import { formatFingerprint, normaliseFingerprint, parseListTime, toEntry } from '../../connectors/ftp/client.ts';
import { remoteContained } from '../../connectors/remote/paths.ts';
import { hostKeyFingerprint } from '../../connectors/sftp/client.ts';
import { ftpSourceSchema } from '../../connectors/ftp/schema.ts';
import { sftpSourceSchema } from '../../connectors/sftp/schema.ts';
import { repoRoot } from '../helpers/cli.ts';

const fixture = (name: string) => fs.readFileSync(path.join(repoRoot, 'connectors/ftp/fixtures', name), 'latin1');
const entries = (name: string) => parseList(fixture(name)).map(toEntry);
const byName = (list: ReturnType<typeof entries>) => new Map(list.map((e) => [e.name, e]));
// listings without a year are read relative to "now": pin it
const NOW = Date.UTC(2026, 10, 29, 21, 0);

describe('recorded FTP listings', () => {
  it('IIS (DOS format, 4-digit years)', () => {
    const m = byName(entries('iis.txt'));
    expect([...m.keys()]).toEqual(['archive', 'orders_20261129.xml', 'empty.txt', 'big file with spaces.csv', '..\\..\\escape.xml']);
    expect(m.get('archive')!.type).toBe('dir');
    expect(m.get('orders_20261129.xml')).toMatchObject({ type: 'file', size: 1024, mtimeMs: Date.UTC(2026, 10, 29, 20, 45) });
    expect(m.get('empty.txt')).toMatchObject({ type: 'file', size: 0 });
    expect(m.get('big file with spaces.csv')).toMatchObject({ size: 52428800, mtimeMs: Date.UTC(2025, 0, 5, 0, 0) });
  });

  it('vsftpd (Unix LIST: recent times, older dates, symlinks, spaces in names)', () => {
    const list = parseList(fixture('vsftpd.txt')).map((f) => ({ ...toEntry(f), mtimeMs: parseListTime(f.rawModifiedAt, NOW) ?? 0 }));
    const m = byName(list);
    expect(m.get('orders_1.xml')).toMatchObject({ type: 'file', size: 2048, mtimeMs: Date.UTC(2026, 10, 29, 20, 45), rawTime: 'Nov 29 20:45' });
    expect(m.get('archive')!.type).toBe('dir');
    expect(m.get('old-export.csv')).toMatchObject({ size: 10485760, mtimeMs: Date.UTC(2025, 2, 3) });
    expect(m.get('latest')!.type).toBe('other'); // a symlink is not taken
    expect(m.get('name with  two spaces.txt')).toMatchObject({ type: 'file', size: 512 });
  });

  it('ProFTPD LIST (dot entries dropped, hidden files kept, leap day)', () => {
    const m = byName(entries('proftpd-list.txt'));
    expect([...m.keys()].sort()).toEqual(['.hidden', 'incoming', 'leap.csv', 'report.pdf']);
    expect(m.get('leap.csv')).toMatchObject({ type: 'file', size: 123456, mtimeMs: Date.UTC(2024, 1, 29) });
    expect(m.get('incoming')!.type).toBe('dir');
  });

  it('ProFTPD MLSD (exact times, fractions of seconds, cdir/pdir dropped)', () => {
    const m = byName(entries('proftpd-mlsd.txt'));
    expect([...m.keys()].sort()).toEqual(['incoming', 'latest', 'leap.csv', 'report.pdf']);
    expect(m.get('report.pdf')).toMatchObject({ type: 'file', size: 4096, mtimeMs: Date.UTC(2026, 10, 29, 20, 45, 12) });
    expect(m.get('leap.csv')!.mtimeMs).toBe(Date.UTC(2024, 1, 29, 12, 0, 0, 250));
    expect(m.get('latest')!.type).toBe('other');
  });

  it('legacy DOS-style server (2-digit years across 2000)', () => {
    const m = byName(entries('legacy-dos.txt'));
    expect(m.get('licensed')!.type).toBe('dir');
    expect(m.get('readme.htm')).toMatchObject({ type: 'file', size: 589, mtimeMs: Date.UTC(2000, 3, 14, 15, 47) });
    expect(m.get('Y2K.DAT')!.mtimeMs).toBe(Date.UTC(1999, 11, 31, 23, 59));
    expect(m.get('NEWYEAR.TXT')!.mtimeMs).toBe(Date.UTC(2000, 0, 1, 0, 0));
  });

  it('LIST times: a date without a year is never in the future, unreadable ones are undefined', () => {
    expect(parseListTime('Dec 31 23:00', NOW)).toBe(Date.UTC(2025, 11, 31, 23, 0));
    expect(parseListTime('Nov 29 20:45', NOW)).toBe(Date.UTC(2026, 10, 29, 20, 45));
    expect(parseListTime('11-29-26  08:45PM')).toBe(Date.UTC(2026, 10, 29, 20, 45));
    expect(parseListTime('11-29-26  12:10AM')).toBe(Date.UTC(2026, 10, 29, 0, 10));
    expect(parseListTime('yesterday')).toBeUndefined();
  });

  it('an unknown listing format is refused with a clear error', () => {
    expect(() => parseList('+i8388621.48594,m825718503,r,s280,\tdjb.html\r\n')).toThrow(/only supports MLSD, Unix- or DOS-style/);
  });
});

describe('remote paths and pins', () => {
  it('traversal names and drive letters stay inside the target folder', () => {
    expect(remoteContained('/in/orders', '../../etc/passwd')).toBe('/in/orders/etc/passwd');
    expect(remoteContained('/in/orders', 'C:\\Windows\\x.dll')).toBe('/in/orders/Windows/x.dll');
    expect(remoteContained('/in/orders/', '/abs/x.xml')).toBe('/in/orders/abs/x.xml');
    expect(remoteContained('/', 'a/../../b')).toBe('/a/b');
    expect(() => remoteContained('/in', '../..')).toThrow(/unusable file name/);
  });

  it('fingerprints: formats are normalised, host keys print like ssh-keygen', () => {
    const hex = 'AB'.repeat(32);
    expect(normaliseFingerprint(`SHA256:${hex.match(/../g)!.join(':').toLowerCase()}`)).toBe(hex);
    expect(formatFingerprint(hex)).toBe(`SHA256:${hex.match(/../g)!.join(':')}`);
    expect(hostKeyFingerprint(Buffer.from('key'))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('config: relative remote paths, bad fingerprints and bad host keys are refused with their key', () => {
    const base = { host: 'h', username: 'u', password: 'p' };
    const r1 = ftpSourceSchema.safeParse({ ...base, path: 'outgoing' });
    expect(r1.success).toBe(false);
    expect(JSON.stringify(r1.error!.issues)).toMatch(/absolute remote path/);
    const r2 = ftpSourceSchema.safeParse({ ...base, path: '/out', tls: 'explicit', tlsFingerprint: 'abc' });
    expect(r2.error!.issues[0].path).toEqual(['tlsFingerprint']);
    const r3 = sftpSourceSchema.safeParse({ ...base, path: '/out', hostKey: 'MD5:aa:bb' });
    expect(r3.error!.issues[0].path).toEqual(['hostKey']);
    const ok = ftpSourceSchema.parse({ ...base, path: '/out' });
    expect(ok).toMatchObject({ tls: 'none', maxConnections: 2, settleMs: 5000, recursive: false, afterDelivery: { action: 'keep' } });
  });
});
