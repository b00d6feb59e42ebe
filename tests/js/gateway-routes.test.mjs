// The routes document in the browser (web/gateway/routes.js): the same rules and
// the same error texts as earlgate.gateway.routes, which the differential test
// below asks for each bad document (when the project's Python is there).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { RoutesError, fnmatch, loadsRoutes, parseRoutes, pyRepr } from "../../src/earlgate/web/gateway/routes.js";

const EXAMPLE = `
[[forward]]
from = "arm-1"
to = ["arm-2", "arm-3"]

[[forward]]
from = "arm-*"
to = "arm-1"

[[mux]]
from = ["sensor-*", "arm-1"]
to = "cloud"
window = 0.5

[[demux]]
from = "cloud"
to = "spare"

[[bridge]]
peer = "thermo-*"
publish = "sensors/{peer}"
subscribe = "commands/{peer}/#"
`;

test("the example document: what applies to whom", () => {
  const routes = loadsRoutes(EXAMPLE);
  const arm1 = routes.forSource("arm-1");
  assert.deepEqual(arm1.forwards.flatMap((f) => f.targets), ["arm-2", "arm-3"]); // never back to itself
  assert.deepEqual(arm1.muxInto.map((m) => [m.to, m.window]), [["cloud", 0.5]]);
  assert.deepEqual(routes.forSource("arm-7").forwards.flatMap((f) => f.targets), ["arm-1"]);
  assert.equal(routes.forSource("cloud").demux.name, "demux#1");
  assert.deepEqual(routes.forSource("cloud").demux.to, ["spare"]);
  const thermo = routes.forSource("thermo-2");
  assert.equal(thermo.publish, "sensors/thermo-2");
  assert.deepEqual(thermo.subscribe, [["commands/thermo-2/#", "bridge#1"]]);
  assert.deepEqual([...routes.namedDestinations()].sort(), ["arm-1", "arm-2", "arm-3", "cloud", "spare"]);
  assert.equal(routes.size, 5);
});

test("globs match as Python's fnmatch.fnmatchcase", () => {
  const cases = [
    ["arm-1", "arm-*", true],
    ["arm-", "arm-*", true],
    ["farm-1", "arm-*", false],
    ["a.b", "a?b", true],
    ["ab", "a?b", false],
    ["arm-3", "arm-[1-3]", true],
    ["arm-4", "arm-[!1-3]", true],
    ["arm-2", "arm-[!1-3]", false],
    ["a[b", "a[b", true],
    ["a(b)", "a(b)", true],
    ["x/y", "x*", true],
    ["ARM-1", "arm-*", false],
    ["a\nb", "a*b", true],
  ];
  for (const [name, pattern, expected] of cases) assert.equal(fnmatch(name, pattern), expected, `${name} ~ ${pattern}`);
});

const BAD = [
  "[[fly]]\nfrom='a'",
  "forward = 3",
  "[[forward]]\nto='b'",
  "[[forward]]\nfrom='a'",
  "[[forward]]\nfrom='a'\nto=[1]",
  "[[forward]]\nfrom=[]\nto='b'",
  "[[forward]]\nfrom=''\nto='b'",
  "[[forward]]\nfrom='a'\nto='b'\nvia='c'\nalso=1",
  "forward = [1]",
  "[[mux]]\nfrom='a'\nto=['b','c']",
  "[[mux]]\nfrom='a'\nto='b'\nwindow=0",
  "[[mux]]\nfrom='a'\nto='b'\nwindow=-1.5",
  "[[mux]]\nfrom='a'\nto='b'\nwindow=inf",
  "[[mux]]\nfrom='a'\nto='b'\nwindow=nan",
  "[[mux]]\nfrom='a'\nto='b'\nwindow='fast'",
  "[[mux]]\nfrom='a'\nto='b'\nwindow=true",
  "[[demux]]\nto='b'",
  "[[demux]]\nfrom='a'\nto=[true]",
  "[[bridge]]\npeer='a'",
  "[[bridge]]\npeer='a'\npublish='x/+/y'",
  "[[bridge]]\npeer='a'\nsubscribe='x/#/y'",
  "[[bridge]]\npeer='a'\npublish='$sys/{peer}'",
  "[[bridge]]\npeer='a'\npublish='a//{peer}'",
  "[[bridge]]\npeer='a'\npublish=7",
  "[[bridge]]\npeer='a'\nsubscribe='x/y+'",
  "[[forward]]\nfrom='a'\nto='b'\n[[forward]]\nfrom='a'\nto=[]",
];

test("every mistake is named: table, index, key", () => {
  const expected = {
    0: "unknown table(s) fly; expected forward, mux, demux, bridge",
    2: "[[forward]] #1.from: missing",
    7: "[[forward]] #1: unknown key(s) also, via",
    10: "[[mux]] #1.window: expected seconds > 0",
    25: "[[forward]] #2.to: name at least one destination",
  };
  for (const [index, message] of Object.entries(expected)) {
    assert.throws(() => loadsRoutes(BAD[index]), (e) => e instanceof RoutesError && e.message === message, BAD[index]);
  }
});

const PYTHON = new URL("../../.venv/bin/python", import.meta.url).pathname;

test("the same words as the Python loader, document by document", { skip: !existsSync(PYTHON) && "no .venv" }, () => {
  const script = `
import json, sys, tomllib
from earlgate.gateway.routes import RoutesError, parse_routes
out = []
for text in json.load(sys.stdin):
    try:
        parse_routes(tomllib.loads(text))
        out.append(None)
    except RoutesError as exc:
        out.append(str(exc))
print(json.dumps(out))`;
  const python = JSON.parse(execFileSync(PYTHON, ["-c", script], { input: JSON.stringify(BAD) }).toString());
  BAD.forEach((text, index) => {
    assert.ok(python[index], `Python accepts ${JSON.stringify(text)}`);
    assert.throws(() => loadsRoutes(text), (e) => e instanceof RoutesError && e.message === python[index], text);
  });
});

test("TOML that is not TOML says so, with where", () => {
  assert.throws(() => loadsRoutes("[[forward]\n"), /^RoutesError: not valid TOML: .*\(at line 1, column \d+\)$/);
  const deep = "x = " + "[".repeat(5000) + "]".repeat(5000);
  assert.throws(() => loadsRoutes(deep), { message: "not valid TOML: nested too deeply" });
  assert.throws(() => loadsRoutes(42), /not valid TOML/);
  assert.throws(() => parseRoutes(["forward"]), /expected a table of \[\[forward\]\], \[\[mux\]\]/);
  assert.throws(() => parseRoutes(null), /expected a table/);
  assert.throws(() => loadsRoutes("forward = [1979-05-27]"), { message: "[[forward]] #1: expected a table" });
});

test("an empty document is no routes, not an error", () => {
  assert.equal(loadsRoutes("").size, 0);
  assert.equal(loadsRoutes("# nothing\n").size, 0);
});

test("bridges refuse ids that would change their subjects", () => {
  const routes = parseRoutes({ bridge: [{ peer: "*", publish: "sensors/{peer}", subscribe: "all/#" }] });
  const plan = routes.forSource("a/b");
  assert.equal(plan.publish, null);
  assert.deepEqual(plan.subscribe, []);
  assert.equal(plan.refused.length, 1);
  assert.match(plan.refused[0].reason, /holds '\/'/);
  const long = routes.forSource("x".repeat(300));
  assert.match(long.refused[0].reason, /longer than 256 bytes/);
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr("a\nb"), "'a\\nb'");
});
