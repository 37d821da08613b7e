import hdr from 'hdr-histogram-js';

// Latency histograms: each child records into its own, sends it encoded
// (HdrHistogram's compressed base64 form, as autocannon's workers do), and the
// coordinator adds them up, so percentiles are exact over all processes.

/** Unit of every recorded value. */
export const HISTOGRAM_UNIT = 'microseconds';

/** A histogram from 1 µs up, three significant digits, growing as needed. */
export function newHistogram(): hdr.Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(histogram: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/** Adds every encoded histogram into one. */
export function mergeHistograms(encoded: readonly string[]): hdr.Histogram {
  const total = newHistogram();
  for (const text of encoded) total.add(hdr.decodeFromCompressedBase64(text, 32));
  return total;
}

/** Latency figures in milliseconds, as the summary shows them. */
export interface LatencyMs {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** The summary figures of a histogram of microseconds, or null when it is empty. */
export function latencyMs(histogram: hdr.Histogram): LatencyMs | null {
  if (histogram.totalCount === 0) return null;
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    min: ms(histogram.minNonZeroValue),
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  };
}
