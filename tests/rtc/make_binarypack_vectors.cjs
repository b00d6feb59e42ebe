// Produces tests/rtc/binarypack_vectors.json with the real JavaScript BinaryPack
// (npm peerjs-js-binarypack, as used by peerjs 1.5.x) and peerjs's own chunker.
//
//   npm install --prefix /tmp/bp peerjs@1.5.5 peerjs-js-binarypack@2.1.0
//   NODE_PATH=/tmp/bp/node_modules node tests/rtc/make_binarypack_vectors.cjs \
//       > tests/rtc/binarypack_vectors.json
//
// Values are written as descriptors that both this script and the Python test
// turn into values: plain JSON, {"$bytes": hex}, {"$repeat_str": [s, n]},
// {"$repeat_bytes": [byte, n]}, {"$range": n}, {"$int16le": [..]},
// {"$undefined": true}. Outputs over 256 bytes are kept as length + sha256.
"use strict";

const crypto = require("node:crypto");
const { pack, unpack } = require("peerjs-js-binarypack");
const { util } = require("peerjs");

function materialize(d) {
	if (Array.isArray(d)) return d.map(materialize);
	if (d === null || typeof d !== "object") return d;
	if ("$bytes" in d) return Uint8Array.from(Buffer.from(d.$bytes, "hex"));
	if ("$repeat_str" in d) return d.$repeat_str[0].repeat(d.$repeat_str[1]);
	if ("$repeat_bytes" in d) return new Uint8Array(d.$repeat_bytes[1]).fill(d.$repeat_bytes[0]);
	if ("$range" in d) return Array.from({ length: d.$range }, (_, i) => i);
	if ("$int16le" in d) return Int16Array.from(d.$int16le);
	if ("$undefined" in d) return undefined;
	const out = {};
	for (const key of Object.keys(d)) out[key] = materialize(d[key]);
	return out;
}

function describe(v) {
	if (v === undefined) return { $undefined: true };
	if (v instanceof ArrayBuffer) return { $bytes: Buffer.from(v).toString("hex") };
	if (Array.isArray(v)) return v.map(describe);
	if (v !== null && typeof v === "object") {
		const out = {};
		for (const key of Object.keys(v)) out[key] = describe(v[key]);
		return out;
	}
	return v;
}

function bytesOut(buffer) {
	const b = Buffer.from(buffer);
	if (b.length <= 256) return b.toString("hex");
	return {
		len: b.length,
		head: b.subarray(0, 16).toString("hex"),
		sha256: crypto.createHash("sha256").update(b).digest("hex"),
	};
}

const many = (n) => {
	const o = {};
	for (let i = 0; i < n; i++) o[`k${i}`] = i;
	return o;
};

