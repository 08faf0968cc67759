"""Hostile and unusual HTTP on the API socket: every case ends in a 400 with a JSON body or a
closed connection, and the server keeps serving the next client."""
import json
import socket
import threading
import time

import pytest

from conftest import ApiVm

DROPPED = "\nAll previous unanswered requests will be dropped."


def connect(vm, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(vm.sock))
    return s


def read_responses(s, count=None):
    """Reads HTTP responses until count are complete or the peer closes: [(status, headers, body)]."""
    buf, out = b"", []
    while count is None or len(out) < count:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode()
            lines = head.split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = dict(l.split(": ", 1) for l in lines[1:])
            n = int(headers.get("Content-Length", "0"))
            if len(buf) >= head_end + 4 + n:
                body = buf[head_end + 4:head_end + 4 + n]
                out.append((status, headers, json.loads(body, strict=False) if n else None))
                buf = buf[head_end + 4 + n:]
                continue
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
    return out


def exchange(vm, data, count=None):
    s = connect(vm)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return read_responses(s, count)
    finally:
        s.close()


def still_serving(vm):
    s = connect(vm)
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    (status, _, body), = read_responses(s, 1)
    s.close()
    assert status == 200 and body["state"] == "Not started"


def assert_parse_error(responses, text):
    assert len(responses) == 1, responses
    status, headers, body = responses[0]
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    # micro_http's shape: '{ "error": "..." }' with a raw newline in the string (hence
    # strict=False above), and keep-alive although brasa then closes (len == 1 above).
    assert headers["Connection"] == "keep-alive"
    assert body == {"error": text + DROPPED}


# ---- framing -----------------------------------------------------------------------------------

def test_keep_alive_and_pipelining(api):
    def put(method, path, body):
        return b"%s %s HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (method, path, len(body), body)

    reqs = (b"GET / HTTP/1.1\r\n\r\n"
            + put(b"PUT", b"/machine-config", b'{"vcpu_count": 2, "mem_size_mib": 256}')
            + put(b"PATCH", b"/machine-config", b'{"mem_size_mib": 0}')
            + b"GET /machine-config HTTP/1.1\r\n\r\n")
    s = connect(api)
    s.sendall(reqs)
    resps = read_responses(s, 4)
    assert [r[0] for r in resps] == [200, 204, 400, 200]
    assert resps[3][2]["vcpu_count"] == 2
    # The same connection keeps working afterwards.
    s.sendall(b"GET /version HTTP/1.1\r\n\r\n")
    assert read_responses(s, 1)[0][2] == {"firecracker_version": "1.16.1"}
    s.close()


def test_response_bytes_match_firecracker(api):
    s = connect(api)
    s.sendall(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 38\r\n\r\n"
              b'{"vcpu_count": 1, "mem_size_mib": 128}')
    assert s.recv(4096) == (b"HTTP/1.1 204 \r\nServer: Firecracker API\r\n"
                            b"Connection: keep-alive\r\n\r\n")
    s.close()


def test_byte_at_a_time(api):
    s = connect(api)
    for b in b"PUT /machine-config HTTP/1.1\r\nContent-Length: 38\r\n\r\n" \
             b'{"vcpu_count": 0, "mem_size_mib": 128}':
        s.send(bytes([b]))
    (status, _, body), = read_responses(s, 1)
    assert status == 400 and "number of vCPUs" in body["fault_message"]
    s.close()


def test_expect_100_continue(api):
    s = connect(api)
    s.sendall(b"PUT /mmds HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert s.recv(4096) == (b"HTTP/1.1 100 \r\nServer: Firecracker API\r\n"
                            b"Connection: keep-alive\r\n\r\n")
    s.sendall(b"{}")
    assert read_responses(s, 1)[0][0] == 204
    s.close()


def test_connection_close_header(api):
    resps = exchange(api, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert len(resps) == 1 and resps[0][1]["Connection"] == "close"


# ---- payload size ----------------------------------------------------------------------------

def test_oversized_body(api):
    resps = exchange(api, b"PUT /mmds HTTP/1.1\r\nContent-Length: 51201\r\n\r\n" + b"x" * 100)
    assert_parse_error(resps, "Request payload with size 51201 is larger than the limit of "
                              "51200 allowed by server.")
    still_serving(api)


def test_payload_limit_flag(tmp_path):
    vm = ApiVm(tmp_path, args=["--http-api-max-payload-size", "250"])
    resps = exchange(vm, b"PUT /mmds/config HTTP/1.1\r\nContent-Length: 260\r\n\r\nsome body")
    assert_parse_error(resps, "Request payload with size 260 is larger than the limit of 250 "
                              "allowed by server.")
    assert vm.put("/mmds", {"a": "b" * 200}).status == 204
    assert vm.stop() == 0


# ---- Content-Length ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [b"-1", b"abc", b"99999999999", b"4294967296", b"1 2", b"+5",
                                   b"0x10", b""])
