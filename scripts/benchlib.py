"""What the benchmark scripts share: free loopback ports, waiting for a
listener, and the descriptor limit raised to its hard cap."""
import resource
import socket
import time


_given_ports = set()


def free_port():
    """A free port on 127.0.0.1 not handed out before in this run: the
    kernel may return the port it just released twice in a row."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def wait_port(port, proc=None, what="bench"):
    """Until 127.0.0.1:<port> accepts, at most 30 s; fails the run if it
    never does or if <proc> exits first."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: {proc.args[0]} exited")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what}: port {port} never opened")


def more_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
