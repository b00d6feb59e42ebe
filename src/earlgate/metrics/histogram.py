"""A cheap log-linear histogram for latencies recorded on every message.

Recording is a few integer operations (no lock, no float log): each octave of
nanoseconds [2^k, 2^(k+1)) is split into four equal sub-buckets, so a bucket is
at most 25% wide and a percentile read from it is within ~12% of the truth.
That is the precision the thesis's tables need (service time, loop lag) at a
cost the hub can pay per message. Pure: values in, numbers out.
"""

from __future__ import annotations

SUB_BUCKETS = 4  # per octave
_SUB_BITS = 2
_LINEAR = 8  # values below this get a bucket each
_SHIFT = _LINEAR.bit_length() - 1  # first octave split into sub-buckets (3)
MAX_OCTAVE = 40  # 2^40 ns ~ 18 minutes; longer values land in the last bucket
BUCKETS = _LINEAR + (MAX_OCTAVE - _SHIFT + 1) * SUB_BUCKETS


def bucket_of(ns: int) -> int:
    """The bucket index of a duration in nanoseconds."""
    if ns < _LINEAR:
        return max(ns, 0)
    octave = ns.bit_length() - 1
    if octave > MAX_OCTAVE:
        return BUCKETS - 1
    sub = (ns >> (octave - _SUB_BITS)) & (SUB_BUCKETS - 1)
    return _LINEAR + (octave - _SHIFT) * SUB_BUCKETS + sub


def bucket_bounds(index: int) -> tuple[int, int]:
    """The [low, high) nanoseconds of a bucket."""
    if index < _LINEAR:
        return index, index + 1
    octave, sub = divmod(index - _LINEAR, SUB_BUCKETS)
    octave += _SHIFT
    width = 1 << (octave - _SUB_BITS)
    low = (1 << octave) + sub * width
    return low, low + width


class Histogram:
    """Counts of durations per bucket, with their sum and maximum."""

    __slots__ = ("counts", "max_ns", "sum_ns", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.total = 0
        self.sum_ns = 0
        self.max_ns = 0

    def record(self, ns: int) -> None:
        self.counts[bucket_of(ns)] += 1
        self.total += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def merge(self, other: Histogram) -> None:
        counts = self.counts
        for index, count in enumerate(other.counts):
            if count:
                counts[index] += count
        self.total += other.total
        self.sum_ns += other.sum_ns
        self.max_ns = max(self.max_ns, other.max_ns)

    def percentile(self, fraction: float) -> float:
        """The value below which ``fraction`` of the samples lie, in nanoseconds.

        Interpolates linearly inside the bucket that holds the rank; 0 when empty.
        """
        if not self.total:
            return 0.0
        rank = fraction * self.total
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                low, high = bucket_bounds(index)
                high = min(high, self.max_ns + 1)
                low = min(low, high)
                return low + (high - low) * max(rank - seen, 0) / count
            seen += count
        return float(self.max_ns)

    def mean(self) -> float:
        return self.sum_ns / self.total if self.total else 0.0

    def cumulative(self, bounds_ns: list[int]) -> list[int]:
        """How many samples are below each bound (bounds must be bucket edges)."""
        result = []
        index = 0
        running = 0
        for bound in bounds_ns:
            while index < BUCKETS and bucket_bounds(index)[1] <= bound:
                running += self.counts[index]
                index += 1
            result.append(running)
        return result

    def summary_ms(self) -> dict[str, float]:
        """Mean, p50, p99 and max in milliseconds, for JSON."""
        return {
            "count": self.total,
            "mean": round(self.mean() / 1e6, 4),
            "p50": round(self.percentile(0.50) / 1e6, 4),
            "p99": round(self.percentile(0.99) / 1e6, 4),
            "max": round(self.max_ns / 1e6, 4),
        }


# Bucket edges used for Prometheus ``le`` labels: powers of two from ~1 us to ~17 s.
EXPOSED_BOUNDS_NS = [1 << k for k in range(10, 35)]
