// Which files a source takes: include/exclude globs, temp names, ready markers, recursion and depth, and the
// archive folder when it lies inside the watched one. The same rules serve listings and change events.
import path from 'node:path';
import picomatch from 'picomatch';

export interface RuleOptions {
  include: string[];
  exclude: string[];
  /** Names (globs on the file name) of files still being written: never taken. */
  tempNames?: string[];
  recursive: boolean;
  /** Sub-folder levels below the root to look into (undefined: no limit). */
  depth?: number;
  /** e.g. "{name}.done": a file is complete once this marker exists next to it. */
  readyMarker?: string;
  /** The archive folder relative to the root ("/"-separated; "" = the root itself) when it lies inside it. */
  ignoredDir?: string;
}

const posix = path.posix;

/**
 * The include most flows keep, `**\/*`, as picomatch reads it (dot: false): every file whose path has no part
 * starting with ".". Said without a regular expression, which a listing would run on each of a million paths.
 */
export const EVERY_FILE = '**/*';
export const everyVisibleFile = (rel: string): boolean => rel.charCodeAt(0) !== 46 && !rel.includes('/.');

export class FileRules {
  private readonly opts: RuleOptions;
  private readonly isIncluded: (rel: string) => boolean;
  private readonly isExcluded: (rel: string) => boolean;
  private readonly isTemp: (name: string) => boolean;
  private readonly isMarkerName?: (name: string) => boolean;
  private readonly markerParts?: [string, string];

  constructor(opts: RuleOptions) {
    this.opts = opts;
    this.isIncluded = opts.include.length === 1 && opts.include[0] === EVERY_FILE ? everyVisibleFile : picomatch(opts.include, { dot: false });
    this.isExcluded = opts.exclude.length ? picomatch(opts.exclude, { dot: true }) : () => false;
    this.isTemp = opts.tempNames?.length ? picomatch(opts.tempNames, { dot: true }) : () => false;
    if (opts.readyMarker) {
      this.isMarkerName = picomatch(opts.readyMarker.replace('{name}', '*'), { dot: true });
      const [pre, post] = opts.readyMarker.split('{name}');
      this.markerParts = [pre, post];
    }
  }

  get readyMarker(): string | undefined {
    return this.opts.readyMarker;
  }

  /** Inside the archive folder (never taken from). */
  private archived(rel: string): boolean {
    const dir = this.opts.ignoredDir;
    return dir !== undefined && (dir === '' || rel === dir || rel.startsWith(`${dir}/`));
  }

  /** Within recursion and depth (levels counted without splitting: a listing asks this of every file). */
  private withinDepth(rel: string): boolean {
    if (!this.opts.recursive) return !rel.includes('/');
    const depth = this.opts.depth;
    if (depth === undefined) return true;
    let levels = 0;
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) if (++levels > depth) return false;
    return true;
  }

  /** A file (relative, "/"-separated) this source takes once it is complete. */
  wants(rel: string): boolean {
    if (this.archived(rel) || !this.withinDepth(rel)) return false;
    if (this.opts.tempNames?.length || this.isMarkerName) {
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      if (this.isTemp(name) || this.isMarkerName?.(name)) return false;
    }
    return this.isIncluded(rel) && !this.isExcluded(rel);
  }

  /** A ready marker (of any file). */
  isMarker(rel: string): boolean {
    return this.isMarkerName !== undefined && !this.archived(rel) && this.withinDepth(rel) && this.isMarkerName(posix.basename(rel));
  }

  /** Worth a closer look in a listing or on an event: a wanted file or a marker. */
  matters(rel: string): boolean {
    return this.wants(rel) || this.isMarker(rel);
  }

  /** A sub-folder to look into. */
  descend(relDir: string): boolean {
    return relDir === '' || (this.opts.recursive && !this.archived(relDir) && (this.opts.depth === undefined || relDir.split('/').length <= this.opts.depth));
  }

  /** The marker that makes `rel` complete. */
  markerOf(rel: string): string {
    const dir = posix.dirname(rel);
    const name = this.opts.readyMarker!.replace('{name}', posix.basename(rel));
    return dir === '.' ? name : `${dir}/${name}`;
  }

  /** The file a marker stands for. */
  fileOfMarker(markerRel: string): string {
    const [pre, post] = this.markerParts!;
    const name = posix.basename(markerRel);
    return posix.join(posix.dirname(markerRel), name.slice(pre.length, name.length - post.length));
  }
}
