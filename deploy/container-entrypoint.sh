#!/bin/sh
# Container entrypoint of hue-intake: turns secret files into configuration, then runs
# `hue-intake "$@"`.
#
# The gateway reads secrets from its environment (HUE_INTAKE__SECTION__KEY). Secrets mounted
# as files (compose or Kubernetes secrets) are named after the variable they set: a file
# /run/secrets/HUE_INTAKE__PRIVACY__SEAL_KEY becomes $HUE_INTAKE__PRIVACY__SEAL_KEY, its
# content without the trailing newline. HUE_INTAKE_SECRETS_DIR moves the directory. Values
# are never printed.
set -eu
dir="${HUE_INTAKE_SECRETS_DIR:-/run/secrets}"
for file in "$dir"/HUE_INTAKE__*; do
    [ -f "$file" ] || continue
    name="${file##*/}"
    case "$name" in
        *[!A-Za-z0-9_]*) echo "hue-intake-entrypoint: ignoring $file: not a variable name" >&2; continue ;;
    esac
    value="$(cat "$file")"
    export "$name=$value"
done
exec "${HUE_INTAKE_BIN:-/usr/local/bin/hue-intake}" "$@"