const packCases = [
	// integers: every width the packer picks, at both ends
	["zero", 0],
	["fixint max", 127],
	["uint8 min", 128],
	["uint8 max", 255],
	["uint16 min", 256],
	["uint16 max", 65535],
	["uint32 min", 65536],
	["uint32 max", 4294967295],
	["int64 for 2**32", 4294967296],
	["int64 max safe", 9007199254740991],
	["negative fixint -1", -1],
	["negative fixint min", -32],
	["int8 -33", -33],
	["int8 min", -128],
	["int16 -129", -129],
	["int16 min", -32768],
	["int32 -32769", -32769],
	["int32 min", -2147483648],
	["int64 -2**31-1", -2147483649],
	["int64 min safe", -9007199254740991],
	// doubles (the JS packer always writes float64)
	["half", 0.5],
	["minus half", -0.5],
	["one and a half", 1.5],
	["pi", 3.141592653589793],
	["tenth", 0.1],
	["small negative", -2.5e-5],
	["tiny", 1.2345e-300],
	["large non-integer", 123456789.125],
	// other scalars
	["null", null],
	["undefined", { $undefined: true }],
	["true", true],
	["false", false],
	// UTF-8 strings
	["empty string", ""],
	["one char", "a"],
	["fixstr max", "abcdefghijklmno"],
	["str16 min", "abcdefghijklmnop"],
	["accents", "héllo wörld"],
	["cjk", "日本語のテキスト"],
	["emoji", "😀 peer 🚀"],
	["str16 max", { $repeat_str: ["x", 65535] }],
	["str32 min", { $repeat_str: ["x", 65536] }],
	["40 KB string", { $repeat_str: ["0123456789", 4000] }],
	// bytes
	["empty bytes", { $bytes: "" }],
	["one byte", { $bytes: "ff" }],
	["fixraw max", { $bytes: "000102030405060708090a0b0c0d0e" }],
	["raw16 min", { $bytes: "000102030405060708090a0b0c0d0e0f" }],
	["raw16 max", { $repeat_bytes: [7, 65535] }],
	["raw32 min", { $repeat_bytes: [7, 65536] }],
	["typed array view", { $int16le: [1, -1, 300] }],
	// arrays
	["empty array", []],
	["small array", [1, "two", null, true, 2.5]],
	["fixarray max", { $range: 15 }],
	["array16 min", { $range: 16 }],
	["array16 of 1000", { $range: 1000 }],
	// maps (JS orders integer-like keys first)
	["empty map", {}],
	["small map", { a: 1, b: "two" }],
	["integer-like keys", { b: 1, 2: "two", a: [3] }],
	["fixmap max", many(15)],
	["map16 min", many(16)],
	["nested", { x: { y: [1, { z: null }] }, bytes: { $bytes: "00ff" } }],
	// PeerJS control message: close({flush: true})
	["peerjs close", { __peerData: { type: "close" } }],
	[
		"peerjs chunk shape",
		{ __peerData: 1, n: 0, data: { $bytes: "c3" }, total: 1 },
	],
];

const decodeCases = [
	["float32 pi", "ca40490fdb"],
	["float32 negative", "cac0200000"],
	["uint64", "cf0000000100000000"],
	["int64 -1", "d3ffffffffffffffff"],
	["undefined c1", "c1"],
	["reserved d4", "d4"],
	["float64 double", "cb400921fb54442d18"],
	["nested", "82b178c0b17991a16f"],
	["map of bytes", "81b161a2abcd"],
	["array32", "dd000000020102"],
	["map32", "df00000001b16101"],
	["bytes as map key", "81a161c3"],
	["str32", "d900000002c3a9"],
	["raw32", "db00000002abcd"],
];

const out = { generator: "peerjs-js-binarypack 2.1.0, peerjs 1.5.5 util.chunk", pack: [], unpack: [], chunk: [] };

for (const [name, descriptor] of packCases) {
	out.pack.push({ name, value: descriptor, packed: bytesOut(pack(materialize(descriptor))) });
}
for (const [name, hex] of decodeCases) {
	const bytes = Uint8Array.from(Buffer.from(hex, "hex"));
	out.unpack.push({ name, hex, value: describe(unpack(bytes.buffer)) });
}

// peerjs BinaryPack._send: values packed over chunkedMTU bytes are chunked, and
// every chunk is packed on its own. util is the real BinaryPackChunker.
const chunkCases = [
	["exactly chunkedMTU", { $repeat_bytes: [1, util.chunkedMTU - 3] }],
	["40 KB string", { $repeat_str: ["0123456789", 4000] }],
	["byte array 100000", { $repeat_bytes: [9, 100000] }],
];
for (const [name, descriptor] of chunkCases) {
	const blob = pack(materialize(descriptor));
	const frames =
		blob.byteLength > util.chunkedMTU
			? util.chunk(blob).map((chunk) => bytesOut(pack(chunk)))
			: [bytesOut(blob)];
	out.chunk.push({ name, value: descriptor, packed_len: blob.byteLength, frames });
}

process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
