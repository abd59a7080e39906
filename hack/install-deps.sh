#!/usr/bin/env bash
# Installs the Debian packages barelb's tests and lab need, when missing.
set -euo pipefail
need=()
for pair in ip:iproute2 make:make git:git; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages ${need[*]}: install them as root (apt-get install ${need[*]})" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
