#!/bin/sh
# The exchange screen in a real window during a real transfer (README, "The exchange
# screen"). Root. Stores first:
#   CONGLANG_SHOT_DIR=/tmp/xshot cargo test --test it \
#     exchange::prepare_stores_for_the_exchange_screenshot -- --ignored
# Office and kiosk app in two namespaces joined by a veth cable shaped to 300 kbit/s;
# the app on Xvfb :99 (1280x800) in the kiosk's namespace. Then, during the transfer:
#   ip netns exec cl-shot-b env DISPLAY=:99 import -window root shot.png
# Clean up: kill the three processes (pids in /tmp/xshot/*.pid), then
#   ip netns del cl-shot-a; ip netns del cl-shot-b
set -e
BIN=${BIN:-target/debug/conglang}
ip netns add cl-shot-a; ip netns add cl-shot-b
ip link add clshota type veth peer name clshotb
ip link set clshota netns cl-shot-a; ip link set clshotb netns cl-shot-b
ip -n cl-shot-a addr add 10.231.0.1/24 dev clshota; ip -n cl-shot-b addr add 10.231.0.2/24 dev clshotb
for n in a b; do ip -n cl-shot-$n link set lo up; ip -n cl-shot-$n link set clshot$n up
  ip netns exec cl-shot-$n tc qdisc add dev clshot$n root tbf rate 300kbit burst 16kbit latency 500ms; done
OFFICE=$($BIN --data /tmp/xshot/office id)
cat > /tmp/xshot/kiosk.toml <<T
[node]
data_dir = "/tmp/xshot/kiosk"
role = "kiosk"
[network]
listen = "10.231.0.2:7300"
peers = ["$OFFICE@10.231.0.1:7300"]
mdns = false
[ui]
zoom = 1.5
fullscreen = false
read_urgent_aloud = false
T
ip netns exec cl-shot-b Xvfb :99 -screen 0 1280x800x24 >/tmp/xshot/xvfb.log 2>&1 &
echo $! > /tmp/xshot/xvfb.pid
sleep 1
ip netns exec cl-shot-b env DISPLAY=:99 $BIN --config /tmp/xshot/kiosk.toml kiosk >/tmp/xshot/kiosk.log 2>&1 &
echo $! > /tmp/xshot/kiosk.pid
sleep 5
ip netns exec cl-shot-b env DISPLAY=:99 xdotool mousemove 890 45 click 1
sleep 1
ip netns exec cl-shot-a $BIN --data /tmp/xshot/office serve --listen 10.231.0.1:7300 --no-mdns > /tmp/xshot/office.out 2> /tmp/xshot/office.log &
echo $! > /tmp/xshot/office.pid
