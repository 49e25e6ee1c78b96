#!/bin/sh
# The courier's exchange screen in a real window (README, "The exchange screen"). Root.
# Stores first (prints their directory, DIR below):
#   cargo test --test it exchange::prepare_stores_for_the_courier_screenshot -- --ignored --nocapture
# Then: sh docs/screenshots/exchange-courier-run.sh DIR
# The app runs on Xvfb :98 (1280x800) in a network namespace of its own with nothing but
# loopback (no traffic leaves it), opens on the exchange screen (the courier's start
# screen), and `import -window root` takes the picture. Everything is stopped and the
# namespace deleted at the end.
set -e
DIR=$1
BIN=${BIN:-target/debug/conglang}
OUT=${OUT:-docs/screenshots/exchange-courier-1280x800.png}
ip netns add cl-shot-courier
ip -n cl-shot-courier link set lo up
cat > "$DIR/courier.toml" <<T
[node]
data_dir = "$DIR/courier"
role = "courier"
[network]
listen = "127.0.0.1:7300"
peers = []
mdns = false
[ui]
zoom = 1.5
fullscreen = false
T
ip netns exec cl-shot-courier Xvfb :98 -screen 0 1280x800x24 >"$DIR/xvfb.log" 2>&1 &
XVFB=$!
sleep 1
ip netns exec cl-shot-courier env DISPLAY=:98 "$BIN" --config "$DIR/courier.toml" kiosk >"$DIR/app.log" 2>&1 &
APP=$!
sleep 6
ip netns exec cl-shot-courier env DISPLAY=:98 import -window root "$OUT"
kill "$APP" "$XVFB"
wait "$APP" "$XVFB" 2>/dev/null || true
ip netns del cl-shot-courier
echo "screenshot: $OUT"
