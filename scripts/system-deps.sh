#!/usr/bin/env bash
# Install the real servers the tests and `make run` use, when they are missing.
# As root we install them with apt-get (one `apt-get update` first); otherwise we
# print exactly what to install and fail.
set -euo pipefail

# command -> Debian package. Extend this table when a feature needs a new program.
declare -A NEEDED=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [haproxy]=haproxy
  [node]=nodejs        # the real Node PeerServer and peerjs in the WebRTC interop tests
  [npm]=npm
  [chromium]=chromium  # the browser of the peerjs interop tests (driven by Playwright)
  [turnserver]=coturn  # the TURN relay of the WebRTC tests
  [mosquitto_pub]=mosquitto-clients  # the MQTT clients of the hub's MQTT tests
  [mosquitto_sub]=mosquitto-clients
  [mosquitto]=mosquitto  # the broker `earlgate bench mqtt` compares the hub with (/usr/sbin)
)

missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "earlgate needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
