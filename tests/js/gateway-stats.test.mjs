// The gateway page's counters (web/gateway/stats.js): the log-linear histogram
// of earlgate.metrics.histogram in microseconds, rates, the stats() summary.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BUCKETS, Histogram, RateMeter, RouteStats, bucketBounds, bucketOf, routeSummary } from "../../src/earlgate/web/gateway/stats.js";

test("every value lands in the bucket whose bounds hold it", () => {
  for (const us of [0, 1, 7, 8, 9, 15, 16, 100, 1023, 1024, 1025, 123456, 2 ** 30, 2 ** 36 - 1]) {
    const [low, high] = bucketBounds(bucketOf(us));
    assert.ok(low <= us && us < high, `${us} in [${low}, ${high})`);
    assert.ok(high - low <= Math.max(1, low / 4), "a bucket is at most 25% wide");
  }
  assert.equal(bucketOf(2 ** 60), BUCKETS - 1);
  assert.equal(bucketOf(-5), 0);
});

test("percentiles are within the bucket precision", () => {
  const histogram = new Histogram();
  for (let i = 1; i <= 1000; i++) histogram.recordMs(i / 10); // 0.1 .. 100 ms
  const p50 = histogram.percentileMs(0.5);
  const p99 = histogram.percentileMs(0.99);
  assert.ok(Math.abs(p50 - 50) / 50 < 0.13, `p50 ${p50}`);
  assert.ok(Math.abs(p99 - 99) / 99 < 0.13, `p99 ${p99}`);
  const summary = histogram.summaryMs();
  assert.equal(summary.count, 1000);
  assert.equal(summary.max, 100);
  assert.ok(Math.abs(summary.mean - 50.05) < 1e-9);
  assert.equal(new Histogram().percentileMs(0.99), 0);
  histogram.reset();
  assert.equal(histogram.summaryMs().count, 0);
});

test("a rate over the last seconds of samples", () => {
  const meter = new RateMeter(5000);
  assert.equal(meter.rate(), 0);
  meter.sample(0, 0);
  meter.sample(1000, 40);
  assert.equal(meter.rate(), 40);
  for (let t = 2000; t <= 10_000; t += 1000) meter.sample(t, 40 + (t / 1000 - 1) * 4);
  assert.equal(meter.rate(), 4); // the last 5 s, not the burst at the start
});

test("a route's summary has the contract's keys", () => {
  const stats = new RouteStats("forward#1");
  stats.messagesIn = 3;
  stats.handedOver(100, 1.5);
  stats.handedOver(50, 2.5);
  stats.dropped.add("queue_full", 2);
  const summary = routeSummary(stats);
  assert.equal(summary.messages, 2);
  assert.equal(summary.bytes, 150);
  assert.equal(summary.dropped, 2);
  assert.deepEqual(summary.dropped_by, { queue_full: 2 });
  assert.equal(summary.in, 3);
  assert.ok(summary.latency_ms.p50 > 1 && summary.latency_ms.p99 <= 2.5);
  assert.equal(summary.kind, "forward");
  assert.deepEqual(JSON.parse(JSON.stringify(summary)), summary, "plain JSON");
});
