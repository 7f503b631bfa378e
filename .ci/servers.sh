# Starts the storage servers the backend tests run against, on free loopback ports:
# S3 (moto, from PyPI, in a venv under target/) and WebDAV (rclone, from Debian).
# Source it from bash; it exports CAIRN_TEST_S3_* and CAIRN_TEST_WEBDAV_* and stops both
# servers when the sourcing shell exits. Installing takes about a minute on a fresh machine,
# a second or two afterwards.

CI_SERVERS_DIR=target/ci-servers
CI_SERVER_PIDS=()

ci_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ci_wait_http PID SECONDS WANT_CODE CURL_ARGS...: polls until the server answers WANT_CODE;
# gives up at the deadline or as soon as the server process is gone.
ci_wait_http() {
    local pid=$1 deadline=$((SECONDS + $2)) want=$3
    shift 3
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@")" = "$want" ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.1
    done
}

ci_stop_servers() {
    local pid
    for pid in "${CI_SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CI_SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    CI_SERVER_PIDS=()
}
trap ci_stop_servers EXIT

ci_install_servers() {
    if [ ! -e target/ci-moto/.installed ]; then
        echo "installing moto (S3 server) into target/ci-moto"
        rm -rf target/ci-moto
        python3 -m venv target/ci-moto
        target/ci-moto/bin/pip install -q 'moto[server]==5.*'
        touch target/ci-moto/.installed
    fi
    if ! command -v rclone >/dev/null; then
        echo "installing rclone (WebDAV server) from Debian"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q rclone >/dev/null
    fi
}

ci_start_servers() {
    rm -rf "$CI_SERVERS_DIR"
    mkdir -p "$CI_SERVERS_DIR/dav"
    local s3_port dav_port
    s3_port=$(ci_free_port)
    target/ci-moto/bin/moto_server -H 127.0.0.1 -p "$s3_port" >"$CI_SERVERS_DIR/moto.log" 2>&1 &
    local moto_pid=$!
    CI_SERVER_PIDS+=("$moto_pid")
    dav_port=$(ci_free_port)
    rclone serve webdav "$CI_SERVERS_DIR/dav" --addr "127.0.0.1:$dav_port" --config /dev/null \
        --user cairn --pass cairn-test >"$CI_SERVERS_DIR/rclone.log" 2>&1 &
    local dav_pid=$!
    CI_SERVER_PIDS+=("$dav_pid")
    if ! ci_wait_http "$moto_pid" 60 200 "http://127.0.0.1:$s3_port/moto-api/"; then
        cat "$CI_SERVERS_DIR/moto.log"
        return 1
    fi
    if ! ci_wait_http "$dav_pid" 30 207 -u cairn:cairn-test -X PROPFIND -H 'Depth: 0' "http://127.0.0.1:$dav_port/"; then
        cat "$CI_SERVERS_DIR/rclone.log"
        return 1
    fi
    # moto does not check signatures, but objects need some Authorization header.
    curl -fsS -o /dev/null --aws-sigv4 'aws:amz:us-east-1:s3' -u testing:testing -X PUT \
        "http://127.0.0.1:$s3_port/cairn-test"
    export CAIRN_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" CAIRN_TEST_S3_BUCKET=cairn-test \
        CAIRN_TEST_S3_REGION=us-east-1 CAIRN_TEST_S3_ACCESS_KEY_ID=testing \
        CAIRN_TEST_S3_SECRET_ACCESS_KEY=testing \
        CAIRN_TEST_WEBDAV_ENDPOINT="http://127.0.0.1:$dav_port" CAIRN_TEST_WEBDAV_USERNAME=cairn \
        CAIRN_TEST_WEBDAV_PASSWORD=cairn-test
    echo "S3 (moto) on port $s3_port, WebDAV (rclone) on port $dav_port"
}
