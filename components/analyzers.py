"""Analyzers for tf.Transform that give the same bits whatever Beam's batching and order.

Reproducibility. Beam hands the Transform its rows in batches whose sizes and order change
from run to run (bundles, worker processes, adaptive batching). Every value the Transform
computes must therefore be a function of the data alone, not of how it was batched, or two
runs on the same data train on different numbers (the trainers order rows by a hash of
their exact bits: pipelines/training.py):
- elementwise math must not depend on a value's position in its batch (`log1p`);
- analyzers must not depend on the order in which batches are combined. tft.mean/tft.var
  reduce each batch in float32 and merge the batches' moments in floating point, in Beam's
  order (seen: log1p of the bundled data's fares, batched six ways, gave two float32
  variances an ulp apart); tft.quantiles merges approximate sketches, whose answer depends
  on the merge order once the data outgrows the sketch (seen on 1e6 continuous values:
  all 9 boundaries of 10 buckets moved, by up to 1.5e-3). `exact_mean_and_var` and
  `exact_quantiles` compute the same statistics exactly, through tf.Transform's own
  extension point for Beam analyzers (tft.experimental.ptransform_analyzer), so any order
  gives the same bits.
"""

from fractions import Fraction

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

# A multiple of every SIMD packet Eigen evaluates float32 in (AVX-512: 16 lanes), times the
# 4 packets it unrolls.
_LANES = 64


def log1p(values: tf.Tensor) -> tf.Tensor:
    """tf.math.log1p with the same result for a value wherever it sits in its batch.

    Eigen evaluates an elementwise op in SIMD packets, and the last `size % packet`
    elements one at a time with the scalar libm function, which differs in the last bit
    for some values; a row's log1p then depends on where Beam's batching put it (seen: a
    few dozen of the bundled data's 15k rows an ulp apart between two runs, which reorders
    the trainers' canonical row order and so every batch). Padding the batch to whole packets sends every element
    down the packet path, whose lanes are computed independently."""
    size = tf.size(values)
    padded = tf.pad(values, [[0, tf.math.floormod(-size, _LANES)]])
    return tf.math.log1p(padded)[:size]


# float32 x = m * 2**(e - 24) with an integer |m| < 2**24 and e >= -148, so x * 2**_SHIFT is a
# whole number for every finite float32 (subnormals included).
_SHIFT = 24 + 149
_CHUNK = 1 << 20  # float64 sums of < 2**25 integers stay exact for 2**28 of them


def _exact_moments(values: np.ndarray) -> tuple[int, int, int]:
    """(count, sum * 2**_SHIFT, sum of squares * 2**(2 * _SHIFT)) of the finite values, as
    exact Python integers: they add up in any order to the same numbers."""
    x = np.asarray(values, np.float32).reshape(-1)
    x = x[np.isfinite(x)]
    count, total, squares = int(x.size), 0, 0
    for start in range(0, x.size, _CHUNK):
        fraction, exponent = np.frexp(x[start:start + _CHUNK])
        m = (fraction.astype(np.float64) * (1 << 24)).astype(np.int64)  # exact: 24 bits
        shift = exponent.astype(np.int64) + (_SHIFT - 24)  # x = m * 2**(shift - _SHIFT), shift >= 1
        a = np.abs(m)
        hi, lo = (a >> 12).astype(np.float64), (a & 0xFFF).astype(np.float64)
        bins = int(shift.max()) + 1
        # per exponent: sum of m, and of m**2 = hi**2 * 2**24 + 2 hi lo * 2**12 + lo**2
        sums = [np.bincount(shift, weights=w, minlength=bins)
                for w in (m.astype(np.float64), hi * hi, 2 * hi * lo, lo * lo)]
        for s in np.flatnonzero(np.bincount(shift, minlength=bins)):
            s = int(s)
            total += int(sums[0][s]) << s
            squares += ((int(sums[1][s]) << 24) + (int(sums[2][s]) << 12) + int(sums[3][s])) << (2 * s)
    return count, total, squares


class _ExactMeanAndVar(beam.CombineFn):
    """[mean, variance] (biased, as tft.var) of the finite values, as float32: from exact
    integer sums, so the same in any order. Memory: three integers of a few hundred bits."""

    def create_accumulator(self):
        return 0, 0, 0

    def add_input(self, accumulator, batch):
        return tuple(a + b for a, b in zip(accumulator, _exact_moments(batch[0]), strict=True))

    def merge_accumulators(self, accumulators):
        return tuple(sum(parts) for parts in zip(*accumulators, strict=True))

    def extract_output(self, accumulator):
        count, total, squares = accumulator
        if not count:
            return np.zeros(2, np.float32)  # as tft.mean/var of no values
        mean = Fraction(total, count << _SHIFT)
        var = Fraction(count * squares - total * total, (count * count) << (2 * _SHIFT))
        return np.array([float(mean), float(var)], np.float32)  # each correctly rounded to float64 first


