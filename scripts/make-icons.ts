// Draws Ferry's icons (no image tools needed): `node bin/run-ts.js scripts/make-icons.ts`.
//   build/icon.png (512), build/icon.ico (16–256)          app icon for electron-builder
//   assets/tray/<state>.ico (16, 32)                        Windows tray, coloured by state
//   assets/tray/<state>.png (32)                            Linux tray
//   assets/tray/<state>Template.png, …Template@2x.png       macOS menu-bar template images (black + alpha)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
type RGBA = [number, number, number, number];
/** Paints one point (u, v in 0..1); returns a colour or null (transparent). Later layers win. */
type Layer = (u: number, v: number) => RGBA | null;

const hex = (h: string, a = 255): RGBA => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16), a];

function raster(size: number, layers: Layer[], ss = 4): Buffer {
  const px = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const u = (x + (sx + 0.5) / ss) / size;
          const v = (y + (sy + 0.5) / ss) / size;
          let c: RGBA | null = null;
          for (const l of layers) c = l(u, v) ?? c;
          if (c) {
            const al = c[3] / 255;
            r += c[0] * al; g += c[1] * al; b += c[2] * al; a += al;
          }
        }
      }
      const n = ss * ss;
      const i = (y * size + x) * 4;
      px[i] = a ? Math.round(r / a) : 0;
      px[i + 1] = a ? Math.round(g / a) : 0;
      px[i + 2] = a ? Math.round(b / a) : 0;
      px[i + 3] = Math.round((a / n) * 255);
    }
  }
  return px;
}

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
const crc32 = (buf: Buffer) => {
  let c = -1;
  for (const byte of buf) c = CRC[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
};
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
export function png(size: number, rgba: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}
/** An .ico holding PNG images (Windows Vista and later read PNG entries). */
export function ico(images: Array<{ size: number; png: Buffer }>): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(images.length, 4);
  let offset = 6 + 16 * images.length;
  const dir = images.map(({ size, png: data }) => {
    const e = Buffer.alloc(16);
    e[0] = size >= 256 ? 0 : size;
    e[1] = size >= 256 ? 0 : size;
    e.writeUInt16LE(1, 4); // planes
    e.writeUInt16LE(32, 6); // bits per pixel
    e.writeUInt32LE(data.length, 8);
    e.writeUInt32LE(offset, 12);
    offset += data.length;
    return e;
  });
  return Buffer.concat([header, ...dir, ...images.map((i) => i.png)]);
}

// ---- shapes (u, v in 0..1, y down)
const circle = (cx: number, cy: number, r: number, c: RGBA): Layer => (u, v) => ((u - cx) ** 2 + (v - cy) ** 2 <= r * r ? c : null);
const roundRect = (x0: number, y0: number, x1: number, y1: number, rad: number, c: RGBA): Layer => (u, v) => {
  const dx = Math.max(x0 + rad - u, 0, u - (x1 - rad));
  const dy = Math.max(y0 + rad - v, 0, v - (y1 - rad));
  return u >= x0 && u <= x1 && v >= y0 && v <= y1 && dx * dx + dy * dy <= rad * rad ? c : null;
};
const poly = (pts: Array<[number, number]>, c: RGBA): Layer => (u, v) => {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i];
    const [xj, yj] = pts[j];
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside ? c : null;
};
const wave = (y: number, amp: number, thick: number, x0: number, x1: number, c: RGBA): Layer => (u, v) => {
  if (u < x0 || u > x1) return null;
  const w = y + amp * Math.sin(((u - x0) / (x1 - x0)) * Math.PI * 4);
  return Math.abs(v - w) <= thick / 2 ? c : null;
};

/** A ferry: hull, cabin and a wave, inside the box (x0, y0)–(x1, y1). */
function boat(x0: number, y0: number, x1: number, y1: number, c: RGBA, withWave = true): Layer[] {
  const w = x1 - x0, h = y1 - y0;
  const X = (f: number) => x0 + f * w, Y = (f: number) => y0 + f * h;
  return [
    poly([[X(0.02), Y(0.55)], [X(0.98), Y(0.55)], [X(0.82), Y(0.8)], [X(0.18), Y(0.8)]], c), // hull
    poly([[X(0.25), Y(0.55)], [X(0.25), Y(0.3)], [X(0.62), Y(0.3)], [X(0.75), Y(0.55)]], c), // cabin
    roundRect(X(0.36), Y(0.12), X(0.46), Y(0.3), 0.005, c), // funnel
    ...(withWave ? [wave(Y(0.93), h * 0.035, h * 0.07, X(0), X(1), c)] : []),
  ];
}

const STATES = { ok: '#1a7f37', syncing: '#0b5cad', attention: '#b7791f', error: '#c21f2e', paused: '#6e7781' } as const;
type State = keyof typeof STATES;
const white = hex('#ffffff');
const black = hex('#000000');
const clear: RGBA = [0, 0, 0, 0];

/** The state marker drawn top-right on template images (colour is not available there). */
function marker(state: State): Layer[] {
  switch (state) {
    case 'ok': return [];
    case 'syncing': return [circle(0.84, 0.16, 0.14, black)];
    case 'attention': return [poly([[0.84, 0.0], [1.0, 0.3], [0.68, 0.3]], black)];
    case 'error': return [(u, v) => (Math.abs((u - 0.84) - (v - 0.16)) < 0.07 || Math.abs((u - 0.84) + (v - 0.16)) < 0.07) && Math.abs(u - 0.84) < 0.15 && Math.abs(v - 0.16) < 0.15 ? black : null];
    case 'paused': return [roundRect(0.7, 0.02, 0.78, 0.3, 0.01, black), roundRect(0.88, 0.02, 0.96, 0.3, 0.01, black)];
  }
}
/** Keeps the boat clear of the marker. */
const cutout = (state: State): Layer => (u, v) => (state !== 'ok' && (u - 0.84) ** 2 + (v - 0.16) ** 2 < 0.22 ** 2 ? clear : null);

function write(rel: string, data: Buffer) {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  console.log(`${rel} (${data.length} bytes)`);
}

export function appIcon(size: number): Buffer {
  return png(size, raster(size, [roundRect(0.04, 0.04, 0.96, 0.96, 0.2, hex('#0b5cad')), ...boat(0.16, 0.2, 0.84, 0.8, white)], size > 64 ? 2 : 4));
}
export function colourTray(state: State, size: number): Buffer {
  return png(size, raster(size, [circle(0.5, 0.5, 0.5, hex(STATES[state])), ...boat(0.18, 0.2, 0.82, 0.78, white, size >= 24)]));
}
export function templateTray(state: State, size: number): Buffer {
  return png(size, raster(size, [...boat(0.0, 0.12, state === 'ok' ? 1 : 0.86, 0.98, black), cutout(state), ...marker(state)]));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  write('build/icon.png', appIcon(512));
  write('build/icon.ico', ico([16, 24, 32, 48, 64, 128, 256].map((s) => ({ size: s, png: appIcon(s) }))));
  for (const state of Object.keys(STATES) as State[]) {
    write(`assets/tray/${state}.ico`, ico([16, 20, 24, 32].map((s) => ({ size: s, png: colourTray(state, s) }))));
    write(`assets/tray/${state}.png`, colourTray(state, 32));
    write(`assets/tray/${state}Template.png`, templateTray(state, 16));
    write(`assets/tray/${state}Template@2x.png`, templateTray(state, 32));
  }
}
