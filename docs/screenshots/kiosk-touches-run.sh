#!/bin/sh
# The touch count of issue 24 in a real window: the seed's question with a name
# ("Đinh Thị Nít", "Tôi cần công chứng giấy tờ, cần mang gì?"), from the home
# screen to the tracking code by the guided flow with the words offered, on the
# hall's 1280x800 screen at zoom 1.5. Root. Needs a debug build (cargo build).
#   sh docs/screenshots/kiosk-touches-run.sh
# 1. Stores: the commune of the layout test, kept on disk.
# 2. The touch plan: the flow walked by egui_kittest on a copy of the kiosk's store
#    with the same [ui], each touch written as the pixel at the centre of what it
#    taps (layout::touch_plan_for_a_real_window).
# 3. The app in a real window on Xvfb, in a network namespace with nothing but
#    loopback; xdotool taps each point of the plan, one touch each, and the screen
#    is taken after the last one: it shows the tracking code. The kiosk's store then
#    holds the request (conglang request list).
set -e
BIN=${BIN:-target/debug/conglang}
OUTDIR=${OUTDIR:-docs/screenshots}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/conglang-xdg}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
DIR=$(cargo test -q --test it layout::prepare_a_kiosk_for_screenshots -- --ignored --nocapture 2>/dev/null | sed -n 's/^DIR=//p')
cat > "$DIR/kiosk.toml" <<T
[node]
data_dir = "$DIR/kiosk"
role = "kiosk"
[network]
listen = "127.0.0.1:7301"
peers = []
mdns = false
[ui]
zoom = 1.5
fullscreen = true
T
CONGLANG_PLAN_DIR=$DIR cargo test -q --test it layout::touch_plan_for_a_real_window -- --ignored --nocapture | grep touches
NS=cl-shot-touch
ip netns add $NS
ip -n $NS link set lo up
ip netns exec $NS Xvfb :96 -screen 0 1280x800x24 >"$DIR/xvfb.log" 2>&1 &
XVFB=$!
sleep 1
ip netns exec $NS env DISPLAY=:96 "$BIN" --config "$DIR/kiosk.toml" kiosk >"$DIR/app.log" 2>&1 &
APP=$!
sleep 5
ip netns exec $NS env DISPLAY=:96 xdotool search --onlyvisible --name . windowmove 0 0 windowsize 1280 800 || true
sleep 2
N=0
while read -r X Y LABEL; do
  ip netns exec $NS env DISPLAY=:96 xdotool mousemove "$X" "$Y" click 1
  N=$((N + 1))
  sleep 0.4
done < "$DIR/touches.txt"
sleep 2
ip netns exec $NS env DISPLAY=:96 import -window root "$OUTDIR/kiosk-touches-1280x800.png"
kill "$APP" "$XVFB"
wait "$APP" "$XVFB" 2>/dev/null || true
ip netns del $NS
echo "$N touches; screen after the last: $OUTDIR/kiosk-touches-1280x800.png"
"$BIN" --config "$DIR/kiosk.toml" request list
