// A digest of one folder's listing as a reader that stats its files sees it (a local folder, a share): each
// wanted file's name, size, time (mtimeMs whole, sub-millisecond part included: about 0.25 µs resolution, as
// the memo of a taken file compares it) and identity, and the names of the sub-folders the walk goes into.
// Two readings give the same digest only when they show the same entries, whatever order the folder hands
// them in: each entry is hashed on its own (two 32-bit lanes, mixed as cyrb53 does) and the hashes are
// summed, so no sort and no buffer of the folder is needed. A changed entry leaves both sums unchanged with a
// chance of about 2^-64; the counts of files and folders are part of the digest too.
// Clean-listing records (clean-listings.ts) compare it: a folder whose digest is the one it had when every file
// in it was found taken needs no memo looked up.

const TWO_32 = 4294967296;

export class ListingDigest {
  private a = 0;
  private b = 0;
  private files = 0;
  private dirs = 0;

  /** Wanted files added so far. */
  get fileCount(): number {
    return this.files;
  }

  file(name: string, size: number, mtimeMs: number, ino: number): void {
    const ms = Math.floor(mtimeMs);
    // the part below a millisecond, in nanoseconds (what a time rewritten within the same millisecond changes)
    const ns = Math.round((mtimeMs - ms) * 1e6);
    this.add(name, 1, size % TWO_32, Math.floor(size / TWO_32), ms % TWO_32, Math.floor(ms / TWO_32), ns, ino % TWO_32, Math.floor(ino / TWO_32));
    this.files++;
  }

  dir(name: string): void {
    this.add(name, 2, 0, 0, 0, 0, 0, 0, 0);
    this.dirs++;
  }

  /** The digest: counts and the two sums. */
  value(): string {
    return `${this.files}.${this.dirs}.${this.a.toString(36)}.${this.b.toString(36)}`;
  }

  private add(name: string, kind: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number, w6: number): void {
    let h1 = 0xdeadbeef ^ kind;
    let h2 = 0x41c6ce57 ^ kind;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    // a separator, so a name's last characters never read as the numbers' first
    h1 = Math.imul(h1 ^ 0x2f, 2654435761);
    h2 = Math.imul(h2 ^ 0x2f, 1597334677);
    // the numbers one by one (no array per entry: a round digests a million of them)
    h1 = Math.imul(h1 ^ w0, 2654435761);
    h2 = Math.imul(h2 ^ w0, 1597334677);
    h1 = Math.imul(h1 ^ w1, 2654435761);
    h2 = Math.imul(h2 ^ w1, 1597334677);
    h1 = Math.imul(h1 ^ w2, 2654435761);
    h2 = Math.imul(h2 ^ w2, 1597334677);
    h1 = Math.imul(h1 ^ w3, 2654435761);
    h2 = Math.imul(h2 ^ w3, 1597334677);
    h1 = Math.imul(h1 ^ w4, 2654435761);
    h2 = Math.imul(h2 ^ w4, 1597334677);
    h1 = Math.imul(h1 ^ w5, 2654435761);
    h2 = Math.imul(h2 ^ w5, 1597334677);
    h1 = Math.imul(h1 ^ w6, 2654435761);
    h2 = Math.imul(h2 ^ w6, 1597334677);
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    this.a = (this.a + (h1 >>> 0)) % TWO_32;
    this.b = (this.b + (h2 >>> 0)) % TWO_32;
  }
}
