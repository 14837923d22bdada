// A tiny inline SVG bar chart of counts per time bucket, with a text equivalent for screen readers.

export function Sparkline({ buckets, label, bucketMinutes }: { buckets: number[]; label: string; bucketMinutes: number }) {
  const max = Math.max(1, ...buckets);
  const total = buckets.reduce((a, b) => a + b, 0);
  const w = 120;
  const h = 28;
  const bw = w / buckets.length;
  return (
    <figure class="spark">
      <svg viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={`${label}: ${total} in the last hour`} preserveAspectRatio="none">
        <line x1="0" y1={h - 0.5} x2={w} y2={h - 0.5} class="spark-axis" />
        {buckets.map((n, i) =>
          n > 0 ? <rect key={i} x={i * bw + 0.5} width={Math.max(1, bw - 1)} y={h - (n / max) * (h - 2) - 1} height={(n / max) * (h - 2) + 1} class="spark-bar"><title>{`${n} in ${bucketMinutes} min`}</title></rect> : null,
        )}
      </svg>
      <figcaption>{total} delivered in the last hour</figcaption>
    </figure>
  );
}

/** Counts events at times `at` (ms) into `n` buckets ending now. */
export function bucketize(times: number[], now: number, n = 12, spanMs = 3_600_000): number[] {
  const out = new Array<number>(n).fill(0);
  const size = spanMs / n;
  for (const t of times) {
    const age = now - t;
    if (age < 0 || age >= spanMs) continue;
    out[n - 1 - Math.floor(age / size)]++;
  }
  return out;
}
