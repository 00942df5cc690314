# Starts a throwaway gateway on 127.0.0.1: the debug `syncgate` binary with the shipped schema and
# plugins and a SQLite file in a temporary directory, and stops it when the calling script exits.
# Sets GATEWAY_URL, GATEWAY_TOKEN (an ADMIN JWT) and GATEWAY_DIR. Source it from a bash script
# that has `set -euo pipefail`; EXTRA_CONFIG is appended to the config file, and SCHEMA_FILES
# (default: the shipped schemas/*.toml) are the schema files it serves.

GATEWAY_DIR=$(mktemp -d /tmp/syncgate-gw.XXXXXX)
gateway_pid=""
stop_gateway() { [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null; rm -rf "$GATEWAY_DIR"; }
trap stop_gateway EXIT
cp -r plugins "$GATEWAY_DIR/"
mkdir -p "$GATEWAY_DIR/schemas"
# shellcheck disable=SC2086
cp ${SCHEMA_FILES:-schemas/*.toml} "$GATEWAY_DIR/schemas/"
cat > "$GATEWAY_DIR/config.toml" <<CONFIG
[database]
url = "sqlite://syncgate.db"
[auth]
jwt_secret = "throwaway-secret-only-for-this-run"
[plugins]
watch = false
${EXTRA_CONFIG:-}
CONFIG
cargo build --locked --quiet --bin syncgate
gateway_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/debug/syncgate serve --config "$GATEWAY_DIR/config.toml" --listen "127.0.0.1:$gateway_port" \
  >"$GATEWAY_DIR/log" 2>&1 &
gateway_pid=$!
GATEWAY_URL="http://127.0.0.1:$gateway_port"
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('$GATEWAY_URL/ready')" 2>/dev/null && break
  sleep 0.1
done
GATEWAY_TOKEN=$(target/debug/syncgate token --config "$GATEWAY_DIR/config.toml" --sub checker --role ADMIN --ttl 1h)
