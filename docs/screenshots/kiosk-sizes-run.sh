#!/bin/sh
# The kiosk in a real window at two screen shapes halls have (issue 24): an old
# 1024x768 office monitor and a panel mounted upright, 800x1280, both at the hall's
# zoom 1.5. Root. Stores first (prints DIR):
#   cargo test --test it layout::prepare_a_kiosk_for_screenshots -- --ignored --nocapture
# Then: sh docs/screenshots/kiosk-sizes-run.sh DIR
# For each shape the app runs on Xvfb in a network namespace with nothing but loopback,
# `import -window root` takes the home screen, xdotool taps the "Gửi câu hỏi" tab,
# then the "Hỏi đáp" card of the guided flow's first step, and types a name on the USB
# keyboard path (the name step's field takes it), and the ask screen is taken.
set -e
DIR=$1
BIN=${BIN:-target/debug/conglang}
OUTDIR=${OUTDIR:-docs/screenshots}
NS=cl-shot-sizes
ip netns add $NS
ip -n $NS link set lo up
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
# size, then where the "Gửi câu hỏi" tab and the "Hỏi đáp" card are (pixels)
for spec in "1024x768 ${TAB1:-430 40} ${CARD1:-176 380}" "800x1280 ${TAB2:-412 58} ${CARD2:-400 408}"; do
  set -- $spec
  SIZE=$1; TABX=$2; TABY=$3; CARDX=$4; CARDY=$5
  ip netns exec $NS Xvfb :97 -screen 0 ${SIZE}x24 >"$DIR/xvfb.log" 2>&1 &
  XVFB=$!
  sleep 1
  ip netns exec $NS env DISPLAY=:97 "$BIN" --config "$DIR/kiosk.toml" kiosk >"$DIR/app.log" 2>&1 &
  APP=$!
  sleep 5
  # No window manager here to honour full screen: the window is sized to the screen.
  W=${SIZE%x*}; H=${SIZE#*x}
  ip netns exec $NS env DISPLAY=:97 xdotool search --onlyvisible --name . windowmove 0 0 windowsize $W $H || true
  sleep 2
  ip netns exec $NS env DISPLAY=:97 import -window root "$OUTDIR/kiosk-home-$SIZE.png"
  ip netns exec $NS env DISPLAY=:97 xdotool mousemove $TABX $TABY click 1
  sleep 1
  ip netns exec $NS env DISPLAY=:97 import -window root "$OUTDIR/kiosk-kind-$SIZE.png"
  ip netns exec $NS env DISPLAY=:97 xdotool mousemove $CARDX $CARDY click 1
  sleep 1
  ip netns exec $NS env DISPLAY=:97 xdotool type --delay 80 "Hoang Van Pao"
  sleep 2
  ip netns exec $NS env DISPLAY=:97 import -window root "$OUTDIR/kiosk-ask-$SIZE.png"
  kill "$APP" "$XVFB"
  wait "$APP" "$XVFB" 2>/dev/null || true
done
ip netns del $NS
echo "screenshots: $OUTDIR/kiosk-{home,kind,ask}-{1024x768,800x1280}.png"
