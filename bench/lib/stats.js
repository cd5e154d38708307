// Medians and ratios for the benchmark table.
export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Each round's variant over the same round's baseline, then the median: drift cancels per round. */
export function pairedRatio(variant, baseline) {
  const ratios = [];
  for (let i = 0; i < Math.min(variant.length, baseline.length); i++) {
    if (baseline[i] > 0 && Number.isFinite(variant[i])) ratios.push(variant[i] / baseline[i]);
  }
  return median(ratios);
}
