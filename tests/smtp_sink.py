"""An SMTP server on loopback for the accounts tests and benchmark (Python's aiosmtpd).

Usage: python3 tests/smtp_sink.py PORT DIR [--starttls|--implicit CERT KEY]

Each message is written to DIR/<ns>.eml, where <ns> is when its DATA ended (CLOCK_REALTIME,
nanoseconds), through a temporary name, so a reader never sees half a message; a first
header `X-Sink-Tls: yes|no` says whether the session was encrypted. With `--starttls` the
server offers STARTTLS (and refuses mail before it), with `--implicit` it speaks TLS from the
first byte, both with the certificate CERT and key KEY. Prints "ready" once it accepts
connections.
"""
import pathlib
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)

    async def handle_DATA(self, server, session, envelope):
        t = time.time_ns()
        tmp = self.dir / f".{t}.tmp"
        encrypted = session.ssl or server.transport.get_extra_info("ssl_object") is not None
        tls = b"yes" if encrypted else b"no"
        tmp.write_bytes(b"X-Sink-Tls: " + tls + b"\r\n" + (envelope.original_content or envelope.content))
        tmp.rename(self.dir / f"{t}.eml")
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if len(sys.argv) == 6:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        if sys.argv[3] == "--starttls":
            kwargs = {"tls_context": ctx, "require_starttls": True}
        else:
            kwargs = {"ssl_context": ctx}
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