def _merge_counts(parts: list) -> tuple[np.ndarray, np.ndarray]:
    """[(values, counts), ...] -> (distinct values ascending, their total counts)."""
    values = np.concatenate([v for v, _ in parts]) if parts else np.zeros(0, np.float32)
    counts = np.concatenate([c for _, c in parts]) if parts else np.zeros(0, np.int64)
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    if not values.size:
        return values, counts
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    return values[starts], np.add.reduceat(counts, starts)


def _quantile_boundaries(values: np.ndarray, counts: np.ndarray, num_buckets: int) -> np.ndarray:
    """The num_buckets - 1 inner boundaries of an exact weighted summary, by the rank
    queries tfx_bsl's sketch makes (WeightedQuantilesSummary::GenerateQuantiles): the same
    boundaries tft.quantiles gives while its sketch still holds every value."""
    if not values.size:
        return np.zeros(num_buckets - 1, np.float32)  # as tft.quantiles of no values
    max_rank = np.cumsum(counts).astype(np.float64)
    min_rank = max_rank - counts
    middle, total, n = min_rank + max_rank, max_rank[-1], len(values)
    out, current = [], 0
    for rank in range(num_buckets + 1):
        d_2 = 2 * (rank * total / num_buckets)
        following = max(current + 1, int(np.searchsorted(middle, d_2, side="right")))
        current = following - 1
        if following == n or d_2 < max_rank[current] + min_rank[following]:
            out.append(values[current])
        else:
            out.append(values[following])
    return np.array(out[1:-1], np.float32)


class _ExactQuantiles(beam.CombineFn):
    """Quantile bucket boundaries from the exact distribution: each distinct value with its
    count, merged in any order to the same table. Memory: 12 bytes per distinct value (a
    few hundred for taxi coordinates at any row count; at worst 120 MB for 1e7 distinct
    values), plus a buffer of recent batches that is folded in once it outgrows the table."""

    def __init__(self, num_buckets: int):
        self.num_buckets = num_buckets

    def create_accumulator(self):
        return []  # (values, counts) pairs; compacted into one when it grows

    def _compact(self, accumulator):
        if len(accumulator) > 1:
            accumulator[:] = [_merge_counts(accumulator)]
        return accumulator

    def add_input(self, accumulator, batch):
        x = np.asarray(batch[0], np.float32).reshape(-1)
        x = x[~np.isnan(x)] + np.float32(0.0)  # -0.0 -> 0.0: one zero, whatever came first
        accumulator.append(_merge_counts([(x, np.ones(x.size, np.int64))]))
        pending = sum(len(v) for v, _ in accumulator[1:])
        if pending > max(1 << 16, len(accumulator[0][0])):
            self._compact(accumulator)
        return accumulator

    def merge_accumulators(self, accumulators):
        return self._compact([part for accumulator in accumulators for part in accumulator])

    def compact(self, accumulator):
        return self._compact(accumulator)

    def extract_output(self, accumulator):
        values, counts = _merge_counts(accumulator)
        return _quantile_boundaries(values, counts, self.num_buckets).reshape(1, -1)


class _CombineBatches(beam.PTransform):
    """The batches of one analyzer input, combined globally by `fn` into one output."""

    def __init__(self, fn: beam.CombineFn):
        super().__init__()
        self.fn = fn

    def expand(self, batches):
        return batches | "Combine" >> beam.CombineGlobally(self.fn)


def exact_mean_and_var(values: tf.Tensor, name: str) -> tuple[tf.Tensor, tf.Tensor]:
    """tft.mean and tft.var of a [n] float32 tensor, the same for any batching and order."""
    (moments,) = tft.experimental.ptransform_analyzer(
        [values], _CombineBatches(_ExactMeanAndVar()), output_dtypes=[tf.float32], output_shapes=[[2]],
        name=f"exact_mean_and_var_{name}")
    return moments[0], moments[1]


def exact_quantiles(values: tf.Tensor, num_buckets: int, name: str) -> tf.Tensor:
    """tft.quantiles' [1, num_buckets - 1] boundaries of a [n] float32 tensor, exactly."""
    (boundaries,) = tft.experimental.ptransform_analyzer(
        [values], _CombineBatches(_ExactQuantiles(num_buckets)), output_dtypes=[tf.float32],
        output_shapes=[[1, num_buckets - 1]], name=f"exact_quantiles_{name}")
    return boundaries


