// The browser's Earl profile codecs (src/earlgate/web/ble/profile/) against
// the vectors earlgate.ble.profile wrote (tests/ble/vectors/profile.json):
// the same bytes, the same decoded values, the same errors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as profile from "../../src/earlgate/web/ble/profile/index.js";

const vectors = JSON.parse(readFileSync(new URL("../ble/vectors/profile.json", import.meta.url), "utf8"));
const { ProfileError, fromHex, toHex } = profile;

const codecs = {
  reading: [profile.encodeReading, profile.decodeReading],
  info: [profile.encodeInfo, profile.decodeInfo],
  led: [profile.encodeLed, profile.decodeLed],
  status: [profile.encodeStatus, profile.decodeStatus],
};

/** A vector's JSON value as the JS codecs take it (clocks are decimal strings there). */
function input(kind, value) {
  if (kind !== "reading") return value;
  const clock = BigInt(value.clock_us);
  return { ...value, clock_us: clock <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(clock) : clock };
}

/** A decoded JS value as the vectors write it. */
function comparable(kind, decoded) {
  if (kind === "reading") return { ...decoded, clock_us: String(decoded.clock_us) };
  if (kind === "info") return { kind: decoded.kind, period_us: decoded.period_us, units: decoded.units };
  if (kind === "status") {
    const { applied, ...rest } = decoded;
    assert.equal(applied, decoded.result === "applied");
    return rest;
  }
  return decoded;
}

function check(kind, decode, vector) {
  const bytes = fromHex(vector.hex);
  if ("error" in vector) {
    assert.throws(() => decode(bytes), (error) => {
      assert.ok(error instanceof ProfileError, `${vector.hex}: ${error}`);
      assert.equal(error.message, vector.error, vector.hex);
      return true;
    });
  } else {
    assert.deepEqual(comparable(kind, decode(bytes)), vector.decoded, vector.hex);
  }
}

for (const [kind, [encode, decode]] of Object.entries(codecs)) {
  test(`${kind}: the same bytes as Python, and back`, () => {
    assert.ok(vectors[kind].valid.length > 3);
    for (const vector of vectors[kind].valid) {
      assert.equal(toHex(encode(input(kind, vector.value))), vector.hex, JSON.stringify(vector.value));
      check(kind, decode, vector);
    }
  });

  test(`${kind}: malformed bytes give Python's error, word for word`, () => {
    for (const vector of vectors[kind].bad_bytes) check(kind, decode, vector);
  });

  test(`${kind}: changed and random bytes decode or fail exactly as in Python`, () => {
    for (const vector of vectors[kind].random) check(kind, decode, vector);
  });

  test(`${kind}: values the layout cannot carry are refused, naming the field`, () => {
    for (const vector of vectors[kind].bad_values) {
      assert.throws(() => encode(input(kind, vector.value)), (error) => {
        assert.ok(error instanceof ProfileError, String(error));
        assert.ok(error.message.startsWith(`${kind}: `), error.message);
        assert.ok(error.message.includes(vector.names), `${error.message} lacks ${vector.names}`);
        return true;
      });
    }
  });
}

test("a decoder refuses what is not bytes with a ProfileError", () => {
  assert.throws(() => profile.decodeReading("0101"), ProfileError);
  assert.throws(() => profile.decodeStatus(null), ProfileError);
});

test("a DataView (what Web Bluetooth delivers) decodes like its bytes", () => {
  const bytes = fromHex(vectors.reading.valid[1].hex);
  const padded = new Uint8Array(bytes.length + 3);
  padded.set(bytes, 3);
  const dataView = new DataView(padded.buffer, 3, bytes.length);
  assert.deepEqual(profile.decodeReading(dataView), profile.decodeReading(bytes));
});

test("Python's round: halves go to the even integer", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6].map(profile.roundHalfEven), [0, 2, 2, -0, -2, -2, 2, 3]);
});