def test_bad_content_length(api, value):
    resps = exchange(api, b"PUT /mmds HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n{}")
    assert len(resps) == 1 and resps[0][0] == 400
    assert resps[0][2]["error"].startswith("Invalid header. Reason: Invalid value. "
                                                   "Key:Content-Length;")
    still_serving(api)


def test_duplicate_content_length(api):
    resps = exchange(api, b"PUT /mmds HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                          b"\r\n{}")
    assert len(resps) == 1 and resps[0][0] == 400
    still_serving(api)


def test_missing_content_length(api):
    # The body is not a body without Content-Length: the PUT is empty, and the leftover
    # bytes are a malformed request line.
    resps = exchange(api, b"PUT /mmds HTTP/1.1\r\n\r\n{\"a\": 1}\r\n\r\n")
    assert [r[0] for r in resps] == [400, 400]
    assert resps[0][2] == {"fault_message": "Empty PUT request."}
    assert resps[1][2]["error"].startswith("Invalid request.")
    still_serving(api)


def test_chunked_is_refused(api):
    resps = exchange(api, b"PUT /mmds HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"
                          b"0\r\n\r\n")
    assert_parse_error(resps, "Invalid header. Reason: Unsupported feature. Key: "
                              "Transfer-Encoding; Value: chunked")


# ---- request lines and headers ------------------------------------------------------------------

@pytest.mark.parametrize("line,msg", [
    (b"GARBAGE\r\n\r\n", "Invalid request."),
    (b"GET\r\n\r\n", "Invalid request."),
    (b"BREW /pot HTTP/1.1\r\n\r\n", "Invalid HTTP Method: Unsupported HTTP method."),
    (b"get / HTTP/1.1\r\n\r\n", "Invalid HTTP Method: Unsupported HTTP method."),
    (b"GET / HTTP/2.0\r\n\r\n", "Invalid HTTP Version: Unsupported HTTP version."),
    (b"GET  HTTP/1.1\r\n\r\n", "Invalid URI: Empty URI not allowed."),
    (b"GET /\xff\xfe HTTP/1.1\r\n\r\n", "Invalid URI: Cannot parse URI as UTF-8."),
    (b"GET / HTTP/1.1\n\n", "Invalid request."),
    (b"GET / HTTP/1.1\r\nHost\x00: x\r\n\r\n", "Invalid request."),
    (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", "Invalid request."),
    (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 2000 + b"\r\n\r\n", "Invalid request."),
    (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
     "Invalid header. Reason: Header is incorrectly formatted. Key: no colon here"),
])
def test_bad_request_lines(api, line, msg):
    assert_parse_error(exchange(api, line), msg)
    still_serving(api)


def test_header_flood(api):
    flood = b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 10000 + b"\r\n"
    resps = exchange(api, flood)
    assert_parse_error(resps, "Invalid request. Too many headers.")
    still_serving(api)


def test_unknown_headers_are_ignored(api):
    resps = exchange(api, b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: x\r\n"
                          b"Accept: application/json\r\n\r\n", 1)
    assert resps[0][0] == 200


# ---- slow, stuck and vanishing clients ------------------------------------------------------------

def test_slowloris_does_not_block_others(api):
    slow = connect(api, timeout=30)
    slow.sendall(b"PUT /machine-config HTTP/1.1\r\nContent-Len")
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            try:
                slow.send(b"g")
            except OSError:
                return
            time.sleep(0.5)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        for _ in range(5):
            still_serving(api)  # served at once while the slow client dribbles
        # The slow client is dropped once its request has taken too long (10 s), with a 400
        # or a plain close.
        slow.settimeout(30)
        data = b""
        while True:
            try:
                chunk = slow.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
        assert data == b"" or data.startswith(b"HTTP/1.1 400 ")
    finally:
        stop.set()
        t.join()
        slow.close()
    still_serving(api)


def test_client_vanishes_mid_request(api):
    for partial in (b"PUT /machine-config HTTP/1.1\r\nContent-Length: 38\r\n\r\n{\"vcpu",
                    b"GET / HT", b"PUT /mmds HTTP/1.1\r\nExpect: 100-continue\r\n"
                    b"Content-Length: 10\r\n\r\n"):
        s = connect(api)
        s.sendall(partial)
        s.close()
    still_serving(api)


def test_client_that_never_reads(api):
    s = connect(api)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = b"GET /vm/config HTTP/1.1\r\n\r\n" * 2000
    s.settimeout(5)
    try:
        s.sendall(req)
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading from us: that is the point
    still_serving(api)  # others are served while this client's answers back up
    s.close()
    still_serving(api)


def test_many_idle_connections(api):
    idle = [connect(api) for _ in range(40)]
    try:
        still_serving(api)  # the idlest connections make room
    finally:
        for s in idle:
            s.close()
    still_serving(api)


def test_socket_path_in_use(tmp_path, api):
    import subprocess
    from conftest import BRASA
    p = subprocess.run([str(BRASA), "--api-sock", str(api.sock)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=10)
    assert p.returncode == 1
    assert (f"Failed to open the API socket at: {api.sock}. Check that it is not already used."
            in p.stdout.decode())
    still_serving(api)
