#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on a fresh Debian machine.
# Idempotent: does nothing when everything is already there.
#   python3            the spec-only Python client (tests/python) and clients/python (in a venv)
#   nodejs, npm        clients/js and its tests (the machine's Node 20 when it has one)
#   chromium, chromium-driver  headless Chromium and its WebDriver, for clients/js's browser test
#                              and erpc-center's dashboard test (erpc-center/tests/dashboard.rs)
#   protobuf-compiler  protoc, for etcd-client's generated code (erpc-center's etcd registry)
#   etcd-server        a real etcd the etcd tests start on free loopback ports
#   zookeeperd         a real ZooKeeper (and Java) the ZooKeeper tests start the same way
#   iproute2           `ip netns`/veth, for the partition test's second host
#   nats-server        a real NATS server (JetStream) the erpc-queue tests start on free ports
#   rabbitmq-server    a real RabbitMQ (and Erlang) the erpc-queue tests start the same way
#   prometheus         a real Prometheus (and promtool) that erpc-telemetry's tests start to scrape /metrics
set -euo pipefail

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
{ command -v ip || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; } >/dev/null 2>&1 || need_apt+=(iproute2)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need_apt+=(rabbitmq-server)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need_apt+=(prometheus)
{ [ -r /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1; } || need_apt+=(zookeeperd)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
  # The packages start a system etcd, ZooKeeper, NATS, RabbitMQ and Prometheus where systemd runs; the
  # tests start their own.
  for service in etcd zookeeper nats-server rabbitmq-server prometheus prometheus-node-exporter; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
      $SUDO systemctl stop "$service" || true
    fi
  done
fi
