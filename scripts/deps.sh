#!/usr/bin/env bash
# Installs the system packages that `make test` needs and that are missing.
# Debian/Ubuntu only; needs root (CI and the dev machines run as root).
set -euo pipefail
# Commands the tests run, each with the Debian package that provides it.
# Add a line when a test starts to need a new tool.
declare -A need=(
	[sipp]=sip-tester # black-box SIP tests in test/sipp
	[redis-server]=redis-server # location Redis store tests
)
missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root or install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
